"""Which month a reporting command reads: ``--period``, else the latest month with billing data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from gpuledger.errors import UsageError
from gpuledger.period import Period
from gpuledger.schema import Cost

if TYPE_CHECKING:
    from gpuledger.store.delta import Store

INGEST_HINT = "ingest the month's exports first (`gpuledger ingest aws|gcp|focus SRC`)"


def chosen_period(store: Store, period: str | None) -> str:
    """``period`` checked as a month, or the latest month with billing data: the newest month
    that ``gpuledger ingest`` recorded, else the newest ``x_BillingPeriod`` in the cost table."""
    if period is not None:
        return str(Period.parse(period))
    recorded = [row["period"] for row in store.state.billing_periods()]
    latest = max(recorded) if recorded else _latest_cost_period(store)
    if latest is None:
        raise UsageError(f"no billing data in {store.home}: {INGEST_HINT}")
    return str(latest)


def _latest_cost_period(store: Store) -> str | None:
    frame = store.scan("cost").select(pl.col(Cost.x_BillingPeriod).max()).collect()
    value = frame.item() if frame.height else None
    return None if value is None else str(value)


def require_billing_data(store: Store, period: str) -> None:
    """UsageError (exit 2) when the cost table holds no row of ``period``: a report of an empty
    month would read as a month without spend."""
    rows = store.scan("cost").filter(pl.col(Cost.x_BillingPeriod) == period).head(1).collect()
    if rows.is_empty():
        raise UsageError(f"no billing data for {period}: {INGEST_HINT}")
