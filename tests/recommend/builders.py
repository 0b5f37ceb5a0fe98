"""Hand-built months for the recommendation tests: one cost line and hourly telemetry per instance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from gpuledger.period import Period
from gpuledger.prices.catalog import gpu_catalog
from gpuledger.schema import Cost, Tokens, Usage
from gpuledger.store.delta import Store

GIB = 2**30
OCT = "2026-10"
NOV = "2026-11"
HOURS = {OCT: 744, NOV: 720}
OFFSET = "hour_offset"  # hours after the month start; replaced by bucket_start on write


def _facts(provider: str, instance_type: str) -> tuple[str, int, float]:
    row = gpu_catalog().filter(
        (pl.col("provider") == provider) & (pl.col("instance_type") == instance_type)
    )
    return row["gpu_model"][0], int(row["gpu_count"][0]), float(row["gpu_memory_gib"][0])


@dataclass
class Instance:
    """One GPU instance in one month: its bill and, hour by hour, what ran on each GPU."""

    rid: str
    instance_type: str
    hourly: Decimal
    hours: int
    pricing: str = "Standard"
    provider: str = "AWS"
    region: str = "us-east-1"
    owner: str | None = None
    usage: list[dict[str, Any]] = field(default_factory=list)

    def cost_row(self, period: str) -> dict[str, Any]:
        start = Period.parse(period).start
        model, count, _ = _facts(self.provider, self.instance_type)
        amount = self.hourly * self.hours
        return {
            Cost.BillingAccountId: "111",
            Cost.SubAccountId: "111",
            Cost.BillingPeriodStart: start,
            Cost.BillingPeriodEnd: start + timedelta(hours=HOURS[period]),
            Cost.ChargePeriodStart: start,
            Cost.ChargePeriodEnd: start + timedelta(hours=HOURS[period]),
            Cost.ChargeCategory: "Usage",
            Cost.ProviderName: self.provider,
            Cost.RegionId: self.region,
            Cost.ResourceId: self.rid,
            Cost.SkuId: f"BoxUsage:{self.instance_type}",
            Cost.PricingCategory: self.pricing,
            Cost.ConsumedQuantity: float(self.hours),
            Cost.ConsumedUnit: "Hours",
            Cost.BilledCost: amount,
            Cost.EffectiveCost: amount,
            Cost.BillingCurrency: "USD",
            Cost.Tags: [{"key": "team", "value": self.owner, "origin": "user"}]
            if self.owner
            else [],
            Cost.x_BillingPeriod: period,
            Cost.x_Source: "aws",
            Cost.x_InstanceType: self.instance_type,
            Cost.x_GpuModel: model,
            Cost.x_GpuCount: count,
        }

    def run(
        self,
        hours: Iterable[int],
        *,
        gpus: Iterable[int] | None = None,
        sm: float = 60.0,
        mem_gib: float = 20.0,
        job: str | None = None,
        pod: str | None = None,
        team: str | None = None,
        model: str | None = None,
    ) -> Instance:
        """Work (or, with no job and no pod, idle time) on these GPUs in these hours."""
        _, count, memory = _facts(self.provider, self.instance_type)
        busy = job is not None or pod is not None
        for hour in hours:
            for gpu in range(count) if gpus is None else gpus:
                self.usage.append(
                    {
                        OFFSET: hour,
                        Usage.bucket_seconds: 3600,
                        Usage.host: f"host-{self.rid}",
                        Usage.ResourceId: self.rid,
                        Usage.gpu_uuid: f"GPU-{self.rid}-{gpu}",
                        Usage.gpu_index: gpu,
                        Usage.gpu_model: _facts(self.provider, self.instance_type)[0],
                        Usage.job: job,
                        Usage.pod: pod,
                        Usage.team: team,
                        Usage.model: model,
                        Usage.active_seconds: 3600.0 if busy else 0.0,
                        Usage.sm_util: sm if busy else 0.0,
                        Usage.mem_used_bytes: int(mem_gib * GIB) if busy else 0,
                        Usage.mem_total_bytes: int(memory * GIB),
                        Usage.samples: 60,
                    }
                )
        return self


def write_month(
    store: Store,
    period: str,
    instances: Iterable[Instance],
    tokens: Iterable[dict[str, Any]] = (),
) -> None:
    """Write the instances' bills and telemetry (and any token rows) for one month."""
    instances = list(instances)
    cost = pl.DataFrame([i.cost_row(period) for i in instances])
    store.replace_partitions("cost", cost, [Cost.x_Source, Cost.x_BillingPeriod])
    start = Period.parse(period).start
    usage = [
        {
            **{k: v for k, v in row.items() if k != OFFSET},
            Usage.bucket_start: start + timedelta(hours=row[OFFSET]),
            Usage.source: "agent",
            Usage.x_BillingPeriod: period,
        }
        for i in instances
        for row in i.usage
    ]
    if usage:
        store.append("gpu_usage", pl.DataFrame(usage, infer_schema_length=None))
    token_rows = [
        {**row, Tokens.bucket_start: start, Tokens.bucket_seconds: 3600, Tokens.source: "vllm"}
        for row in tokens
    ]
    if token_rows:
        store.append("model_tokens", pl.DataFrame(token_rows))


PRICES = """provider,region,instance_type,on_demand_hourly,spot_hourly,source,as_of,approximate
AWS,us-east-1,p5.48xlarge,55.04,24,test table,2026-11-01,false
AWS,us-east-1,p5.4xlarge,6.88,3,test table,2026-11-01,false
AWS,us-east-1,p4d.24xlarge,20,8,test table,2026-11-01,false
AWS,us-east-1,g6.xlarge,0.8,0.4,test table,2026-11-01,false
AWS,us-east-1,g5.xlarge,1.0,0.4,test table,2026-11-01,false
AWS,us-east-1,g6e.xlarge,1.8,0.8,test table,2026-11-01,false
AWS,us-east-1,g6e.12xlarge,10,5,test table,2026-11-01,false
"""


def use_test_prices(store: Store) -> Path:
    """Write a small refreshed price table into the home, so savings are easy to hand-compute.

    Refreshed rows win over the bundled ones, so these are the prices the rules see for these
    types in us-east-1.
    """
    path = Path(store.home) / "prices" / "prices.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(PRICES)
    return path
