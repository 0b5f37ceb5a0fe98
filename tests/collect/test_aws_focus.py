"""AWS's FOCUS export: recognized by its columns, ingested exactly, GPU facts from x_UsageType."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

FOCUS_FILE = FIXTURES / "aws" / "focus-1.2-synthetic-aws" / "focus_1_2_cost_and_usage_aws.csv.gz"


def test_focus_csv_totals_match_the_fixture_readme(store: Store, settings: Settings) -> None:
    result = aws.ingest(store, settings, str(FOCUS_FILE))
    assert (result.rows, result.quarantined) == (1000, 0)
    sums = store.read("cost").select(
        pl.col(Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost).sum()
    )
    assert sums.row(0) == (
        Decimal("18857.124623679033750"),
        Decimal("18857.124623679033750"),
        Decimal("27576.916662847891262"),
    )
    assert {p["invoiced"] for p in store.state.billing_periods()} == {1}


def test_focus_data_export_layout_with_usage_type(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Rows as a Data Export (Parquet + manifest); x_UsageType names the instance where the
    FOCUS columns (SkuPriceDetails) do not."""
    raw = pl.read_csv(FOCUS_FILE, infer_schema=False)
    rows = raw.filter(pl.col("SkuPriceDetails").is_null()).head(4)
    rows = rows.with_columns(
        pl.Series(
            "x_UsageType",
            ["USE1-BoxUsage:p5.48xlarge", "SpotUsage:g6e.12xlarge", "EBS:VolumeUsage.gp3", None],
        )
    )
    data = tmp_path / "focus" / "data" / "BILLING_PERIOD=2026-05"
    data.mkdir(parents=True)
    rows.write_parquet(data / "focus-00001.snappy.parquet")
    manifest = tmp_path / "focus" / "metadata" / "BILLING_PERIOD=2026-05" / "focus-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        json.dumps(
            {
                "executionId": "focus-exec",
                "dataFiles": [
                    "s3://b/p/focus/data/BILLING_PERIOD=2026-05/focus-00001.snappy.parquet"
                ],
            }
        )
    )
    aws.ingest(store, settings, str(tmp_path))
    got = (
        store.read("cost")
        .sort(Cost.x_SourceRow)
        .select(Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount)
        .rows()
    )
    assert got[:3] == [("p5.48xlarge", "H100", 8), ("g6e.12xlarge", "L40S", 4), (None, None, None)]
    assert store.state.delivery_of("aws", "100000000001", "2026-05") == "focus-exec"


def test_focus_export_with_an_unknown_currency_is_refused(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = pl.read_csv(FOCUS_FILE, infer_schema=False).head(3)
    rows.with_columns(pl.lit("US$").alias("BillingCurrency")).write_csv(tmp_path / "focus.csv")
    with pytest.raises(InputError, match="'BillingCurrency'"):
        aws.ingest(store, settings, str(tmp_path / "focus.csv"))
    assert store.read("cost").is_empty()
