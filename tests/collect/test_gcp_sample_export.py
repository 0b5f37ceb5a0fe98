"""The sample company's GCP export: the real layout, and money that adds up to the company model."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gpuledger.collect.gcp import collector as gcp
from gpuledger.config import Settings
from gpuledger.sample.company import Company, build_company
from gpuledger.sample.gcp_export import write_gcp_export
from gpuledger.schema import Cost
from gpuledger.store.delta import Store

EXPORT_FIELDS = [
    "billing_account_id", "service", "sku", "usage_start_time", "usage_end_time", "project",
    "labels", "system_labels", "location", "resource", "export_time", "cost", "currency",
    "currency_conversion_rate", "usage", "credits", "invoice", "cost_type", "cost_at_list",
]  # fmt: skip


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company(1, 7, ["2026-09", "2026-10"])


@pytest.fixture(scope="module")
def export(company: Company, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gcp")
    write_gcp_export(company, out)
    return out


@pytest.fixture(scope="module")
def raw_rows(export: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(export.glob("*.json.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows += [json.loads(line, parse_float=Decimal) for line in handle]
    return rows


def test_files_are_one_gzip_ndjson_per_invoice_month(export: Path) -> None:
    names = sorted(p.name for p in export.iterdir())
    assert names == [
        "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9-202609-000000000000.json.gz",
        "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9-202610-000000000000.json.gz",
    ]


def test_rows_have_the_export_fields_in_bq_extract_form(raw_rows: list[dict[str, Any]]) -> None:
    first = raw_rows[0]
    assert list(first) == EXPORT_FIELDS
    assert first["usage_start_time"].endswith(" UTC")
    assert set(first["project"]) == {"id", "number", "name", "labels"}
    assert first["project"]["number"].isdigit()
    assert set(first["resource"]) == {"name", "global_name"}


def test_each_gpu_instance_hour_is_gpu_core_and_ram_skus_of_one_resource(
    raw_rows: list[dict[str, Any]], company: Company
) -> None:
    gcp_instances = company.instances.filter(pl.col("provider") == "GCP")
    a3 = gcp_instances.filter(pl.col("instance_type") == "a3-highgpu-8g").row(0, named=True)
    hour = [
        r for r in raw_rows
        if r["resource"]["global_name"] == a3["resource_id"]
        and r["usage_start_time"] == "2026-10-05 12:00:00 UTC"
    ]  # fmt: skip
    skus = sorted(r["sku"]["description"] for r in hour)
    assert skus == [
        "A3 Instance Core running in Americas",
        "A3 Instance Ram running in Americas",
        "Nvidia H100 80GB GPU running in Americas",
    ]
    gpu_row = next(r for r in hour if "GPU" in r["sku"]["description"])
    assert gpu_row["usage"]["amount"] == Decimal("28800.0")  # 8 GPUs x 3600 s
    # the a3 runs under a CUD: on-demand price, committed-use credit down to the paid rate
    assert sum(Decimal(str(r["cost"])) for r in hour) == a3["on_demand_rate"]
    credits = [c for r in hour for c in r["credits"]]
    assert {c["type"] for c in credits} == {"COMMITTED_USAGE_DISCOUNT"}
    net = sum(Decimal(str(r["cost"])) for r in hour) + sum(
        Decimal(str(c["amount"])) for c in credits
    )
    assert net == a3["effective_rate"]


def test_spot_vms_are_billed_at_spot_skus(raw_rows: list[dict[str, Any]]) -> None:
    spot = [r for r in raw_rows if r["sku"]["description"].startswith("Spot Preemptible")]
    assert {r["sku"]["description"] for r in spot} == {
        "Spot Preemptible G2 Instance Core running in Americas",
        "Spot Preemptible G2 Instance Ram running in Americas",
        "Spot Preemptible Nvidia L4 GPU running in Americas",
    }


def test_late_usage_lands_on_the_next_invoice_month(raw_rows: list[dict[str, Any]]) -> None:
    late = {
        r["invoice"]["month"]
        for r in raw_rows
        if r["usage_start_time"] in ("2026-09-30 22:00:00 UTC", "2026-09-30 23:00:00 UTC")
        and r["resource"]["global_name"]
        and "/instances/" in r["resource"]["global_name"]
    }
    on_time = {
        r["invoice"]["month"]
        for r in raw_rows
        if r["usage_start_time"] == "2026-09-30 21:00:00 UTC"
    }
    assert (late, on_time) == ({"202610"}, {"202609"})


def _company_gcp_total(company: Company) -> Decimal:
    hours = company.instance_hours.join(
        company.instances.filter(pl.col("provider") == "GCP"), on="resource_id"
    )
    usage = hours.get_column("effective_rate").sum()
    charges = company.other_charges.filter(pl.col("provider") == "GCP").get_column("amount").sum()
    return Decimal(usage) + Decimal(charges)


def test_ingest_conserves_the_raw_export_and_the_company_model(
    export: Path, raw_rows: list[dict[str, Any]], company: Company, tmp_path: Path
) -> None:
    raw: dict[str, Decimal] = defaultdict(Decimal)
    for row in raw_rows:
        month = f"{row['invoice']['month'][:4]}-{row['invoice']['month'][4:]}"
        raw[month] += row["cost"] + sum((c["amount"] for c in row["credits"]), Decimal(0))
    store = Store(tmp_path / "home")

    result = gcp.ingest(store, Settings(), str(export))

    assert result.quarantined == 0
    stored = dict(
        store.read("cost")
        .group_by(Cost.x_BillingPeriod)
        .agg(pl.col(Cost.EffectiveCost).sum())
        .iter_rows()
    )
    assert stored == dict(raw)
    assert sum(stored.values()) == _company_gcp_total(company)


def test_every_gcp_gpu_instance_gets_its_catalog_gpu(
    export: Path, company: Company, tmp_path: Path
) -> None:
    store = Store(tmp_path / "home")
    gcp.ingest(store, Settings(), str(export))

    got = (
        store.read("cost")
        .filter(pl.col(Cost.x_GpuModel).is_not_null())
        .select(Cost.ResourceId, Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount)
        .unique()
        .sort(Cost.ResourceId)
    )
    expected = (
        company.instances.filter(pl.col("provider") == "GCP")
        .select(
            pl.col("resource_id").alias(Cost.ResourceId),
            pl.col("instance_type").alias(Cost.x_InstanceType),
            pl.col("gpu_model").alias(Cost.x_GpuModel),
            pl.col("gpu_count").alias(Cost.x_GpuCount),
        )
        .sort(Cost.ResourceId)
    )
    assert got.rows() == expected.rows()
