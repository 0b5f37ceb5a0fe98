"""A small on-prem cluster and its telemetry, shared by the on-prem tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.config import ClusterConfig, Settings
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage

FEBRUARY = datetime(2026, 2, 1, tzinfo=UTC)
AFTER_FEBRUARY = datetime(2026, 3, 2, tzinfo=UTC)


def dgx(**changes: Any) -> ClusterConfig:
    """Two hosts × 8 H100, bought mid-January 2026: $10,000 hardware + $1,000 support + $2,000
    colocation a month; energy $0.20/kWh from February 2026, PUE 1.25, idle GPU 70 W."""
    fields: dict[str, Any] = {
        "name": "dgx",
        "hosts": ["dgx-01", "dgx-02"],
        "gpu_model": "H100",
        "gpus_per_host": 8,
        "purchase_cost": Decimal(360_000),
        "purchase_date": date(2026, 1, 15),
        "amortization_months": 36,
        "support_per_year": Decimal(12_000),
        "colocation_per_month": Decimal(2_000),
        "energy_prices": [
            {"since": "2025-01", "per_kwh": Decimal("0.30")},
            {"since": "2026-02", "per_kwh": Decimal("0.20")},
            {"since": "2026-06", "per_kwh": Decimal("0.25")},
        ],
        "pue": Decimal("1.25"),
        "idle_power_w": 70.0,
        "tdp_w": 700.0,
        "team": "research",
    }
    fields.update(changes)
    return ClusterConfig.model_validate(fields)


def with_clusters(*clusters: ClusterConfig, **settings: Any) -> Settings:
    return Settings.model_validate({"clusters": [c.model_dump() for c in clusters], **settings})


def power_buckets(
    host: str,
    *,
    hour: datetime = FEBRUARY,
    watts: float = 500.0,
    gpus: int = 8,
    team: str | None = None,
    active: float = 300.0,
    resource_id: str | None = None,
) -> list[dict[str, Any]]:
    """One hour of 5-minute agent buckets on every GPU of ``host``, each drawing ``watts``."""
    return [
        {
            Usage.bucket_start: hour + timedelta(minutes=5 * n),
            Usage.bucket_seconds: 300,
            Usage.host: host,
            Usage.ResourceId: resource_id if resource_id is not None else host,
            Usage.gpu_uuid: f"{host}-GPU-{gpu}",
            Usage.gpu_index: gpu,
            Usage.gpu_model: "NVIDIA H100 80GB HBM3",
            Usage.team: team,
            Usage.pod: None if team is None else f"{team}-job",
            Usage.active_seconds: active if team else 0.0,
            Usage.sm_util: 80.0 if team else 0.0,
            Usage.power_w: watts,
            Usage.samples: 300,
            Usage.source: "agent",
            Usage.x_BillingPeriod: hour.strftime("%Y-%m"),
        }
        for gpu in range(gpus)
        for n in range(12)
    ]


def usage(rows: list[dict[str, Any]]) -> pl.DataFrame:
    columns = sorted({key for row in rows for key in row})
    return pl.DataFrame(rows, schema={c: GPU_USAGE_SCHEMA[c] for c in columns})
