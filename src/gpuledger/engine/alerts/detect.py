"""Spend anomalies of a month: days above their series' expected band, and series that appeared.

Each series of :func:`~gpuledger.engine.alerts.series.daily_series` is checked day by day against
its band (:func:`~gpuledger.engine.alerts.band.expected_band`). Consecutive anomalous days of a
series are one alert, dated by its first day, so an incident that lasts a weekend is told once
and keeps its id as its days arrive. An episode belongs to the month of its first day: one that
began in the baseline days and goes on is the earlier month's alert, not this one's.

A series with no spend for at least :data:`MIN_HISTORY` days of data before its first day (a new
model, team or instance) is flagged once, on its first day within :data:`MIN_HISTORY` whose spend
reaches ``[alerts] min_impact``, with impact = that day's spend. Idle, unlabelled and unallocated
spend appearing is never a new model: it is a change of the series it lands on.

One incident moves several series (a team, its model, its instances, their GPU model); it is told
once:

- a team's or GPU model's breach that only the month's new models push over the line (without
  their spend its excess stays under ``min_impact``) is left out: the new models' alerts tell it;
- an alert on a finer series is left out when a coarser one covers the same team and day, where
  it is a driver: team over model over instance; a GPU-model alert is left out when any team
  alert covers its day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final, cast

import polars as pl

from gpuledger.columns import IDLE_MODEL, NO_TELEMETRY_MODEL, UNALLOCATED, UNLABELLED
from gpuledger.config import Settings
from gpuledger.engine.alerts.band import MIN_HISTORY, expected_band, life_starts
from gpuledger.engine.alerts.explain import Detail, Span, load_detail
from gpuledger.engine.alerts.model import Alert, Dimension, alert_id
from gpuledger.engine.alerts.series import (
    DETECTED,
    NO_GPU,
    NO_RESOURCE,
    SERIES,
    baseline_months,
    daily_series,
    stored_series,
)
from gpuledger.engine.chargeback.rounding import round_money
from gpuledger.period import Period
from gpuledger.schema import Daily
from gpuledger.store.delta import Store

__all__ = ["Found", "expected_band", "find_anomalies", "flagged_spans"]

_RANK: Final = {"team": 0, "model": 1, "instance": 2}
# Keys of spend without a model or resource of its own: never a new series (module docstring).
PSEUDO_MODELS: Final = (
    IDLE_MODEL,
    UNLABELLED,
    NO_TELEMETRY_MODEL,
    UNALLOCATED,
    NO_GPU,
    NO_RESOURCE,
)


@dataclass(frozen=True)
class Found:
    """A flagged span of one series, with its spend and baseline over the span's days."""

    span: Span
    actual: Decimal
    expected: Decimal
    new: bool


def find_anomalies(
    store: Store, settings: Settings, period: str, team: str | None = None
) -> list[Alert]:
    """The anomalies of ``period`` (of ``team``'s series only, when given), largest impact first."""
    series = daily_series(store, settings, period)
    found = _not_monthly(flagged_spans(series, settings, period), store, settings, period)
    if not found:
        return []
    detail = load_detail(store, settings, baseline_months(settings, period))
    found = _coarsest(_without_new_model_spend(found, detail, settings))
    alerts = [_alert(f, period, detail) for f in found if team is None or f.span.team == team]
    return sorted(alerts, key=lambda a: (-a.impact, a.id))


def flagged_spans(series: pl.DataFrame, settings: Settings, period: str) -> list[Found]:
    """Every flagged span of ``period`` in ``series``: band breaches and new series."""
    month = Period.parse(period)
    start, end = month.start.date(), month.end.date() - timedelta(days=1)
    band = expected_band(series, settings).filter(pl.col(Daily.day) <= end)
    money = series.group_by(*SERIES, Daily.day).agg(pl.col(DETECTED).sum())
    breaches = _episodes(
        band.filter(pl.col("actual") >= pl.col("upper")).join(
            money, on=[*SERIES, Daily.day], nulls_equal=True
        )
    ).filter(pl.col("first") >= start)
    found = [_found(row, settings, new=False) for row in breaches.to_dicts()]
    return found + _new_series(series, settings, start, end)


def _not_monthly(found: list[Found], store: Store, settings: Settings, period: str) -> list[Found]:
    """Leave out the one-day breaches and "new" series that the same day of last month showed
    as well: a charge dated on one day each month (a monthly fee billed as usage on the 1st) is
    no anomaly, though the weekday baseline (which does not reach back a month) cannot know it.
    A day at least ``min_change`` above last month's is."""
    previous = stored_series(store, settings, str(Period.parse(period).previous()))
    last_month = {
        (row[Daily.dimension], row[Daily.key], row[Daily.team], row[Daily.day]): row[DETECTED]
        for row in previous.iter_rows(named=True)
    }
    growth = Decimal(str(1 + settings.alerts.min_change))
    kept = []
    for item in found:
        span = item.span
        if span.first == span.last:
            same_day = _month_before(span.first)
            before = last_month.get((span.dimension, span.key, span.team, same_day))
            if before is not None and before > 0 and item.actual < before * growth:
                continue
        kept.append(item)
    return kept


def _month_before(day: date) -> date | None:
    """The same day of the month before, or None where that month is shorter."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    try:
        return day.replace(year=year, month=month)
    except ValueError:
        return None


def _without_new_model_spend(found: list[Found], detail: Detail, settings: Settings) -> list[Found]:
    """Leave out the team and GPU-model breaches that only the month's new models push over the
    line: without their spend, the excess stays under ``min_impact``. The new models' own
    alerts tell it, once, instead of a breach a day until the baseline has absorbed them."""
    new_models = {(f.span.team, f.span.key) for f in found if f.new and f.span.dimension == "model"}
    if not new_models:
        return found
    kept = []
    for item in found:
        if not item.new and item.span.dimension in ("team", "gpu"):
            rest = item.actual - detail.spend_of_models(item.span, new_models) - item.expected
            if rest < settings.alerts.min_impact:
                continue
        kept.append(item)
    return kept


def _episodes(breaches: pl.DataFrame) -> pl.DataFrame:
    """Consecutive breach days of one series merged: first and last day, summed money."""
    gap = pl.col(Daily.day).diff().over(SERIES) != timedelta(days=1)
    return (
        breaches.sort(*SERIES, Daily.day, nulls_last=True)
        .with_columns(gap.fill_null(True).cum_sum().over(SERIES).alias("_episode"))
        .group_by(*SERIES, "_episode")
        .agg(
            pl.col(Daily.day).min().alias("first"),
            pl.col(Daily.day).max().alias("last"),
            pl.col(DETECTED).sum().alias("actual"),
            pl.col("expected").sum(),
        )
    )


def _new_series(series: pl.DataFrame, settings: Settings, start: date, end: date) -> list[Found]:
    """Series whose first spend falls in the month after ``MIN_HISTORY`` days of data without
    them: flagged on their first day within ``MIN_HISTORY`` whose spend reaches min_impact."""
    if series.is_empty():
        return []
    covered_from = series[Daily.day].min()
    threshold = settings.alerts.min_impact
    fresh = life_starts(series).filter(
        ~pl.col(Daily.key).is_in(PSEUDO_MODELS)
        & pl.col("first_day").is_between(start, end)
        & (pl.col("first_day") - pl.lit(covered_from) >= timedelta(days=MIN_HISTORY))
    )
    days = (
        series.group_by(*SERIES, Daily.day)
        .agg(pl.col(DETECTED).sum())
        .join(fresh, on=list(SERIES), nulls_equal=True)
        .filter(
            (pl.col(Daily.day) - pl.col("first_day") < timedelta(days=MIN_HISTORY))
            & (pl.col(DETECTED) >= threshold)
            & (pl.col(Daily.day) <= end)
        )
        .sort(Daily.day)
        .group_by(SERIES, maintain_order=True)
        .first()
    )
    rows = days.with_columns(
        pl.col(Daily.day).alias("first"),
        pl.col(Daily.day).alias("last"),
        pl.col(DETECTED).alias("actual"),
        pl.lit(0.0).alias("expected"),
    )
    return [_found(row, settings, new=True) for row in rows.to_dicts()]


def _found(row: dict[str, object], settings: Settings, *, new: bool) -> Found:
    currency = settings.reporting.currency
    span = Span(
        dimension=str(row[Daily.dimension]),
        key=str(row[Daily.key]),
        team=cast("str | None", row[Daily.team]),
        first=cast("date", row["first"]),
        last=cast("date", row["last"]),
        baseline_days=settings.alerts.baseline_days,
    )
    return Found(
        span=span,
        actual=round_money(cast("Decimal", row["actual"]), currency),
        expected=round_money(Decimal(str(row["expected"])), currency),
        new=new,
    )


def _coarsest(found: list[Found]) -> list[Found]:
    """Leave out spans a coarser span of the same team covers (module docstring)."""
    kept = []
    for item in found:
        span = item.span
        covered = any(
            _covers(other.span, span)
            for other in found
            if other is not item and _finer(span.dimension, other.span.dimension)
        )
        if not covered:
            kept.append(item)
    return kept


def _finer(dimension: str, than: str) -> bool:
    if dimension == "gpu":
        return than == "team"
    return than in _RANK and dimension in _RANK and _RANK[than] < _RANK[dimension]


def _covers(coarse: Span, fine: Span) -> bool:
    same_team = fine.dimension == "gpu" or coarse.team == fine.team
    return same_team and coarse.first <= fine.last and fine.first <= coarse.last


def _alert(found: Found, period: str, detail: Detail) -> Alert:
    span = found.span
    sentences, drivers = detail.explain(span)
    impact = found.actual - found.expected
    what = _series_name(span)
    when = str(span.first) if span.days == 1 else f"{span.first} to {span.last} ({span.days} days)"
    currency = detail.currency
    if found.new:
        title = f"new {what} appeared: {found.actual:,} {currency} on {when}"
    else:
        change = f" (+{impact / found.expected:.0%})" if found.expected else ""
        title = (
            f"{what}: {found.actual:,} {currency} on {when}, expected {found.expected:,}{change}"
        ).replace("%)", " %)")
    return Alert(
        id=alert_id("anomaly", period, span.dimension, span.team, span.key, span.first),
        kind="anomaly",
        period=period,
        team=span.team,
        dimension=cast("Dimension", span.dimension),
        key=span.key,
        day=span.first,
        expected=found.expected,
        actual=found.actual,
        impact=impact,
        title=title,
        explanation="; ".join(sentences)
        or f"{what} spent {impact:,} {currency} above its baseline",
        drivers=drivers,
        last_day=span.last,
    )


def _series_name(span: Span) -> str:
    if span.dimension == "team":
        return f"team {span.key}"
    if span.dimension == "gpu":
        return f"GPU model {span.key}"
    noun = "model" if span.dimension == "model" else "instance"
    return f"{noun} {span.key} ({span.team})"
