"""Small factories for canonical rows, shared by tests that need a few cost or usage lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.schema import COST_SCHEMA, GPU_USAGE_SCHEMA, Cost, Usage


def cost_rows(*rows: dict[str, Any]) -> pl.DataFrame:
    """Cost rows with sensible defaults: one hour of usage in 2026-10 on account 111."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    defaults: dict[str, Any] = {
        Cost.BillingAccountId: "111",
        Cost.SubAccountId: "111",
        Cost.BillingPeriodStart: start,
        Cost.BillingPeriodEnd: datetime(2026, 11, 1, tzinfo=UTC),
        Cost.ChargePeriodStart: start,
        Cost.ChargePeriodEnd: start + timedelta(hours=1),
        Cost.ChargeCategory: "Usage",
        Cost.ProviderName: "AWS",
        Cost.ServiceName: "Amazon Elastic Compute Cloud",
        Cost.BilledCost: Decimal("1.00"),
        Cost.EffectiveCost: Decimal("1.00"),
        Cost.BillingCurrency: "USD",
        Cost.x_BillingPeriod: "2026-10",
        Cost.x_Source: "aws",
        Cost.Tags: [],
    }
    records = [{**defaults, **row} for row in rows]
    return pl.DataFrame(records, schema={k: COST_SCHEMA[k] for k in records[0]})


def usage_rows(*rows: dict[str, Any]) -> pl.DataFrame:
    """gpu_usage rows: a fully busy 5-minute bucket on one GPU unless told otherwise."""
    defaults: dict[str, Any] = {
        Usage.bucket_start: datetime(2026, 10, 1, tzinfo=UTC),
        Usage.bucket_seconds: 300,
        Usage.host: "host-a",
        Usage.ResourceId: "i-1",
        Usage.gpu_uuid: "GPU-1",
        Usage.gpu_index: 0,
        Usage.active_seconds: 300.0,
        Usage.sm_util: 50.0,
        Usage.samples: 300,
    }
    records = [{**defaults, **row} for row in rows]
    return pl.DataFrame(records, schema={k: GPU_USAGE_SCHEMA[k] for k in records[0]})
