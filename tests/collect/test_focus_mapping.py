"""The FOCUS mapping, cell by cell, against hand-written rows and hand-computed expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.files import SourceFile
from gpuledger.collect.focus.collector import read_focus_file, read_table
from gpuledger.collect.focus.mapping import focus_to_cost, parse_focus, source_rows_as_json
from gpuledger.collect.focus.spec import check_header, detect_version
from gpuledger.errors import InputError
from gpuledger.schema import MONEY, TAGS, Cost
from tests.collect.focus_rows import BASE_ROW, write_focus_csv


def _map(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_focus_file(SourceFile(str(path), path.stat().st_size))


def test_sound_row_maps_to_exact_cost_columns(tmp_path: Path) -> None:
    rows, refused = _map(write_focus_csv(tmp_path / "f.csv", {}))

    assert refused.is_empty()
    got = rows.select(
        Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost,
        Cost.ChargePeriodStart, Cost.BillingPeriodStart, Cost.ChargeClass, Cost.PricingQuantity,
        Cost.x_SourceRow,
    )  # fmt: skip
    expected = pl.DataFrame(
        {
            Cost.BilledCost: [Decimal("12.5")],
            Cost.EffectiveCost: [Decimal("10.25")],
            Cost.ListCost: [Decimal("14")],
            Cost.ContractedCost: [Decimal("12.5")],
            Cost.ChargePeriodStart: [datetime(2026, 5, 3, tzinfo=UTC)],
            Cost.BillingPeriodStart: [datetime(2026, 5, 1, tzinfo=UTC)],
            Cost.ChargeClass: [None],
            Cost.PricingQuantity: [24.0],
            Cost.x_SourceRow: [1],
        },
        schema_overrides={
            Cost.BilledCost: MONEY,
            Cost.EffectiveCost: MONEY,
            Cost.ListCost: MONEY,
            Cost.ContractedCost: MONEY,
            Cost.ChargePeriodStart: pl.Datetime("us", "UTC"),
            Cost.BillingPeriodStart: pl.Datetime("us", "UTC"),
            Cost.ChargeClass: pl.String,
            Cost.x_SourceRow: pl.UInt32,
        },
    )
    assert_frame_equal(got, expected, check_dtypes=False)


@pytest.mark.parametrize(
    ("cells", "column", "expected"),
    [
        ({"ChargeCategory": "usage"}, Cost.ChargeCategory, "Usage"),
        ({"ChargeCategory": "CREDIT"}, Cost.ChargeCategory, "Credit"),
        ({"ChargeClass": "correction"}, Cost.ChargeClass, "Correction"),
        ({"PricingCategory": "dynamic"}, Cost.PricingCategory, "Dynamic"),
        ({"ServiceCategory": "ai and machine learning"}, Cost.ServiceCategory,
         "AI and Machine Learning"),
        ({"ChargeFrequency": "Usage-based"}, Cost.ChargeCategory, "Usage"),  # OCI's spelling
    ],
    ids=["usage", "credit", "correction", "dynamic", "service-category", "oci-frequency"],
)  # fmt: skip
def test_allowed_values_are_matched_case_insensitively(
    tmp_path: Path, cells: dict[str, str], column: str, expected: str
) -> None:
    rows, refused = _map(write_focus_csv(tmp_path / "f.csv", cells))

    assert refused.is_empty()
    assert rows.get_column(column).to_list() == [expected]


@pytest.mark.parametrize(
    ("cells", "column", "reason"),
    [
        ({"ChargeCategory": "Refund"}, "ChargeCategory", "ChargeCategory is not one of"),
        ({"ChargePeriodEnd": "2023-02-01T30:00:00Z"}, "ChargePeriodEnd",
         "ChargePeriodEnd is not a timestamp"),
        ({"BilledCost": "12,5"}, "BilledCost", "BilledCost is not a decimal number"),
        ({"EffectiveCost": None}, "EffectiveCost", "EffectiveCost is empty"),
        ({"BillingAccountId": None}, "BillingAccountId", "BillingAccountId is empty"),
        ({"BillingCurrency": "usd"}, "BillingCurrency", "not an ISO 4217 code"),
        ({"ChargePeriodEnd": "2026-05-02T00:00:00Z"}, "ChargePeriodEnd",
         "ChargePeriodEnd is before ChargePeriodStart"),
        ({"Tags": "team=nlp"}, "Tags", "Tags is not a JSON object"),
        ({"PricingCategory": "On-Demand"}, "PricingCategory", "PricingCategory is not one of"),
    ],
    ids=["category", "hour-30", "comma-decimal", "no-effective", "no-account", "currency",
         "negative-duration", "tags", "preview-pricing"],
)  # fmt: skip
def test_an_invalid_row_is_quarantined_with_its_reason(
    tmp_path: Path, cells: dict[str, str | None], column: str, reason: str
) -> None:
    path = write_focus_csv(tmp_path / "f.csv", {}, cells, {"BilledCost": "1"})

    rows, refused = _map(path)

    assert rows.get_column(Cost.x_SourceRow).to_list() == [1, 3]
    assert refused.height == 1
    bad = refused.row(0, named=True)
    assert (bad["row"], bad["column"], bad["file"]) == (2, column, str(path))
    assert reason in bad["reason"]
    raw = json.loads(bad["raw"])
    for key, value in cells.items():
        assert raw[key] == value


def test_tags_keep_odd_unicode_empty_values_and_json_spelling_of_numbers(tmp_path: Path) -> None:
    tags = '{"チーム": "视觉 ✓", "empty": "", "size": 500, "none": null, " org": "trey"}'
    rows, _ = _map(write_focus_csv(tmp_path / "f.csv", {"Tags": tags}, {"Tags": None}))

    expected = pl.Series(
        Cost.Tags,
        [
            [
                {"key": "チーム", "value": "视觉 ✓", "origin": "resource"},
                {"key": "empty", "value": "", "origin": "resource"},
                {"key": "size", "value": "500", "origin": "resource"},
                {"key": "none", "value": "", "origin": "resource"},
                {"key": " org", "value": "trey", "origin": "resource"},
            ],
            [],
        ],
        dtype=TAGS,
    )
    assert_frame_equal(rows.select(Cost.Tags), expected.to_frame())


@pytest.mark.parametrize(
    ("cells", "instance_type", "gpu_model", "gpu_count"),
    [
        ({"x_SkuDetails": '{"ServiceType":"Standard_ND96isr_H100_v5","VCPUs":96}'},
         "Standard_ND96isr_H100_v5", "H100", 8),
        ({"SkuPriceDetails": '{"InstanceType":"Standard_NC24ads_A100_v4","CoreCount":24}',
          "InvoiceId": "INV-1"}, "Standard_NC24ads_A100_v4", "A100 80GB", 1),
        ({"SkuPriceDetails": '{"InstanceType":"Standard_NC80adis_H100_v5","GpuCount":2}',
          "InvoiceId": "INV-1"}, "Standard_NC80adis_H100_v5", "H100 NVL", 2),
        ({"x_InstanceType": "Standard_NC4as_T4_v3", "x_GpuCount": "1"},
         "Standard_NC4as_T4_v3", "T4", 1),
        ({"ProviderName": "AWS", "ChargeDescription": "$55.04 per On Demand Linux p5.48xlarge Instance Hour"},
         "p5.48xlarge", "H100", 8),
        ({"x_SkuDetails": '{"ServiceType":"Standard_D4s_v5"}'}, "Standard_D4s_v5", None, None),
    ],
    ids=["azure-x-sku-details", "focus-1.2-sku-price-details", "gpu-count-from-source",
         "x-instance-type", "aws-description", "not-a-gpu"],
)  # fmt: skip
def test_gpu_facts_come_from_the_row_or_the_catalog(
    tmp_path: Path,
    cells: dict[str, str],
    instance_type: str,
    gpu_model: str | None,
    gpu_count: int | None,
) -> None:
    rows, refused = _map(write_focus_csv(tmp_path / "f.csv", cells))

    assert refused.is_empty()
    got = rows.select(Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount).row(0)
    assert got == (instance_type, gpu_model, gpu_count)


def test_provider_x_columns_are_kept_verbatim(tmp_path: Path) -> None:
    cells = {"x_ResourceGroupName": "ml", "x_SkuMeterName": "ND96isr H100 v5", "x_Empty": None}
    rows, _ = _map(write_focus_csv(tmp_path / "f.csv", cells))

    kept = json.loads(rows.get_column(Cost.x_ProviderColumns)[0])
    assert kept == {
        "x_ResourceGroupName": "ml",
        "x_SkuMeterName": "ND96isr H100 v5",
        "x_Empty": None,
    }


def test_parquet_with_typed_columns_maps_like_the_csv(tmp_path: Path) -> None:
    csv_path = write_focus_csv(tmp_path / "f.csv", {}, {"BilledCost": "0.000001", "Tags": None})
    text = read_table(SourceFile(str(csv_path), 0))
    typed = text.with_columns(
        *[pl.col(c).str.to_decimal(scale=12) for c in ("BilledCost", "EffectiveCost", "ListCost",
                                                       "ContractedCost")],
        *[pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
          for c in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart",
                    "ChargePeriodEnd")],
        pl.col("PricingQuantity").cast(pl.Float64),
    )  # fmt: skip
    parquet_path = tmp_path / "f.parquet"
    typed.write_parquet(parquet_path)

    from_csv, _ = _map(csv_path)
    from_parquet, _ = _map(parquet_path)

    assert_frame_equal(
        from_csv.drop(Cost.x_SourceFile), from_parquet.drop(Cost.x_SourceFile), check_dtypes=False
    )


@pytest.mark.parametrize(
    ("extra", "version"),
    [
        ({}, "1.0"),
        ({"SkuPriceDetails": "{}"}, "1.1"),
        ({"SkuPriceDetails": "{}", "InvoiceId": "INV-1"}, "1.2"),
    ],
    ids=["1.0", "1.1", "1.2"],
)
def test_version_detection(extra: dict[str, str], version: str) -> None:
    assert detect_version([*BASE_ROW, *extra]) == version


def test_preview_names_are_renamed_to_their_1_0_names(tmp_path: Path) -> None:
    preview = {"Provider": "Microsoft", "Publisher": "Microsoft", "InvoiceIssuer": "Microsoft"}
    base = {k: v for k, v in BASE_ROW.items() if k not in ("ProviderName", "PublisherName",
                                                             "InvoiceIssuerName")}  # fmt: skip
    frame = pl.DataFrame([{**base, **preview}])

    assert check_header(frame.columns, "f.csv") == "1.0-preview"
    mapped = focus_to_cost(frame.lazy()).collect()
    assert mapped.get_column(Cost.ProviderName).to_list() == ["Microsoft"]


def test_header_without_mandatory_columns_names_them(tmp_path: Path) -> None:
    columns = [c for c in BASE_ROW if c not in ("BilledCost", "ServiceName")]

    with pytest.raises(InputError, match=r"f\.csv: not a FOCUS 1\.0 .* BilledCost, ServiceName"):
        check_header(columns, "f.csv")


def test_parse_marks_every_row_and_keeps_the_source_row() -> None:
    frame = pl.DataFrame([BASE_ROW, {**BASE_ROW, "BilledCost": "x"}])

    parsed = parse_focus(frame.lazy()).collect()
    refused = parsed.filter(pl.col("_reason").is_not_null()).get_column(Cost.x_SourceRow)
    raw = source_rows_as_json(frame.lazy(), refused)

    assert parsed.get_column("_reason").to_list() == [None, "BilledCost is not a decimal number"]
    assert raw.get_column(Cost.x_SourceRow).to_list() == [2]
    assert json.loads(raw.get_column("_raw")[0])["BilledCost"] == "x"
