"""AWS's FOCUS export gets the FOCUS collector's whole-delivery checks (issue #19 items 3 and 5):
a row repeated from an earlier file counts once, a row of another billing period is quarantined."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.quarantine import DUPLICATE
from gpuledger.config import Settings
from gpuledger.schema import Cost, Quarantine
from gpuledger.store.delta import Store
from tests.collect.test_aws_focus import FOCUS_FILE

PERIOD = "2026-05"


def _delivery(root: Path, files: list[pl.DataFrame]) -> Path:
    """A Data Exports FOCUS delivery of ``PERIOD``: Parquet files and their manifest."""
    data = root / "focus" / "data" / f"BILLING_PERIOD={PERIOD}"
    data.mkdir(parents=True)
    names = []
    for number, rows in enumerate(files, start=1):
        name = f"focus-{number:05d}.snappy.parquet"
        rows.write_parquet(data / name)
        names.append(f"s3://b/p/focus/data/BILLING_PERIOD={PERIOD}/{name}")
    manifest = root / "focus" / "metadata" / f"BILLING_PERIOD={PERIOD}" / "focus-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"executionId": "focus-exec", "dataFiles": names}))
    return root


def _source() -> pl.DataFrame:
    rows = pl.read_csv(FOCUS_FILE, infer_schema=False)
    return rows.filter(pl.col("BillingPeriodStart").str.starts_with(PERIOD)).head(6)


def _stored_and_quarantined(store: Store) -> tuple[Decimal, Decimal]:
    stored = store.read("cost").get_column(Cost.BilledCost).sum()
    quarantined = store.read("quarantine").get_column(Quarantine.cost).sum()
    return stored, quarantined


def test_a_row_delivered_in_two_files_is_stored_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = _source()
    result = aws.ingest(store, settings, str(_delivery(tmp_path, [rows, rows.head(1)])))
    assert (result.rows, result.quarantined) == (6, 1)
    reasons = store.read("quarantine").get_column(Quarantine.reason).to_list()
    assert reasons == [DUPLICATE]
    stored, quarantined = _stored_and_quarantined(store)
    source = rows.get_column("BilledCost").cast(pl.Decimal(38, 18)).sum()
    assert stored == source
    assert stored + quarantined == source + Decimal(rows.item(0, "BilledCost"))


def test_a_row_of_another_billing_period_is_quarantined(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = _source()
    other = rows.head(1).with_columns(
        pl.col("BillingPeriodStart").str.replace(PERIOD, "2026-06"),
        pl.col("BillingPeriodEnd").str.replace(PERIOD, "2026-06"),
        pl.col("ChargePeriodStart").str.replace(PERIOD, "2026-06"),
        pl.col("ChargePeriodEnd").str.replace(PERIOD, "2026-06"),
    )
    aws.ingest(store, settings, str(_delivery(tmp_path, [pl.concat([rows, other])])))
    periods = store.read("cost").get_column(Cost.x_BillingPeriod).unique().to_list()
    assert periods == [PERIOD]
    reasons = store.read("quarantine").get_column(Quarantine.reason).to_list()
    assert len(reasons) == 1
    assert "not a billing period of its export run (2026-05)" in reasons[0]
