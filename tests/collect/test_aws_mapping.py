"""CUR 2.0 / legacy CUR line items → cost rows, pinned against hand-computed expectations."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.aws.read import read_file
from gpuledger.collect.files import SourceFile
from gpuledger.schema import Cost
from tests.collect.aws_export import cur2_csv, cur2_rows, legacy_csv, write_parquet

SP_ARN = "arn:aws:savingsplans::999999999999:savingsplan/abc"
RI_ARN = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/r-1"

# (raw overrides, ChargeCategory, ChargeClass, PricingCategory, Billed, Effective, List, commitment)
CASES: dict[str, tuple[dict[str, Any], str, str | None, str | None, str, str, str, str | None]] = {
    "on-demand usage": ({}, "Usage", None, "Standard", "55.04", "55.04", "55.04", None),
    "spot usage": (
        {
            Cur.line_item_usage_type: "SpotUsage:g6.xlarge",
            Cur.product_instance_type: "g6.xlarge",
            Cur.pricing_term: "Spot",
            Cur.line_item_unblended_cost: 0.305824,
            Cur.pricing_public_on_demand_cost: 0.8048,
        },
        "Usage",
        None,
        "Dynamic",
        "0.305824",
        "0.305824",
        "0.8048",
        None,
    ),
    "savings plan covered usage": (
        {
            Cur.line_item_line_item_type: "SavingsPlanCoveredUsage",
            Cur.savings_plan_savings_plan_a_r_n: SP_ARN,
            Cur.savings_plan_savings_plan_effective_cost: 39.6288,
        },
        "Usage",
        None,
        "Committed",
        "55.04",
        "39.6288",
        "55.04",
        "Savings Plan",
    ),
    "savings plan negation": (
        {
            Cur.line_item_line_item_type: "SavingsPlanNegation",
            Cur.savings_plan_savings_plan_a_r_n: SP_ARN,
            Cur.line_item_unblended_cost: -55.04,
            Cur.pricing_public_on_demand_cost: 0.0,
        },
        "Usage",
        None,
        "Committed",
        "-55.04",
        "0",
        "0",
        "Savings Plan",
    ),
    "savings plan recurring fee, part unused": (
        {
            Cur.line_item_line_item_type: "SavingsPlanRecurringFee",
            Cur.savings_plan_savings_plan_a_r_n: SP_ARN,
            Cur.line_item_unblended_cost: 40.0,
            Cur.pricing_public_on_demand_cost: None,
            Cur.savings_plan_total_commitment_to_date: 40.0,
            Cur.savings_plan_used_commitment: 31.5,
        },
        "Purchase",
        None,
        "Committed",
        "40",
        "8.5",
        "0",
        "Savings Plan",
    ),
    "savings plan upfront fee": (
        {
            Cur.line_item_line_item_type: "SavingsPlanUpfrontFee",
            Cur.savings_plan_savings_plan_a_r_n: SP_ARN,
            Cur.line_item_unblended_cost: 1000.0,
            Cur.pricing_public_on_demand_cost: None,
        },
        "Purchase",
        None,
        "Committed",
        "1000",
        "0",
        "0",
        "Savings Plan",
    ),
    "reserved (discounted) usage": (
        {
            Cur.line_item_line_item_type: "DiscountedUsage",
            Cur.line_item_usage_type: "BoxUsage:p4d.24xlarge",
            Cur.product_instance_type: "p4d.24xlarge",
            Cur.reservation_reservation_a_r_n: RI_ARN,
            Cur.line_item_unblended_cost: 0.0,
            Cur.reservation_effective_cost: 13.61373804,
            Cur.pricing_public_on_demand_cost: 21.957642,
        },
        "Usage",
        None,
        "Committed",
        "0",
        "13.61373804",
        "21.957642",
        "Reservation",
    ),
    "RI fee, part unused": (
        {
            Cur.line_item_line_item_type: "RIFee",
            Cur.reservation_reservation_a_r_n: RI_ARN,
            Cur.line_item_unblended_cost: 9801.8913888,
            Cur.pricing_public_on_demand_cost: None,
            Cur.reservation_unused_amortized_upfront_fee_for_billing_period: 12.5,
            Cur.reservation_unused_recurring_fee: 136.1373804,
        },
        "Purchase",
        None,
        "Committed",
        "9801.8913888",
        "148.6373804",
        "0",
        "Reservation",
    ),
    "reservation upfront fee": (
        {
            Cur.line_item_line_item_type: "Fee",
            Cur.reservation_reservation_a_r_n: RI_ARN,
            Cur.line_item_unblended_cost: 5000.0,
            Cur.pricing_public_on_demand_cost: None,
        },
        "Purchase",
        None,
        "Committed",
        "5000",
        "0",
        "0",
        "Reservation",
    ),
    "support fee": (
        {
            Cur.line_item_line_item_type: "Fee",
            Cur.line_item_product_code: "AWSSupportBusiness",
            Cur.line_item_unblended_cost: 2516.08,
            Cur.pricing_public_on_demand_cost: None,
        },
        "Purchase",
        None,
        "Standard",
        "2516.08",
        "2516.08",
        "0",
        None,
    ),
    "tax": (
        {Cur.line_item_line_item_type: "Tax", Cur.line_item_unblended_cost: 353.58},
        "Tax",
        None,
        None,
        "353.58",
        "353.58",
        "55.04",
        None,
    ),
    "credit": (
        {
            Cur.line_item_line_item_type: "Credit",
            Cur.line_item_unblended_cost: -1500.0,
            Cur.pricing_public_on_demand_cost: None,
        },
        "Credit",
        None,
        None,
        "-1500",
        "-1500",
        "0",
        None,
    ),
    "refund": (
        {
            Cur.line_item_line_item_type: "Refund",
            Cur.line_item_unblended_cost: -212.5,
            Cur.pricing_public_on_demand_cost: None,
        },
        "Adjustment",
        "Correction",
        None,
        "-212.5",
        "-212.5",
        "0",
        None,
    ),
    "enterprise discount": (
        {
            Cur.line_item_line_item_type: "EdpDiscount",
            Cur.line_item_unblended_cost: -10.25,
            Cur.pricing_public_on_demand_cost: None,
        },
        "Credit",
        None,
        None,
        "-10.25",
        "-10.25",
        "0",
        None,
    ),
}


def read_rows(path: Path) -> pl.DataFrame:
    rows, refused, _ = read_file(SourceFile(str(path), 0))
    assert refused.is_empty(), refused.get_column("reason").to_list()
    return rows


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_line_item_types_map_to_focus_charges(case: tuple[Any, ...], tmp_path: Path) -> None:
    raw, category, charge_class, pricing, billed, effective, listed, commitment = case
    path = write_parquet(cur2_rows(raw), tmp_path / "cur.parquet")
    row = read_rows(path).row(0, named=True)
    got = (
        row[Cost.ChargeCategory],
        row[Cost.ChargeClass],
        row[Cost.PricingCategory],
        row[Cost.BilledCost],
        row[Cost.EffectiveCost],
        row[Cost.ListCost],
        row[Cost.CommitmentDiscountType],
    )
    assert got == (
        category,
        charge_class,
        pricing,
        Decimal(billed),
        Decimal(effective),
        Decimal(listed),
        commitment,
    )
    assert row[Cost.x_LineItemType] == raw.get(Cur.line_item_line_item_type, "Usage")


def test_usage_line_carries_accounts_times_and_gpu_facts(tmp_path: Path) -> None:
    path = write_parquet(cur2_rows({}), tmp_path / "cur.parquet")
    row = read_rows(path).row(0, named=True)
    assert {
        k: row[k]
        for k in (
            Cost.BillingAccountId,
            Cost.SubAccountId,
            Cost.ProviderName,
            Cost.ServiceName,
            Cost.ServiceCategory,
            Cost.RegionId,
            Cost.ResourceId,
            Cost.ConsumedQuantity,
            Cost.BillingCurrency,
            Cost.x_InstanceType,
            Cost.x_GpuModel,
            Cost.x_GpuCount,
            Cost.x_AcceleratorKind,
            Cost.x_LineItemId,
            Cost.x_SourceRow,
        )
    } == {
        Cost.BillingAccountId: "999999999999",
        Cost.SubAccountId: "111111111111",
        Cost.ProviderName: "AWS",
        Cost.ServiceName: "AmazonEC2",
        Cost.ServiceCategory: "Compute",
        Cost.RegionId: "us-east-1",
        Cost.ResourceId: "i-0aaaaaaaaaaaaaaa1",
        Cost.ConsumedQuantity: 1.0,
        Cost.BillingCurrency: "USD",
        Cost.x_InstanceType: "p5.48xlarge",
        Cost.x_GpuModel: "H100",
        Cost.x_GpuCount: 8,
        Cost.x_AcceleratorKind: "gpu",
        Cost.x_LineItemId: "li-0001",
        Cost.x_SourceRow: 1,
    }
    assert str(row[Cost.ChargePeriodStart]) == "2026-10-01 00:00:00+00:00"
    assert str(row[Cost.BillingPeriodEnd]) == "2026-11-01 00:00:00+00:00"


INSTANCES = {
    "sagemaker training from the usage type": (
        {
            Cur.line_item_product_code: "AmazonSageMaker",
            Cur.product_instance_type: None,
            Cur.line_item_usage_type: "USE1-ml.p4d.24xlarge-Training",
        },
        ("ml.p4d.24xlarge", "A100 40GB", 8, "gpu"),
    ),
    "spot in another region": (
        {Cur.product_instance_type: None, Cur.line_item_usage_type: "USE2-SpotUsage:g5.12xlarge"},
        ("g5.12xlarge", "A10G", 4, "gpu"),
    ),
    "trainium": (
        {Cur.product_instance_type: "trn1.32xlarge"},
        ("trn1.32xlarge", "Trainium", 16, "trainium"),
    ),
    "inferentia": (
        {Cur.product_instance_type: "inf2.48xlarge"},
        ("inf2.48xlarge", "Inferentia2", 12, "inferentia"),
    ),
    "h200": ({Cur.product_instance_type: "p5e.48xlarge"}, ("p5e.48xlarge", "H200", 8, "gpu")),
    "sagemaker hosting type in the product": (
        {
            Cur.line_item_product_code: "AmazonSageMaker",
            Cur.product_instance_type: "ml.g5.12xlarge",
        },
        ("ml.g5.12xlarge", "A10G", 4, "gpu"),
    ),
    "cpu instance": ({Cur.product_instance_type: "m6i.2xlarge"}, ("m6i.2xlarge", None, None, None)),
    "storage": (
        {Cur.product_instance_type: None, Cur.line_item_usage_type: "EBS:VolumeUsage.gp3"},
        (None, None, None, None),
    ),
}


@pytest.mark.parametrize("case", INSTANCES.values(), ids=INSTANCES.keys())
def test_gpu_facts_from_instance_type(case: tuple[Any, ...], tmp_path: Path) -> None:
    raw, expected = case
    row = read_rows(write_parquet(cur2_rows(raw), tmp_path / "c.parquet")).row(0, named=True)
    got = tuple(
        row[k]
        for k in (Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount, Cost.x_AcceleratorKind)
    )
    assert got == expected


def test_tags_and_cost_categories(tmp_path: Path) -> None:
    raw = {
        Cur.resource_tags: {"user_team": "NLP", "user_model": "llama-70b", "aws_createdBy": "x"},
        Cur.cost_category: {"environment": "prod"},
    }
    row = read_rows(write_parquet(cur2_rows(raw), tmp_path / "c.parquet"))
    assert row.get_column(Cost.Tags).to_list()[0] == [
        {"key": "team", "value": "NLP", "origin": "user"},
        {"key": "model", "value": "llama-70b", "origin": "user"},
        {"key": "aws_createdBy", "value": "x", "origin": "aws"},
        {"key": "environment", "value": "prod", "origin": "cost_category"},
    ]


def test_eks_split_line_keeps_pod_and_parent(tmp_path: Path) -> None:
    raw = {
        Cur.line_item_resource_id: "arn:aws:eks:us-east-1:111111111111:pod/prod/nlp/trainer-0/u-1",
        Cur.line_item_usage_type: "USE1-EKS-EC2-vCPU-Hours",
        Cur.product_instance_type: None,
        Cur.line_item_unblended_cost: 0.0,
        Cur.split_line_item_parent_resource_id: "i-0aaaaaaaaaaaaaaa1",
        Cur.split_line_item_split_cost: 12.5,
        Cur.split_line_item_unused_cost: 1.25,
    }
    row = read_rows(write_parquet(cur2_rows(raw), tmp_path / "c.parquet")).row(0, named=True)
    assert (
        row[Cost.x_ParentResourceId],
        row[Cost.x_K8sNamespace],
        row[Cost.x_K8sPod],
        row[Cost.x_SplitCost],
        row[Cost.x_SplitUnusedCost],
        row[Cost.EffectiveCost],
    ) == ("i-0aaaaaaaaaaaaaaa1", "nlp", "trainer-0", Decimal("12.5"), Decimal("1.25"), Decimal(0))


def test_legacy_csv_maps_like_cur2_parquet(tmp_path: Path) -> None:
    """The same line items as legacy CUR (CSV, slash headers) and as CUR 2.0 give equal rows."""
    raw = cur2_rows(
        *({**case[0], Cur.resource_tags: {"user_team": "nlp"}} for case in list(CASES.values())[:9])
    )
    from_cur2 = read_rows(write_parquet(raw, tmp_path / "c.parquet"))
    from_legacy = read_rows(legacy_csv(raw, tmp_path / "legacy.csv.gz"))
    assert_frame_equal(
        from_legacy.drop(Cost.x_SourceFile), from_cur2.drop(Cost.x_SourceFile), check_dtypes=True
    )


def test_cur2_gzip_csv_maps_like_cur2_parquet(tmp_path: Path) -> None:
    """CUR 2.0's CSV flavour spells maps as JSON text; the rows come out the same."""
    raw = cur2_rows(
        *(
            {**case[0], Cur.resource_tags: {"user_team": "nlp", "user_cost-center": "4711"}}
            for case in CASES.values()
        )
    )
    from_parquet = read_rows(write_parquet(raw, tmp_path / "c.parquet"))
    from_csv = read_rows(cur2_csv(raw, tmp_path / "c.csv.gz"))
    assert_frame_equal(from_csv.drop(Cost.x_SourceFile), from_parquet.drop(Cost.x_SourceFile))
    assert from_csv.get_column(Cost.Tags)[0].to_list() == [
        {"key": "team", "value": "nlp", "origin": "user"},
        {"key": "cost-center", "value": "4711", "origin": "user"},
    ]
