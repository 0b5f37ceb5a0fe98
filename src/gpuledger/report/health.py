"""Data health read model: what the store holds, for `gpuledger status` and the app's health page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.chargeback.adjustments import pending_adjustments
from gpuledger.report.email.log import SlotStatus, send_records
from gpuledger.report.notify.webhook_log import undelivered_webhooks
from gpuledger.schema import UNALLOCATED, Alloc, Cost, Quarantine
from gpuledger.store.delta import Store
from gpuledger.store.maintain import table_files
from gpuledger.store.maintenance_log import last_maintained
from gpuledger.store.telemetry_index import usage_summary


@dataclass
class Health:
    cost_partitions: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    gpu_usage: dict[str, Any] = field(default_factory=dict)
    allocation: list[dict[str, Any]] = field(default_factory=list)
    unconfigured_teams: list[str] = field(default_factory=list)
    closed_periods: list[str] = field(default_factory=list)
    adjustments: list[dict[str, Any]] = field(default_factory=list)  # corrections of closed months
    last_ingests: list[dict[str, Any]] = field(default_factory=list)
    undelivered_email: list[dict[str, Any]] = field(default_factory=list)
    undelivered_webhooks: list[dict[str, Any]] = field(default_factory=list)  # alert posts
    tables: list[dict[str, Any]] = field(default_factory=list)  # files per Delta table
    unbilled_telemetry: list[dict[str, Any]] = field(default_factory=list)  # no ResourceId
    # per period: billed hours of reporting instances without telemetry (agent down)
    telemetry_gaps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cost": self.cost_partitions,
            "quarantine": self.quarantine,
            "gpu_usage": self.gpu_usage,
            "allocation": self.allocation,
            "unconfigured_teams": self.unconfigured_teams,
            "closed_periods": self.closed_periods,
            "adjustments": self.adjustments,
            "last_ingests": self.last_ingests,
            "undelivered_email": self.undelivered_email,
            "undelivered_webhooks": self.undelivered_webhooks,
            "tables": self.tables,
            "unbilled_telemetry": self.unbilled_telemetry,
            "telemetry_gaps": self.telemetry_gaps,
        }


def _money(column: str) -> pl.Expr:
    return pl.col(column).sum().cast(pl.Decimal(38, 2)).cast(pl.String)


def store_health(store: Store, settings: Settings) -> Health:
    """Everything `status` shows, computed from the store in a few aggregate scans."""
    health = Health()
    invoiced = {
        (p["source"], p["billing_account"], p["period"]): bool(p["invoiced"])
        for p in store.state.billing_periods()
    }
    cost = (
        store.scan("cost")
        .group_by(Cost.x_Source, Cost.ProviderName, Cost.BillingAccountId, Cost.x_BillingPeriod)
        .agg(
            pl.len().alias("rows"),
            pl.col(Cost.BillingCurrency).first().alias("currency"),
            _money(Cost.BilledCost).alias("billed_cost"),
            _money(Cost.EffectiveCost).alias("effective_cost"),
        )
        .sort(Cost.x_BillingPeriod, Cost.x_Source, Cost.BillingAccountId)
        .collect()
    )
    for row in cost.to_dicts():
        key = (row[Cost.x_Source], row[Cost.BillingAccountId], row[Cost.x_BillingPeriod])
        row["invoiced"] = invoiced.get(key, False)
        health.cost_partitions.append(row)
    health.quarantine = (
        store.scan("quarantine")
        .group_by(Quarantine.x_Source, Quarantine.x_BillingPeriod, Quarantine.reason)
        .agg(pl.len().alias("rows"), _money(Quarantine.cost).alias("cost"))
        .sort(
            Quarantine.x_Source, Quarantine.x_BillingPeriod, "rows", descending=[False, False, True]
        )
        .collect()
        .to_dicts()
    )
    index = usage_summary(store)  # the telemetry index: no scan of gpu_usage
    usage = index.select(
        pl.col("rows").sum().alias("rows"),
        pl.col("gpu_uuids").explode().drop_nulls().n_unique().alias("gpus"),
        pl.col("host").n_unique().alias("hosts"),
        pl.col("first_bucket").min(),
        pl.col("last_bucket").max(),
    )
    health.gpu_usage = {
        k: (str(v) if v is not None else None) for k, v in usage.row(0, named=True).items()
    }
    health.unbilled_telemetry = unbilled_telemetry(index)
    allocation = store.scan("allocation")
    health.allocation = (
        allocation.group_by(Alloc.x_BillingPeriod, Alloc.currency)
        .agg(
            _money(Alloc.cost).alias("allocated"),
            pl.col(Alloc.cost)
            .filter(pl.col(Alloc.team) == UNALLOCATED)
            .sum()
            .cast(pl.Decimal(38, 2))
            .cast(pl.String)
            .alias("unallocated"),
        )
        .sort(Alloc.x_BillingPeriod)
        .collect()
        .to_dicts()
    )
    health.telemetry_gaps = telemetry_gaps(store)
    teams = allocation.select(pl.col(Alloc.team).unique()).collect().to_series().to_list()
    health.unconfigured_teams = (
        sorted(t for t in teams if t and t != UNALLOCATED and t not in settings.teams)
        if settings.teams
        else []
    )
    health.closed_periods = sorted(store.state.closed_periods())
    health.adjustments = pending_adjustments(store, settings) if health.closed_periods else []
    health.last_ingests = [run.summary() for run in store.state.ingest_runs(limit=10)]
    health.undelivered_email = undelivered_email(store)
    health.undelivered_webhooks = [
        {
            "alert_id": r.alert_id,
            "status": r.status.value,
            "attempts": r.attempts,
            "error": r.last_error,
            "updated_at": r.updated_at,
        }
        for r in undelivered_webhooks(store.state)
    ]
    health.tables = table_health(store)
    return health


def telemetry_gaps(store: Store) -> list[dict[str, Any]]:
    """Telemetry gaps per period and currency: billed hours of reporting GPU instances in which
    their agent sent nothing — the allocation's ``(no telemetry)`` lines (cost type
    ``no_telemetry``, one instance-hour at a time). Instances with gaps, the instance-hours they
    stand for (GPU-hours over the instance's billed GPU count), GPU-hours and cost.

    ``instance_hours`` counts only instances whose bill names a GPU count (the others carry no
    GPU-hours on their lines either); ``cost`` is decimal text to the cent.
    """
    gaps = (
        store.scan("allocation")
        .filter(pl.col(Alloc.cost_type) == "no_telemetry")
        .group_by(Alloc.x_BillingPeriod, Alloc.ResourceId, Alloc.currency)
        .agg(pl.col(Alloc.gpu_hours).sum(), pl.col(Alloc.cost).sum())
        .collect()
    )
    if gaps.is_empty():
        return []
    gpus = (
        store.scan("cost")
        .filter(
            pl.col(Cost.x_BillingPeriod).is_in(gaps.get_column(Alloc.x_BillingPeriod).implode())
            & (pl.col(Cost.x_GpuCount) > 0)
        )
        .group_by(
            Cost.x_BillingPeriod,
            pl.coalesce(Cost.x_ParentResourceId, Cost.ResourceId).alias(Alloc.ResourceId),
        )
        .agg(pl.col(Cost.x_GpuCount).max().alias("_gpus"))
        .collect()
    )
    return (
        gaps.join(gpus, on=[Alloc.x_BillingPeriod, Alloc.ResourceId], how="left")
        .group_by(Alloc.x_BillingPeriod, Alloc.currency)
        .agg(
            pl.col(Alloc.ResourceId).n_unique().alias("instances"),
            (pl.col(Alloc.gpu_hours) / pl.col("_gpus")).sum().alias("instance_hours"),
            pl.col(Alloc.gpu_hours).sum().alias("gpu_hours"),
            pl.col(Alloc.cost).sum().cast(pl.Decimal(38, 2)).cast(pl.String).alias("cost"),
        )
        .sort(Alloc.x_BillingPeriod, Alloc.currency)
        .to_dicts()
    )


def unbilled_telemetry(index: pl.DataFrame) -> list[dict[str, Any]]:
    """Per source and host, telemetry with no billed instance: GPU-hours whose ResourceId is null,
    so attribution cannot split any bill by them (largest first)."""
    return (
        index.filter(pl.col("gpu_hours_without_resource") > 0)
        .group_by("source", "host")
        .agg(
            pl.col("period").unique().sort().str.join(", ").alias("periods"),
            pl.col("gpu_hours_without_resource").sum().alias("gpu_hours"),
        )
        .sort(["gpu_hours", "source", "host"], descending=[True, False, False], nulls_last=True)
        .to_dicts()
    )


def undelivered_email(store: Store) -> list[dict[str, Any]]:
    """Messages that failed for good (never retried) or wait for the next run to retry them."""
    return [
        {
            "team": r.key.team,
            "kind": r.key.kind,
            "period": r.key.period,
            "recipients": r.recipients,
            "status": r.status.value,
            "attempts": r.attempts,
            "error": r.last_error,
            "updated_at": r.updated_at,
        }
        for status in (SlotStatus.failed, SlotStatus.pending)
        for r in send_records(store.state, status)
    ]


def table_health(store: Store) -> list[dict[str, Any]]:
    """Per Delta table: files and bytes (from its log, no data read) and when it was maintained."""
    maintained = last_maintained(store.state)
    return [
        {
            "table": name,
            "files": files.files,
            "bytes": files.bytes,
            "small_files": files.mergeable,
            "needs_maintenance": files.needs_maintenance,
            "last_maintained": maintained.get(name),
        }
        for name, files in table_files(store).items()
    ]
