"""A small ledger home for the app tests, built through the real engine from hand-made rows.

Two months of a two-team company, small enough to compute by hand:

2026-09 (closed): nlp's instance i-nlp 1 h for $8.00 (tag team=nlp), vision's i-vis 1 h for $4.00.
2026-10 (open):   i-nlp 2 h for $20.00 with telemetry: hour 0 busy (nlp/llama at 50 % SM),
                  hour 1 idle → usage $10.00 + idle $10.00 (idle goes to the owner, nlp);
                  i-vis 1 h for $5.00 (tag team=vision, no telemetry); an untagged S3 line
                  $3.00 → (unallocated). Invoice $28.00 = nlp 20.00 + vision 5.00 + 3.00.
Waste in 2026-10: i-nlp was idle 1 of its 2 GPU-hours at $10.00 per GPU-hour → $10.00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.chargeback.close import close_period
from gpuledger.schema import Cost, Usage
from gpuledger.store.delta import Store
from tests.factories import cost_rows, usage_rows

CFO = "cfo@example.com"
NLP_LEAD = "lead-nlp@example.com"
VISION_LEAD = "lead-vision@example.com"
GIB = 2**30

CONFIG = """
[reporting]
currency = "USD"

[teams.nlp]
lead = "lead-nlp@example.com"
budget = 15

[teams.vision]
lead = "lead-vision@example.com"
budget = 10

[app]
finance = ["cfo@example.com"]
auth = "{auth}"

[thresholds.recommend]
idle_min_hours = 1
idle_min_stretch_hours = 1
min_monthly_saving = 1
"""


def _tag(team: str) -> list[dict[str, str]]:
    return [{"key": "team", "value": team, "origin": "user"}]


def _instance(
    period: str, day: datetime, rid: str, team: str, hours: int, cost: str
) -> dict[str, Any]:
    return {
        Cost.BillingPeriodStart: day.replace(day=1),
        Cost.BillingPeriodEnd: (day.replace(day=1) + timedelta(days=32)).replace(day=1),
        Cost.ChargePeriodStart: day,
        Cost.ChargePeriodEnd: day + timedelta(hours=hours),
        Cost.ResourceId: rid,
        Cost.x_InstanceType: "p4d.24xlarge",
        Cost.x_GpuModel: "A100",
        Cost.x_GpuCount: 1,
        Cost.PricingQuantity: float(hours),
        Cost.PricingUnit: "Hours",
        Cost.BilledCost: Decimal(cost),
        Cost.EffectiveCost: Decimal(cost),
        Cost.x_BillingPeriod: period,
        Cost.Tags: _tag(team),
    }


def september() -> pl.DataFrame:
    day = datetime(2026, 9, 1, tzinfo=UTC)
    return cost_rows(
        _instance("2026-09", day, "i-nlp", "nlp", 1, "8.00"),
        _instance("2026-09", day, "i-vis", "vision", 1, "4.00"),
    )


def october() -> pl.DataFrame:
    day = datetime(2026, 10, 1, tzinfo=UTC)
    storage = {
        Cost.ServiceName: "Amazon Simple Storage Service",
        Cost.ResourceId: "bucket-logs",
        Cost.BilledCost: Decimal("3.00"),
        Cost.EffectiveCost: Decimal("3.00"),
    }
    return cost_rows(
        _instance("2026-10", day, "i-nlp", "nlp", 2, "20.00"),
        _instance("2026-10", day, "i-vis", "vision", 1, "5.00"),
        storage,
    )


def telemetry() -> pl.DataFrame:
    """i-nlp on 2026-10-01: 12 busy buckets in hour 0, 12 idle buckets in hour 1."""
    start = datetime(2026, 10, 1, tzinfo=UTC)
    common = {
        Usage.host: "gpu-host-1",
        Usage.ResourceId: "i-nlp",
        Usage.gpu_uuid: "GPU-nlp-0",
        Usage.gpu_model: "A100",
        Usage.mem_total_bytes: 40 * GIB,
        Usage.source: "file",
        Usage.x_BillingPeriod: "2026-10",
    }
    busy = [
        {
            **common,
            Usage.bucket_start: start + timedelta(minutes=5 * i),
            Usage.job: "train-llama",
            Usage.team: "nlp",
            Usage.model: "llama",
            Usage.sm_util: 50.0,
            Usage.mem_used_bytes: 10 * GIB,
        }
        for i in range(12)
    ]
    idle = [
        {
            **common,
            Usage.bucket_start: start + timedelta(hours=1, minutes=5 * i),
            Usage.active_seconds: 0.0,
            Usage.sm_util: None,
            Usage.mem_used_bytes: 0,
        }
        for i in range(12)
    ]
    return usage_rows(*busy, *idle)


def write_config(folder: Path, auth: str = "single-user") -> Path:
    path = folder / "gpuledger.toml"
    path.write_text(CONFIG.replace("{auth}", auth))
    return path


def build_ledger(home: Path, config: Path) -> Store:
    """Ingest both months, attribute them, close September: what a real deployment does."""
    store = Store(home)
    settings = load_settings(config)
    for frame in (september(), october()):
        store.replace_partitions("cost", frame, [Cost.x_Source, Cost.x_BillingPeriod])
    store.append("gpu_usage", telemetry())
    for period in ("2026-09", "2026-10"):
        run_attribution(store, settings, period)
    close_period(store, settings, "2026-09", force=True)
    return store
