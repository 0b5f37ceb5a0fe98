"""The GCP export mapping against a hand-written export and hand-computed expectations.

``tests/fixtures/gcp/export_resource_v1.json`` has 16 rows (one per line, numbered below as in
``x_SourceRow``): an a2-highgpu-1g instance billed as GPU + vCPU + RAM SKUs under a CUD, an N1
with two attached T4s under sustained-use discounts, a Spot L4, storage under the free tier,
BigQuery under a promotion, Cloud SQL under a spend-based CUD, a commitment fee, tax, an
adjustment, a rounding error, late September usage invoiced in October, October usage, and a
Vertex AI row carrying the four remaining credit types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.gcp.collector import read_files
from gpuledger.config import Settings
from gpuledger.schema import MONEY, TAGS, Cost
from tests.conftest import FIXTURES

EXPORT = FIXTURES / "gcp" / "export_resource_v1.json"
D = Decimal
CUD, SPEND_CUD = "Resource-based CUD", "Spend-based CUD"
X = "//compute.googleapis.com/projects/nlp-train/zones/us-central1-a/instances/4412000000000000001"
Y = "//compute.googleapis.com/projects/nlp-train/zones/us-central1-b/instances/4412000000000000002"

COLUMNS = (
    Cost.ChargeCategory,
    Cost.ChargeClass,
    Cost.PricingCategory,
    Cost.x_CreditType,
    Cost.BilledCost,
    Cost.EffectiveCost,
    Cost.CommitmentDiscountType,
)

# source row → its lines: (category, class, pricing, credit type, billed, effective, commitment)
EXPECTED = {
    1: [("Usage", None, "Committed", None, D("2.934"), D("0.934"), CUD),
        ("Credit", None, None, "COMMITTED_USAGE_DISCOUNT", D("-2.0"), D("0"), CUD)],
    2: [("Usage", None, "Committed", None, D("0.379"), D("0.179"), CUD),
        ("Credit", None, None, "COMMITTED_USAGE_DISCOUNT", D("-0.2"), D("0"), CUD)],
    3: [("Usage", None, "Standard", None, D("0.0507"), D("0.0507"), None)],
    4: [("Usage", None, "Standard", None, D("0.70"), D("0.56"), None),
        ("Credit", None, None, "SUSTAINED_USAGE_DISCOUNT", D("-0.14"), D("0"), None)],
    5: [("Usage", None, "Standard", None, D("0.30"), D("0.24"), None),
        ("Credit", None, None, "SUSTAINED_USAGE_DISCOUNT", D("-0.06"), D("0"), None)],
    6: [("Usage", None, "Dynamic", None, D("0.22"), D("0.22"), None)],
    7: [("Usage", None, "Standard", None, D("0.05"), D("0"), None),
        ("Credit", None, None, "FREE_TIER", D("-0.05"), D("0"), None)],
    8: [("Usage", None, "Standard", None, D("1.25"), D("0"), None),
        ("Credit", None, None, "PROMOTION", D("-1.25"), D("0"), None)],
    9: [("Usage", None, "Committed", None, D("0.40"), D("0.30"), SPEND_CUD),
        ("Credit", None, None, "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE", D("-0.10"), D("0"),
         SPEND_CUD)],
    10: [("Purchase", None, "Standard", None, D("10"), D("10"), None)],
    11: [("Tax", None, None, None, D("1.23"), D("1.23"), None)],
    12: [("Adjustment", "Correction", None, None, D("-0.75"), D("-0.75"), None)],
    13: [("Adjustment", None, None, None, D("-0.01"), D("-0.01"), None)],
    14: [("Usage", None, "Standard", None, D("0.5"), D("0.5"), None)],
    15: [("Usage", None, "Standard", None, D("0.8"), D("0.8"), None)],
    16: [("Usage", None, "Standard", None, D("2.0"), D("1.5"), None),
         ("Credit", None, None, "DISCOUNT", D("-0.1"), D("0"), None),
         ("Credit", None, None, "FEE_UTILIZATION_OFFSET", D("-0.15"), D("0"), None),
         ("Credit", None, None, "RESELLER_MARGIN", D("-0.05"), D("0"), None),
         ("Credit", None, None, "SUBSCRIPTION_BENEFIT", D("-0.2"), D("0"), None)],
}  # fmt: skip
NAMES = {
    1: "a100-gpu-sku-cud", 2: "a2-core-cud", 3: "a2-ram", 4: "t4-gpu-sud", 5: "n1-core-sud",
    6: "spot-l4", 7: "free-tier", 8: "promotion", 9: "spend-based-cud", 10: "commitment-fee",
    11: "tax", 12: "adjustment", 13: "rounding-error", 14: "late-usage", 15: "october",
    16: "other-credit-types",
}  # fmt: skip


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    batch = read_files(str(EXPORT), [], Settings(), tmp_path_factory.mktemp("staging"))
    assert batch.quarantine.is_empty()
    return batch.rows.lazy().collect()


@pytest.mark.parametrize("source_row", list(EXPECTED), ids=[NAMES[r] for r in EXPECTED])
def test_each_export_row_maps_to_hand_computed_lines(mapped: pl.DataFrame, source_row: int) -> None:
    got = (
        mapped.filter(pl.col(Cost.x_SourceRow) == source_row)
        .sort(Cost.ChargeCategory, Cost.x_CreditType, descending=[True, False], nulls_last=False)
        .select(COLUMNS)
    )
    expected = pl.DataFrame(
        EXPECTED[source_row],
        schema={
            Cost.ChargeCategory: pl.String,
            Cost.ChargeClass: pl.String,
            Cost.PricingCategory: pl.String,
            Cost.x_CreditType: pl.String,
            Cost.BilledCost: MONEY,
            Cost.EffectiveCost: MONEY,
            Cost.CommitmentDiscountType: pl.String,
        },
        orient="row",
    )
    assert_frame_equal(got, expected)


@pytest.mark.parametrize(
    ("period", "billed", "effective", "gross", "credits", "listed"),
    [
        ("2026-09", D("14.4537"), D("14.4537"), D("18.7537"), D("-4.30"), D("19.2537")),
        ("2026-10", D("1.3"), D("1.3"), D("1.3"), D("0"), D("1.3")),
    ],
    ids=["september", "october"],
)
def test_invoice_month_totals_conserve_cost_plus_credits(
    mapped: pl.DataFrame,
    period: str,
    billed: Decimal,
    effective: Decimal,
    gross: Decimal,
    credits: Decimal,
    listed: Decimal,
) -> None:
    month = mapped.filter(pl.col(Cost.BillingPeriodStart).dt.strftime("%Y-%m") == period)
    is_credit = pl.col(Cost.ChargeCategory) == "Credit"

    assert month.get_column(Cost.BilledCost).sum() == billed
    assert month.get_column(Cost.EffectiveCost).sum() == effective
    assert month.filter(~is_credit).get_column(Cost.BilledCost).sum() == gross
    assert (month.filter(is_credit).get_column(Cost.BilledCost).sum() or D(0)) == credits
    assert effective == gross + credits
    assert month.get_column(Cost.ListCost).sum() == listed


def test_late_usage_belongs_to_the_invoice_month_it_lands_on(mapped: pl.DataFrame) -> None:
    late = mapped.filter(pl.col(Cost.x_SourceRow) == 14).row(0, named=True)

    assert late[Cost.ChargePeriodStart] == datetime(2026, 9, 30, 23, tzinfo=UTC)
    assert late[Cost.BillingPeriodStart] == datetime(2026, 10, 1, tzinfo=UTC)
    assert late[Cost.BillingPeriodEnd] == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "resource", "instance_type", "gpu_model", "gpu_count", "gpu_sku_row"),
    [
        ([1, 2, 3], X, "a2-highgpu-1g", "A100 40GB", 1, 1),
        ([4, 5], Y, "n1-standard-8", "T4", 2, 4),
    ],
    ids=["a2-bundled-gpu", "n1-attached-t4"],
)
def test_gpu_sku_and_machine_rows_land_on_one_instance(
    mapped: pl.DataFrame,
    rows: list[int],
    resource: str,
    instance_type: str,
    gpu_model: str,
    gpu_count: int,
    gpu_sku_row: int,
) -> None:
    usage = mapped.filter(
        pl.col(Cost.x_SourceRow).is_in(rows) & (pl.col(Cost.ChargeCategory) == "Usage")
    ).sort(Cost.x_SourceRow)

    facts = usage.select(
        Cost.ResourceId, Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount,
        Cost.x_AcceleratorKind,
    ).unique()  # fmt: skip
    assert facts.rows() == [(resource, instance_type, gpu_model, gpu_count, "gpu")]
    parents = usage.get_column(Cost.x_ParentResourceId).to_list()
    assert parents == [resource if r == gpu_sku_row else None for r in rows]
    hour = usage.select(Cost.ChargePeriodStart).unique().item()
    assert hour == datetime(2026, 9, 10, tzinfo=UTC)


def test_credit_rows_and_other_services_carry_no_gpu_facts(mapped: pl.DataFrame) -> None:
    others = mapped.filter(
        (pl.col(Cost.ChargeCategory) != "Usage")
        | ~pl.col(Cost.x_SourceRow).is_in([1, 2, 3, 4, 5, 6, 14, 15])
    )
    assert others.get_column(Cost.x_GpuModel).null_count() == others.height


def test_labels_keep_odd_unicode_empty_values_and_their_origin(mapped: pl.DataFrame) -> None:
    tags = mapped.filter(
        (pl.col(Cost.x_SourceRow) == 4) & (pl.col(Cost.ChargeCategory) == "Usage")
    ).select(Cost.Tags)

    expected = pl.Series(
        Cost.Tags,
        [
            [
                {"key": "チーム", "value": "视觉 ✓", "origin": "resource"},
                {"key": "empty", "value": "", "origin": "resource"},
                {"key": "cost-center", "value": "cc-42", "origin": "project"},
            ]
        ],
        dtype=TAGS,
    ).to_frame()
    assert_frame_equal(tags, expected)


def test_system_labels_are_tags_of_origin_system(mapped: pl.DataFrame) -> None:
    tags = mapped.filter(
        (pl.col(Cost.x_SourceRow) == 2) & (pl.col(Cost.ChargeCategory) == "Usage")
    ).get_column(Cost.Tags)[0]

    system = [(t["key"], t["value"]) for t in tags if t["origin"] == "system"]
    assert system == [
        ("compute.googleapis.com/machine_spec", "a2-highgpu-1g"),
        ("compute.googleapis.com/cores", "12"),
    ]


def test_project_and_account_columns(mapped: pl.DataFrame) -> None:
    first = mapped.filter(pl.col(Cost.x_SourceRow) == 1).row(0, named=True)

    assert first[Cost.BillingAccountId] == "01A2B3-C4D5E6-F70819"
    assert (first[Cost.SubAccountId], first[Cost.SubAccountName]) == ("nlp-train", "NLP Training")
    assert (first[Cost.ProviderName], first[Cost.ServiceCategory]) == ("GCP", "Compute")
    assert first[Cost.ResourceName] == "train-a2-0"
    assert first[Cost.CommitmentDiscountId] == "commitments/a100-1y"
    assert first[Cost.BillingCurrency] == "USD"
    assert first[Cost.ConsumedQuantity] == 3600.0
    assert (first[Cost.PricingQuantity], first[Cost.PricingUnit]) == (1.0, "hour")
