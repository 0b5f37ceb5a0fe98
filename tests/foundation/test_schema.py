"""The canonical-table validator: every collector's output passes it, so its errors must be clear."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from gpuledger.errors import SchemaError
from gpuledger.schema import COST_SCHEMA, Cost, Usage, validate
from tests.factories import cost_rows, usage_rows


def test_valid_rows_come_back_with_the_exact_schema() -> None:
    frame = validate(cost_rows({}), "cost")
    assert frame.schema == COST_SCHEMA
    assert frame[Cost.EffectiveCost].to_list() == [Decimal("1.00")]


def test_money_keeps_eighteen_decimal_places() -> None:
    tiny = Decimal("0.000000000000000001")
    frame = validate(cost_rows({Cost.BilledCost: tiny, Cost.EffectiveCost: tiny}), "cost")
    assert frame[Cost.BilledCost][0] == tiny


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(Cost.BillingCurrency), "missing required column(s) BillingCurrency"),
        (lambda f: f.with_columns(pl.lit("x").alias("Bogus")), "unknown column(s) Bogus"),
        (
            lambda f: f.with_columns(pl.lit("ten dollars").alias(Cost.BilledCost)),
            "column 'BilledCost' has type String",
        ),
        (
            lambda f: f.with_columns(pl.lit(None, pl.String).alias(Cost.BillingAccountId)),
            "null value(s) in required column 'BillingAccountId'",
        ),
        (
            lambda f: f.with_columns(pl.lit("Fee").alias(Cost.ChargeCategory)),
            "value 'Fee' in column 'ChargeCategory'",
        ),
        (
            lambda f: f.with_columns(
                pl.lit(datetime(2026, 9, 1, tzinfo=UTC)).alias(Cost.ChargePeriodEnd)
            ),
            "ChargePeriodEnd before ChargePeriodStart",
        ),
    ],
    ids=["missing", "unknown", "wrong-type", "null-required", "bad-category", "negative-duration"],
)
def test_cost_errors_name_the_problem(mutate: Any, message: str) -> None:
    with pytest.raises(SchemaError) as caught:
        validate(mutate(cost_rows({})), "cost", source="export.csv")
    assert message in str(caught.value)
    assert "export.csv" in str(caught.value)


def test_error_names_the_first_bad_row() -> None:
    frame = cost_rows({}, {}, {Cost.ChargeCategory: "Bogus"})
    with pytest.raises(SchemaError) as caught:
        validate(frame, "cost")
    assert caught.value.row == 2
    assert caught.value.column == Cost.ChargeCategory
    assert "expected one of Adjustment, Credit, Purchase, Tax, Usage" in str(caught.value)


@pytest.mark.parametrize(
    "row",
    [
        {Usage.active_seconds: 301.0},
        {Usage.active_seconds: -1.0},
        {Usage.sm_util: 101.0},
        {Usage.bucket_seconds: 0},
    ],
    ids=["active-over-bucket", "negative-active", "util-over-100", "zero-bucket"],
)
def test_gpu_usage_rejects_impossible_measurements(row: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match="impossible durations or utilization"):
        validate(usage_rows(row), "gpu_usage")


def test_lossless_casts_are_accepted() -> None:
    frame = usage_rows({}).with_columns(pl.col(Usage.gpu_index).cast(pl.Int64))
    assert validate(frame, "gpu_usage").schema[Usage.gpu_index] == pl.Int32
