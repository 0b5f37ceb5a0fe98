"""`gpuledger ingest onprem CLUSTER|all`: ``[[clusters]]`` priced into ``cost`` rows per host-hour.

Part of ``collect/``. For each named cluster (or every one, for ``all``) and each month asked
for (``--period YYYY-MM``, repeatable), :func:`gpuledger.collect.onprem.rows.cluster_month`
prices the month from the cluster's settings and the month's ``gpu_usage`` power readings. The
rows go through :func:`~gpuledger.collect.ingest.ingest_cost` as source ``onprem`` with the
cluster as billing account, so each (cluster, month) partition is replaced whole: ingesting
twice stores one copy, and ingesting again after more telemetry arrived re-prices the month.
Every month of every cluster is priced before anything is written: one bad setting leaves the
store unchanged.

Without ``--period``: this month and the last, skipping closed months and months before a
cluster's purchase.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from gpuledger.collect.ingest import CostBatch, IngestResult, ingest_cost
from gpuledger.collect.onprem.rows import RowContext, cluster_month
from gpuledger.config import ClusterConfig, Settings
from gpuledger.errors import ConfigError, UsageError
from gpuledger.period import Period
from gpuledger.schema import COST_SCHEMA, Usage
from gpuledger.store.delta import Store

SOURCE = "onprem"
ALL = "all"
DEFAULT_TEAM_TAG = "team"


def ingest(
    store: Store,
    settings: Settings,
    src: str,
    *,
    periods: Sequence[str] = (),
    now: datetime | None = None,
    **_options: Any,
) -> IngestResult:
    """Price the clusters ``src`` names for ``periods`` and store their rows (module docstring).

    ``now`` (default: the clock) ends the current month's rows at the last whole hour.
    """
    clusters = chosen_clusters(settings, src)
    moment = now or datetime.now(UTC)
    asked = [Period.parse(p) for p in periods]
    context = RowContext(
        currency=settings.reporting.currency,
        team_tag_key=settings.tags.team[0] if settings.tags.team else DEFAULT_TEAM_TAG,
        now=moment,
    )

    def read(_run_id: str) -> CostBatch:
        frames = [
            cluster_month(cluster, period, month_usage(store, period), context)
            for cluster in clusters
            for period in (asked or default_periods(store, cluster, moment))
        ]
        present = [frame for frame in frames if frame.height]
        rows = pl.concat(present) if present else pl.DataFrame(schema=COST_SCHEMA)
        return CostBatch(rows=rows)

    return ingest_cost(store, SOURCE, src, read)


def chosen_clusters(settings: Settings, src: str) -> list[ClusterConfig]:
    """The cluster named ``src``, or every configured cluster for ``all``."""
    if not settings.clusters:
        raise ConfigError(
            "no [[clusters]] in the config: nothing to price on premises "
            "(expected [[clusters]] entries with name, hosts, gpu_model, purchase_cost, …)"
        )
    if src == ALL:
        return list(settings.clusters)
    named = [cluster for cluster in settings.clusters if cluster.name == src]
    if not named:
        names = ", ".join(cluster.name for cluster in settings.clusters)
        raise UsageError(
            f"no cluster named {src!r} in [[clusters]]; expected {ALL} or one of {names}"
        )
    return named


def default_periods(store: Store, cluster: ClusterConfig, now: datetime) -> list[Period]:
    """Last month and this one, less closed months and months before the purchase."""
    this_month = Period.of(now)
    bought = Period.of(cluster.purchase_date)
    return [
        period
        for period in (this_month.previous(), this_month)
        if period >= bought and not store.state.is_closed(str(period))
    ]


def month_usage(store: Store, period: Period) -> pl.LazyFrame:
    """The month's telemetry, as far as on-prem pricing reads it."""
    start, end = period.bounds()
    return (
        store.scan("gpu_usage")
        .filter(
            (pl.col(Usage.x_BillingPeriod) == str(period))
            & (pl.col(Usage.bucket_start) >= start)
            & (pl.col(Usage.bucket_start) < end)
        )
        .select(
            Usage.host,
            Usage.ResourceId,
            Usage.gpu_uuid,
            Usage.parent_gpu_uuid,
            Usage.bucket_start,
            Usage.bucket_seconds,
            Usage.power_w,
            Usage.samples,
        )
    )
