"""Daily spend series from the allocation: per team, model, GPU model and instance, kept in
``daily_spend`` so the app and the detector read a small table instead of the allocation.

Each allocation row's cost lands on its ``day`` (a row without one on the month's first day) in
the reporting currency, once in each of the four dimensions, so every dimension of a period sums
to its allocation exactly. Cost is ``Decimal(38, 9)`` dollars (the reporting currency), rounded
once per day and series from the converted allocation sums.

``usage_cost`` is the part of ``cost`` that accrues with the days of use (usage charges of a
usage cost type, :func:`~gpuledger.engine.chargeback.live.run_rate_charge`): what the anomaly
detector watches. Tax, credits, refunds, purchases and commitment fees come once a month, so a
baseline of a few weeks would take them for a spike on the day they are dated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

import polars as pl

from gpuledger.columns import UNALLOCATED, UNLABELLED
from gpuledger.config import Settings
from gpuledger.engine.chargeback.live import fx_rates, run_rate_charge
from gpuledger.period import Period
from gpuledger.schema import Alloc, Daily
from gpuledger.store.delta import Store

__all__ = [
    "DETECTED",
    "DIMENSIONS",
    "NO_GPU",
    "NO_RESOURCE",
    "SERIES",
    "SERIES_MONEY",
    "baseline_months",
    "baseline_start",
    "daily_series",
    "refresh_daily_series",
    "series_rows",
]

DIMENSIONS: Final = ("team", "model", "gpu", "instance")
SERIES: Final = (Daily.dimension, Daily.key, Daily.team)  # what names one series
SERIES_MONEY: Final = pl.Decimal(38, 9)
NO_GPU: Final = "(no GPU)"  # the GPU series of rows without a GPU model (storage, tax, network)
NO_RESOURCE: Final = "(no resource)"  # the instance series of rows without a resource id
DETECTED: Final = Daily.usage_cost  # the spend the detector watches (module docstring)
_COLUMNS: Final = (Daily.day, Daily.dimension, Daily.key, Daily.team, Daily.cost, Daily.usage_cost)
# The allocation grain the dimensions are summed from, and the column each dimension keys on.
_GRAIN: Final = (Alloc.day, Alloc.team, Alloc.model, Alloc.x_GpuModel, Alloc.ResourceId)
_KEY_OF: Final = {
    "team": Alloc.team,
    "model": Alloc.model,
    "gpu": Alloc.x_GpuModel,
    "instance": Alloc.ResourceId,
}


def series_rows(
    allocation: pl.LazyFrame, rates: Mapping[str, Decimal], period: str
) -> pl.LazyFrame:
    """The daily series of one period's allocation rows: columns ``day, dimension, key, team,
    cost`` (see the module docstring), converted with ``rates`` (currency → reporting)."""
    first_day = Period.parse(period).start.date()
    rate = pl.col(Alloc.currency).replace_strict(dict(rates), return_dtype=SERIES_MONEY)
    grained = (
        allocation.with_columns(
            pl.col(Alloc.day).fill_null(first_day),
            pl.col(Alloc.team).fill_null(UNALLOCATED),
            pl.col(Alloc.model).fill_null(UNLABELLED),
            pl.col(Alloc.x_GpuModel).fill_null(NO_GPU),
            pl.col(Alloc.ResourceId).fill_null(NO_RESOURCE),
        )
        .with_columns(
            pl.when(run_rate_charge()).then(Alloc.cost).otherwise(0).alias(Daily.usage_cost)
        )
        .group_by(*_GRAIN, Alloc.currency)
        .agg(pl.col(Alloc.cost).sum(), pl.col(Daily.usage_cost).sum())
        .with_columns(
            (pl.col(column) * rate).round(9).cast(SERIES_MONEY).alias(name)
            for column, name in ((Alloc.cost, Daily.cost), (Daily.usage_cost, Daily.usage_cost))
        )
    )
    parts = []
    for dimension in DIMENSIONS:
        team = pl.lit(None, pl.String) if dimension == "gpu" else pl.col(Alloc.team)
        team = team.alias(Daily.team)
        parts.append(
            grained.group_by(Alloc.day, pl.col(_KEY_OF[dimension]).alias(Daily.key), team)
            .agg(pl.col(Daily.cost).sum(), pl.col(Daily.usage_cost).sum())
            .select(
                pl.col(Alloc.day).alias(Daily.day),
                pl.lit(dimension).alias(Daily.dimension),
                Daily.key,
                Daily.team,
                Daily.cost,
                Daily.usage_cost,
            )
        )
    return pl.concat(parts).sort(Daily.dimension, Daily.key, Daily.team, Daily.day)


def inputs_stamp(store: Store, settings: Settings) -> str:
    """What stored series are computed from: the allocation version and the reporting settings
    (currency, exchange rates). A series stored under another stamp is recomputed."""
    config = settings.reporting.model_dump_json() + repr(sorted(settings.fx.items()))
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    return f"allocation={store.version('allocation')};config={digest}"


def refresh_daily_series(store: Store, settings: Settings, period: str) -> int:
    """Compute ``period``'s series from the allocation and replace its ``daily_spend``
    partition; returns the rows written (0 for a month without allocation)."""
    return _refresh(store, settings, period).height


def _refresh(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    stamp = inputs_stamp(store, settings)
    allocation = store.scan("allocation").filter(pl.col(Alloc.x_BillingPeriod) == period)
    currencies = allocation.select(pl.col(Alloc.currency).unique()).collect()[Alloc.currency]
    rates = fx_rates(settings, period, {c for c in currencies.to_list() if c is not None})
    rows = series_rows(allocation, rates, period).collect()
    store.replace_partitions(
        "daily_spend",
        rows.with_columns(
            pl.lit(period).alias(Daily.period),
            pl.lit(settings.reporting.currency).alias(Daily.currency),
            pl.lit(stamp).alias(Daily.inputs),
        ),
        [Daily.period],
        replace=[{Daily.period: period}],
    )
    return rows


def stored_series(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    """``period``'s series as stored, recomputed first when missing or stale."""
    stamp = inputs_stamp(store, settings)
    rows = store.scan("daily_spend").filter(pl.col(Daily.period) == period).collect()
    if rows.is_empty() or not (rows[Daily.inputs] == stamp).all():
        return _refresh(store, settings, period)
    return rows.select(_COLUMNS)


def baseline_start(settings: Settings, period: str) -> date:
    """The first day the detector reads for ``period``: ``baseline_days`` before its start."""
    return Period.parse(period).start.date() - timedelta(days=settings.alerts.baseline_days)


def baseline_months(settings: Settings, period: str) -> list[str]:
    """The months the detector reads for ``period``: those its baseline reaches, and itself."""
    month = Period.parse(period)
    months, cursor = [], Period.of(baseline_start(settings, period))
    while cursor <= month:
        months.append(str(cursor))
        cursor = cursor.next()
    return months


def daily_series(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    """The daily spend of ``period`` and of the ``[alerts] baseline_days`` before it.

    Columns ``day`` (Date), ``dimension`` (team | model | gpu | instance), ``key``, ``team``
    (null on a GPU series), ``cost`` and ``usage_cost`` (Decimal(38, 9), reporting currency,
    configured cost basis; see the module docstring). Reads ``daily_spend``, refreshing any month of the span missing from it or stale.
    """
    first = baseline_start(settings, period)
    frames = [stored_series(store, settings, m) for m in baseline_months(settings, period)]
    return (
        pl.concat(frames)
        .filter(pl.col(Daily.day) >= first)
        .group_by(Daily.day, *SERIES)
        .agg(pl.col(Daily.cost).sum(), pl.col(Daily.usage_cost).sum())
        .select(_COLUMNS)
        .sort(Daily.dimension, Daily.key, Daily.team, Daily.day, nulls_last=True)
    )
