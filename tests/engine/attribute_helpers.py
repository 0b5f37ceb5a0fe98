"""Builders for attribution tests: canonical cost and usage frames, and totals by label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import attribute
from gpuledger.schema import COST_SCHEMA, GPU_USAGE_SCHEMA, Alloc, Cost, Usage, conform

START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD = "2026-10"
LABELS = [Alloc.team, Alloc.model, Alloc.workload, Alloc.cost_type, Alloc.rule]


def tags(**pairs: str) -> list[dict[str, str]]:
    """Tags as the cost table stores them; ``cost_center`` → ``cost-center``."""
    return [{"key": k.replace("_", "-"), "value": v, "origin": "user"} for k, v in pairs.items()]


def cost(**fields: Any) -> dict[str, Any]:
    """One cost row: an hour of usage on instance i-1 in 2026-10, $1, unless told otherwise."""
    row: dict[str, Any] = {
        Cost.BillingAccountId: "payer",
        Cost.SubAccountId: "acct-1",
        Cost.BillingPeriodStart: START,
        Cost.BillingPeriodEnd: datetime(2026, 11, 1, tzinfo=UTC),
        Cost.ChargePeriodStart: START,
        Cost.ChargePeriodEnd: START + timedelta(hours=1),
        Cost.ChargeCategory: "Usage",
        Cost.ProviderName: "AWS",
        Cost.ServiceName: "Amazon Elastic Compute Cloud",
        Cost.ResourceId: "i-1",
        Cost.BilledCost: Decimal(1),
        Cost.EffectiveCost: Decimal(1),
        Cost.BillingCurrency: "USD",
        Cost.x_BillingPeriod: PERIOD,
        Cost.x_Source: "aws",
        Cost.Tags: [],
    }
    row.update(fields)
    if Cost.EffectiveCost in fields and Cost.BilledCost not in fields:
        row[Cost.BilledCost] = fields[Cost.EffectiveCost]
    return row


def busy(
    pod: str | None,
    *,
    team: str | None = None,
    model: str | None = None,
    sm: float = 50.0,
    active: float = 300.0,
    resource: str = "i-1",
    gpu: str = "GPU-0",
    buckets: int = 12,
    first: int = 0,
    **fields: Any,
) -> list[dict[str, Any]]:
    """``buckets`` 5-minute buckets of one workload (``pod=None``: idle) on one GPU slot."""
    return [
        {
            Usage.bucket_start: START + timedelta(minutes=5 * (first + i)),
            Usage.bucket_seconds: 300,
            Usage.ResourceId: resource,
            Usage.gpu_uuid: gpu,
            Usage.namespace: None if pod is None else "ml",
            Usage.pod: pod,
            Usage.team: team,
            Usage.model: model,
            Usage.active_seconds: active if pod else 0.0,
            Usage.sm_util: sm if pod else 0.0,
            Usage.samples: 300,
            **fields,
        }
        for i in range(buckets)
    ]


def cost_frame(rows: list[dict[str, Any]]) -> pl.LazyFrame:
    columns = sorted({key for row in rows for key in row})
    frame = pl.DataFrame(rows, schema={c: COST_SCHEMA[c] for c in columns})
    return conform(frame.lazy(), "cost")


def usage_frame(rows: list[dict[str, Any]]) -> pl.LazyFrame:
    if not rows:
        return pl.DataFrame(schema=GPU_USAGE_SCHEMA).lazy()
    columns = sorted({key for row in rows for key in row})
    frame = pl.DataFrame(rows, schema={c: GPU_USAGE_SCHEMA[c] for c in columns})
    return conform(frame.lazy(), "gpu_usage")


def allocate(
    costs: list[dict[str, Any]], usage: list[dict[str, Any]], settings: Settings
) -> pl.DataFrame:
    return attribute(cost_frame(costs), usage_frame(usage), settings, PERIOD).collect()


def by_label(allocation: pl.DataFrame) -> pl.DataFrame:
    """Cost per label combination, sorted, zero lines dropped: what a statement shows."""
    return (
        allocation.group_by(LABELS)
        .agg(pl.col(Alloc.cost).sum())
        .filter(pl.col(Alloc.cost) != 0)
        .sort(LABELS, nulls_last=True)
    )


def expected(*rows: tuple[str, str, str | None, str, str, str]) -> pl.DataFrame:
    """Expected ``by_label`` frame from (team, model, workload, cost_type, rule, amount) tuples."""
    frame = pl.DataFrame(
        [dict(zip([*LABELS, Alloc.cost], row, strict=True)) for row in rows],
        schema={**dict.fromkeys(LABELS, pl.String), Alloc.cost: pl.String},
        orient="row",
    )
    return frame.with_columns(pl.col(Alloc.cost).cast(pl.Decimal(38, 18))).sort(
        LABELS, nulls_last=True
    )
