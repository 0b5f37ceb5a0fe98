"""Rows that would bend the bill are quarantined with a reason, never stored as something else.

Issue #19 items 3 (a line delivered twice), 4 (NaN, infinity, 1e308) and 5 (a billing period
other than the delivery's), for the AWS, FOCUS and GCP collectors.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.focus import collector as focus
from gpuledger.collect.gcp import collector as gcp
from gpuledger.config import Settings
from gpuledger.schema import Cost, Quarantine
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, data_export, legacy_csv, write_parquet
from tests.collect.focus_rows import write_focus_csv
from tests.collect.test_fuzz_billing import write_focus_run
from tests.conftest import FIXTURES

NAN, INF = float("nan"), float("inf")


def reasons(store: Store) -> list[tuple[int, str]]:
    refused = store.read("quarantine").sort(Quarantine.row)
    return [
        (int(r), str(why)) for r, why in refused.select(Quarantine.row, Quarantine.reason).rows()
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (NAN, "reservation_effective_cost: not a finite number (NaN or infinity)"),
        (INF, "reservation_effective_cost: not a finite number (NaN or infinity)"),
        (1e308, "reservation_effective_cost: beyond the range of an amount (±10^20)"),
    ],
    ids=["nan", "inf", "1e308"],
)
def test_a_non_finite_amortized_cost_is_quarantined_not_stored_as_zero(
    store: Store, settings: Settings, tmp_path: Path, value: float, reason: str
) -> None:
    discounted = {
        Cur.line_item_line_item_type: "DiscountedUsage",
        Cur.line_item_unblended_cost: 0.0,
        Cur.reservation_effective_cost: value,
        Cur.reservation_reservation_a_r_n: "arn:aws:ec2:us-east-1:1:reserved-instances/r-1",
    }
    path = write_parquet(cur2_rows({}, discounted), tmp_path / "src" / "cur.parquet")

    result = aws.ingest(store, settings, str(path.parent))

    assert (result.rows, result.quarantined) == (1, 1)
    assert reasons(store) == [(2, reason)]
    assert reason in result.summary()


def test_nan_spelled_in_a_cur_csv_is_named_as_such(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    frame = cur2_rows({}, {}, {}).with_columns(
        pl.Series(Cur.line_item_unblended_cost, ["1.5", "NaN", "2"]),
        pl.Series(Cur.line_item_usage_amount, ["1", "1", "-Infinity"]),
    )
    legacy_csv(frame, tmp_path / "src" / "cur.csv.gz")

    aws.ingest(store, settings, str(tmp_path / "src"))

    assert reasons(store) == [
        (2, "line_item_unblended_cost: not a finite number (NaN or infinity)"),
        (3, "line_item_usage_amount: not a finite number (NaN or infinity)"),
    ]


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"BilledCost": "NaN"}, "BilledCost is not a finite number (NaN or infinity)"),
        ({"EffectiveCost": "inf"}, "EffectiveCost is not a finite number (NaN or infinity)"),
        ({"ListCost": "1e308"}, "ListCost is beyond the range of an amount (±10^20)"),
        ({"PricingQuantity": "NaN"}, "PricingQuantity is not a finite number (NaN or infinity)"),
    ],
    ids=["nan-billed", "inf-effective", "huge-list", "nan-quantity"],
)
def test_a_focus_row_with_a_non_finite_number_is_quarantined(
    store: Store, settings: Settings, tmp_path: Path, cells: dict[str, str], reason: str
) -> None:
    path = write_focus_csv(tmp_path / "focus.csv", {}, {"ResourceId": "vm-2", **cells})

    result = focus.ingest(store, settings, str(path))

    assert (result.rows, result.quarantined) == (1, 1)
    assert reasons(store) == [(2, reason)]


def _gcp_rows() -> list[dict[str, Any]]:
    text = (FIXTURES / "gcp" / "export_resource_v1.json").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def _gcp_file(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_gcp_row_with_a_non_finite_cost_is_quarantined(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """BigQuery writes a FLOAT64 NaN or infinity into JSON as text: ``"NaN"``, ``"Infinity"``."""
    rows = _gcp_rows()
    rows[1] = {**rows[1], "cost": "NaN"}
    rows[2] = {**rows[2], "usage": {**rows[2]["usage"], "amount": "Infinity"}}

    gcp.ingest(store, settings, str(_gcp_file(tmp_path / "export.json", rows)))

    assert reasons(store) == [
        (2, "cost is not a finite number (NaN or infinity)"),
        (3, "usage.amount is not a finite number (NaN or infinity)"),
    ]


def _total(store: Store) -> Decimal:
    return sum(store.read("cost").get_column(Cost.BilledCost).to_list(), Decimal(0))


def test_a_cur_concatenated_with_itself_stores_each_line_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = cur2_rows({Cur.line_item_unblended_cost: 2.0}, {Cur.line_item_unblended_cost: 3.0})
    once = aws.ingest(store, settings, str(write_parquet(rows, tmp_path / "a" / "cur.parquet")))
    stored = _total(store)

    twice = write_parquet(pl.concat([rows, rows]), tmp_path / "b" / "cur.parquet")
    result = aws.ingest(store, settings, str(twice.parent))

    assert (once.rows, result.rows, result.quarantined) == (2, 2, 2)
    assert _total(store) == stored == Decimal("5")
    assert [row for row, _ in reasons(store)] == [3, 4]
    assert "2 identity_line_item_id: identical in every column to an earlier row" in (
        result.summary()
    )


def test_the_same_cur_file_twice_in_a_folder_counts_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = cur2_rows({Cur.line_item_unblended_cost: 2.0})
    write_parquet(rows, tmp_path / "src" / "cur.parquet")
    write_parquet(rows, tmp_path / "src" / "cur (1).parquet")

    result = aws.ingest(store, settings, str(tmp_path / "src"))

    assert (result.rows, result.quarantined) == (1, 1)
    assert _total(store) == Decimal("2")


def test_two_cur_lines_with_one_id_but_different_content_are_both_stored(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """AWS documents the line item id as unique within a file only; different content is
    a different line."""
    rows = cur2_rows(
        {Cur.identity_line_item_id: "same", Cur.line_item_unblended_cost: 2.0},
        {Cur.identity_line_item_id: "same", Cur.line_item_unblended_cost: 3.0},
    )
    result = aws.ingest(store, settings, str(write_parquet(rows, tmp_path / "s" / "c.parquet")))

    assert (result.rows, result.quarantined) == (2, 0)


def test_a_focus_and_a_gcp_export_concatenated_with_themselves_count_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    lines = [{"ResourceId": "vm-1"}, {"ResourceId": "vm-2", "BilledCost": "7.5"}]
    focus_file = write_focus_csv(tmp_path / "focus.csv", *lines, *lines)
    gcp_rows = _gcp_rows()
    gcp_file = _gcp_file(tmp_path / "gcp" / "export.json", gcp_rows + gcp_rows)

    by_focus = focus.ingest(store, settings, str(focus_file))
    by_gcp = gcp.ingest(store, settings, str(gcp_file))

    assert (by_focus.rows, by_focus.quarantined) == (2, 2)
    assert by_gcp.quarantined == len(gcp_rows)
    refused = store.read("quarantine")
    assert set(refused.get_column(Quarantine.reason)) == {
        "identical in every column to an earlier row: a second copy of the same line"
    }


def test_a_cur_row_of_another_period_than_its_delivery_is_quarantined(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    november = {
        Cur.bill_billing_period_start_date: pl.datetime(2026, 11, 1),
        Cur.bill_billing_period_end_date: pl.datetime(2026, 12, 1),
    }
    rows = cur2_rows({}, {}).with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(value).otherwise(pl.col(name)).alias(name)
        for name, value in november.items()
    )
    data_export(tmp_path, "2026-10", [rows], execution="e1")

    result = aws.ingest(store, settings, str(tmp_path))

    assert result.partitions == [("999999999999", "2026-10")]
    assert reasons(store) == [
        (2, "bill_billing_period_start_date: not the billing period of its delivery (2026-10)")
    ]


def test_a_focus_row_of_another_month_than_its_export_run_is_quarantined(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    october = {
        "BillingPeriodStart": "2026-10-01T00:00:00Z",
        "BillingPeriodEnd": "2026-11-01T00:00:00Z",
        "ChargePeriodStart": "2026-10-03T00:00:00Z",
        "ChargePeriodEnd": "2026-10-04T00:00:00Z",
    }
    november = {
        **october,
        "ResourceId": "vm-2",
        "BillingPeriodStart": "2026-11-01T00:00:00Z",
        "BillingPeriodEnd": "2026-12-01T00:00:00Z",
    }
    data = write_focus_csv(tmp_path / "rows.csv", october, november).read_bytes()

    result = focus.ingest(store, settings, str(write_focus_run(tmp_path / "run", data, 2)))

    assert [period for _, period in result.partitions] == ["2026-10"]
    assert reasons(store) == [
        (2, "BillingPeriodStart is not a billing period of its export run (2026-10)")
    ]
