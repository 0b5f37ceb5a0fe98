"""The sample company's Azure FOCUS export: the real layout, GPU sizes, money of the company model."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.focus import collector as focus
from gpuledger.collect.focus.spec import MANDATORY, check_header
from gpuledger.config import Settings
from gpuledger.sample.company import Company, build_company
from gpuledger.sample.focus_export import write_focus_export
from gpuledger.schema import Cost
from gpuledger.store.delta import Store


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company(1, 7, ["2026-09", "2026-10"])


@pytest.fixture(scope="module")
def export(company: Company, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("azure")
    write_focus_export(company, out)
    return out


def test_layout_is_export_name_period_run_id_part_file_with_manifest(export: Path) -> None:
    files = sorted(str(p.relative_to(export)) for p in export.rglob("*") if p.is_file())

    assert len(files) == 4
    assert files[0].startswith("acme-focus-cost/20260901-20260930/")
    assert files[0].endswith("/manifest.json")
    assert files[1].endswith("/part_0_0001.csv")
    manifest = json.loads((export / files[0]).read_text())
    with (export / files[1]).open(encoding="utf-8") as handle:
        data_rows = sum(1 for _ in csv.DictReader(handle))
    assert manifest["dataRowCount"] == data_rows
    assert manifest["exportConfig"]["type"] == "FocusCost"


def test_header_is_focus_1_0_with_microsoft_columns(export: Path) -> None:
    part = next(export.rglob("part_0_0001.csv"))
    header = part.read_text(encoding="utf-8").splitlines()[0].split(",")

    assert check_header(header, str(part)) == "1.0"
    assert set(header) >= MANDATORY
    assert {"x_SkuDetails", "x_ResourceGroupName", "x_SkuMeterCategory"} <= set(header)


def _company_azure_total(company: Company) -> Decimal:
    hours = company.instance_hours.join(
        company.instances.filter(pl.col("provider") == "Microsoft"), on="resource_id"
    )
    charges = company.other_charges.filter(pl.col("provider") == "Microsoft")
    return Decimal(hours.get_column("effective_rate").sum()) + Decimal(
        charges.get_column("amount").sum()
    )


def test_ingest_stores_everything_and_reconciles_to_the_company_model(
    export: Path, company: Company, tmp_path: Path
) -> None:
    store = Store(tmp_path / "home")

    result = focus.ingest(store, Settings(), str(export))

    assert result.quarantined == 0
    stored = store.read("cost")
    assert stored.get_column(Cost.BilledCost).sum() == _company_azure_total(company)
    assert stored.get_column(Cost.EffectiveCost).sum() == _company_azure_total(company)
    assert sorted(stored.get_column(Cost.x_BillingPeriod).unique()) == ["2026-09", "2026-10"]


def test_vm_rows_carry_the_azure_gpu_size(export: Path, company: Company, tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    focus.ingest(store, Settings(), str(export))

    got = (
        store.read("cost")
        .filter(pl.col(Cost.ServiceName) == "Virtual Machines")
        .select(Cost.ResourceId, Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount)
        .unique()
        .sort(Cost.ResourceId)
    )
    expected = (
        company.instances.filter(pl.col("provider") == "Microsoft")
        .select("resource_id", "instance_type", "gpu_model", "gpu_count")
        .sort("resource_id")
    )
    assert got.rows() == expected.rows()
    tags = store.read("cost").filter(pl.col(Cost.x_InstanceType) == "Standard_ND96isr_H100_v5")
    assert {"key": "team", "value": "NLP", "origin": "resource"} in tags.get_column(Cost.Tags)[0]
