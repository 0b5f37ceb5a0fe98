"""Read model of the data health page: what the store holds, what it refused, what it cannot see.

Starts from :func:`gpuledger.report.health.store_health` (what ``gpuledger status`` prints) and
adds the views finance asks about next: each source's last ingest, GPU instances that are billed
but send no telemetry, telemetry that names no billed instance, and how the month's cost was
attributed (telemetry, tags, rules or not at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from gpuledger.config import Settings
from gpuledger.report.health import Health, store_health
from gpuledger.report.readmodel.chargeback import periods
from gpuledger.schema import UNALLOCATED, Alloc, Cost, Quarantine
from gpuledger.store.delta import Store
from gpuledger.store.telemetry_index import usage_summary

# How attribution decided a dollar, from the ``rule`` column (see gpuledger.engine.attribution.rules).
TAGS = "tags"
RULES = "rules"
TELEMETRY = "telemetry"
SHARED = "shared"
NOT_ALLOCATED = "unallocated"
BASIS = "basis"
SHARE = "share"
MONTH_STATUS = "month_status"
INVOICE = "invoice"
MONEY2 = pl.Decimal(38, 2)


@dataclass(frozen=True)
class HealthView:
    health: Health
    sources: pl.DataFrame  # per source: last ingest, its status, rows
    partitions: pl.DataFrame  # per month, source and account: rows, amounts, invoice, status
    quarantine: pl.DataFrame  # per source, month and reason: rows refused and their cost
    telemetry_gaps: pl.DataFrame  # per month and currency: billed hours without telemetry
    tables: pl.DataFrame  # per Delta table: files, small files, last maintained
    untracked_gpus: pl.DataFrame  # billed GPU instances with no telemetry in the month
    coverage: pl.DataFrame  # per period and basis: cost and share of the period's cost
    unbilled_telemetry: pl.DataFrame  # per source and host: GPU-hours with no billed instance


def attribution_basis() -> pl.Expr:
    """The basis of an allocation row: what put its dollars on a team.

    ``tag:<key>`` rules are tags; ``account-map`` and ``regex:…`` are configured rules; rows on
    ``(unallocated)`` (or the ``unallocated`` rule) are not allocated; ``shared…`` rules are shared
    pools; everything else was split by GPU telemetry.
    """
    rule = pl.col(Alloc.rule).fill_null("")
    return (
        pl.when((pl.col(Alloc.team) == UNALLOCATED) | (rule == "unallocated"))
        .then(pl.lit(NOT_ALLOCATED))
        .when(rule.str.starts_with("tag:"))
        .then(pl.lit(TAGS))
        .when((rule == "account-map") | rule.str.starts_with("regex:"))
        .then(pl.lit(RULES))
        .when(rule.str.starts_with("shared"))
        .then(pl.lit(SHARED))
        .otherwise(pl.lit(TELEMETRY))
    )


def coverage(store: Store) -> pl.DataFrame:
    """Share of each period's allocated cost per attribution basis (per currency)."""
    return (
        store.scan("allocation")
        .group_by(Alloc.x_BillingPeriod, Alloc.currency, attribution_basis().alias(BASIS))
        .agg(pl.col(Alloc.cost).sum().cast(pl.Decimal(38, 2)))
        .with_columns(
            (
                pl.col(Alloc.cost).cast(pl.Float64)
                / pl.col(Alloc.cost)
                .cast(pl.Float64)
                .sum()
                .over(Alloc.x_BillingPeriod, Alloc.currency)
            ).alias(SHARE)
        )
        .sort(Alloc.x_BillingPeriod, Alloc.currency, BASIS, descending=[True, False, False])
        .collect()
    )


def untracked_gpus(store: Store, settings: Settings) -> pl.DataFrame:
    """GPU instances billed in a month but absent from that month's telemetry, costliest first."""
    basis = settings.reporting.cost_basis
    seen = (  # from the telemetry index, not a scan of gpu_usage
        usage_summary(store)
        .lazy()
        .select(
            pl.col("period").alias(Cost.x_BillingPeriod),
            pl.col("resource_ids").alias(Cost.ResourceId),
        )
        .explode(Cost.ResourceId)
        .unique()
    )
    return (
        store.scan("cost")
        .filter((pl.col(Cost.x_GpuCount) > 0) & pl.col(Cost.ResourceId).is_not_null())
        .group_by(Cost.x_BillingPeriod, Cost.ProviderName, Cost.ResourceId, Cost.BillingCurrency)
        .agg(
            pl.col(Cost.x_InstanceType).first(),
            pl.col(Cost.x_GpuModel).first(),
            pl.col(Cost.x_GpuCount).max(),
            pl.col(basis).sum().cast(pl.Decimal(38, 2)).alias(basis),
        )
        .join(seen, on=[Cost.x_BillingPeriod, Cost.ResourceId], how="anti")
        .sort(Cost.x_BillingPeriod, basis, descending=[True, True])
        .collect()
    )


def unbilled_telemetry(health: Health) -> pl.DataFrame:
    """Telemetry with no billed instance (null ResourceId), per source and host, as a frame."""
    schema = {"source": pl.String, "host": pl.String, "periods": pl.String, "gpu_hours": pl.Float64}
    return pl.DataFrame(health.unbilled_telemetry, schema=schema)


def sources(store: Store) -> pl.DataFrame:
    """Each source's most recent ingest run."""
    latest: dict[str, dict[str, object]] = {}
    for run in store.state.ingest_runs(limit=1000):  # newest first
        latest.setdefault(run.source, run.summary())
    schema = {
        "source": pl.String,
        "src": pl.String,
        "started_at": pl.String,
        "status": pl.String,
        "rows": pl.Int64,
        "quarantined": pl.Int64,
        "message": pl.String,
    }
    return pl.DataFrame(list(latest.values()), schema=schema)


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """``rows`` of :class:`Health` as a frame of ``schema``; money text becomes exact decimals."""
    return pl.DataFrame(
        [{name: row.get(name) for name in schema} for row in rows],
        schema={name: pl.String if dtype == MONEY2 else dtype for name, dtype in schema.items()},
    ).with_columns(pl.col(name).cast(MONEY2) for name, dtype in schema.items() if dtype == MONEY2)


def partitions(health: Health, statuses: dict[str, str]) -> pl.DataFrame:
    """Each month × source × account the store holds, with the account's invoice state
    (``invoiced`` once the provider's invoice is final, else ``provisional``) and the month's
    status word (:attr:`gpuledger.report.readmodel.chargeback.PeriodInfo.status`)."""
    schema = {
        Cost.x_BillingPeriod: pl.String,
        Cost.x_Source: pl.String,
        Cost.ProviderName: pl.String,
        Cost.BillingAccountId: pl.String,
        "invoiced": pl.Boolean,
        "rows": pl.Int64,
        "currency": pl.String,
        "billed_cost": MONEY2,
        "effective_cost": MONEY2,
    }
    return _frame(health.cost_partitions, schema).with_columns(
        pl.col(Cost.x_BillingPeriod)
        .replace_strict(statuses, default=None, return_dtype=pl.String)
        .alias(MONTH_STATUS),
        pl.when(pl.col("invoiced"))
        .then(pl.lit("invoiced"))
        .otherwise(pl.lit("provisional"))
        .alias(INVOICE),
    )


def quarantine(health: Health) -> pl.DataFrame:
    schema = {
        Quarantine.x_Source: pl.String,
        Quarantine.x_BillingPeriod: pl.String,
        Quarantine.reason: pl.String,
        "rows": pl.Int64,
        Quarantine.cost: MONEY2,
    }
    return _frame(health.quarantine, schema)


def telemetry_gaps(health: Health) -> pl.DataFrame:
    schema = {
        Alloc.x_BillingPeriod: pl.String,
        Alloc.currency: pl.String,
        "instances": pl.Int64,
        "instance_hours": pl.Float64,
        "gpu_hours": pl.Float64,
        "cost": MONEY2,
    }
    return _frame(health.telemetry_gaps, schema)


def tables(health: Health) -> pl.DataFrame:
    schema = {
        "table": pl.String,
        "files": pl.Int64,
        "bytes": pl.Int64,
        "small_files": pl.Int64,
        "needs_maintenance": pl.Boolean,
        "last_maintained": pl.String,
    }
    return _frame(health.tables, schema)


def health_view(store: Store, settings: Settings) -> HealthView:
    """The data health page: it spans every team and every source (the read model lets only
    finance ask for it)."""
    health = store_health(store, settings)
    statuses = {info.period: info.status for info in periods(store)}
    return HealthView(
        health=health,
        sources=sources(store),
        partitions=partitions(health, statuses),
        quarantine=quarantine(health),
        telemetry_gaps=telemetry_gaps(health),
        tables=tables(health),
        untracked_gpus=untracked_gpus(store, settings),
        coverage=coverage(store),
        unbilled_telemetry=unbilled_telemetry(health),
    )
