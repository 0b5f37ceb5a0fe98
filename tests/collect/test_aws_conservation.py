"""Conservation: per period, sum(EffectiveCost) is AWS's amortized total of the raw file."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.aws.read import read_file
from gpuledger.collect.files import SourceFile
from gpuledger.config import Settings
from gpuledger.sample.aws_cur2 import write_aws_cur2
from gpuledger.sample.company import build_company
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, write_parquet

LINE_TYPES = [
    "Usage",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "SavingsPlanRecurringFee",
    "SavingsPlanUpfrontFee",
    "DiscountedUsage",
    "RIFee",
    "Fee",
    "Tax",
    "Credit",
    "Refund",
]
AMOUNTS = [
    Cur.line_item_unblended_cost,
    Cur.savings_plan_savings_plan_effective_cost,
    Cur.savings_plan_total_commitment_to_date,
    Cur.savings_plan_used_commitment,
    Cur.reservation_effective_cost,
    Cur.reservation_unused_amortized_upfront_fee_for_billing_period,
    Cur.reservation_unused_recurring_fee,
]

# AWS's amortized cost, as the documented SQL states it, over the raw Parquet columns.
AMORTIZED_SQL = f"""
SELECT strftime({Cur.bill_billing_period_start_date}, '%Y-%m') AS period,
       round(sum(CASE {Cur.line_item_line_item_type}
         WHEN 'SavingsPlanCoveredUsage' THEN {Cur.savings_plan_savings_plan_effective_cost}
         WHEN 'SavingsPlanRecurringFee'
           THEN {Cur.savings_plan_total_commitment_to_date} - {Cur.savings_plan_used_commitment}
         WHEN 'SavingsPlanNegation' THEN 0
         WHEN 'SavingsPlanUpfrontFee' THEN 0
         WHEN 'DiscountedUsage' THEN {Cur.reservation_effective_cost}
         WHEN 'RIFee' THEN {Cur.reservation_unused_amortized_upfront_fee_for_billing_period}
                           + {Cur.reservation_unused_recurring_fee}
         ELSE CASE WHEN {Cur.line_item_line_item_type} = 'Fee'
                    AND {Cur.reservation_reservation_a_r_n} IS NOT NULL THEN 0
                   ELSE {Cur.line_item_unblended_cost} END
       END)::DECIMAL(38, 10), 2) AS amortized,
       round(sum({Cur.line_item_unblended_cost})::DECIMAL(38, 10), 2) AS unblended
FROM read_parquet(?)
GROUP BY 1 ORDER BY 1
"""


def amortized(row: dict[str, object]) -> Decimal:
    """The same formula in Python, on the exact decimal strings the test generated."""
    amount = {k: Decimal(str(row.get(k) or 0)) for k in AMOUNTS}
    kind = row[Cur.line_item_line_item_type]
    if kind == "SavingsPlanCoveredUsage":
        return amount[Cur.savings_plan_savings_plan_effective_cost]
    if kind == "SavingsPlanRecurringFee":
        return (
            amount[Cur.savings_plan_total_commitment_to_date]
            - amount[Cur.savings_plan_used_commitment]
        )
    if kind in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return Decimal(0)
    if kind == "DiscountedUsage":
        return amount[Cur.reservation_effective_cost]
    if kind == "RIFee":
        return (
            amount[Cur.reservation_unused_amortized_upfront_fee_for_billing_period]
            + amount[Cur.reservation_unused_recurring_fee]
        )
    if kind == "Fee" and row.get(Cur.reservation_reservation_a_r_n):
        return Decimal(0)
    return amount[Cur.line_item_unblended_cost]


money = st.decimals(min_value=-10_000, max_value=10_000, places=6, allow_nan=False).map(float)
line_items = st.fixed_dictionaries(
    {
        Cur.line_item_line_item_type: st.sampled_from(LINE_TYPES),
        Cur.reservation_reservation_a_r_n: st.sampled_from([None, "arn:aws:ec2:ri/1"]),
        **dict.fromkeys(AMOUNTS, money),
    }
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(line_items, min_size=1, max_size=30))
def test_effective_cost_is_the_aws_amortized_cost_exactly(
    rows: list[dict[str, object]], tmp_path: Path
) -> None:
    path = write_parquet(cur2_rows(*rows), tmp_path / "cur.parquet")
    stored, refused, _ = read_file(SourceFile(str(path), 0))
    assert refused.is_empty()
    assert stored.get_column(Cost.EffectiveCost).sum() == sum(map(amortized, rows), Decimal(0))
    assert stored.get_column(Cost.BilledCost).sum() == sum(
        (Decimal(str(r[Cur.line_item_unblended_cost])) for r in rows), Decimal(0)
    )


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "aws"
    write_aws_cur2(build_company(1, 7, ["2026-09", "2026-10"]), out)
    return out


def test_sample_export_reconciles_per_period_to_the_cent(
    sample_export: Path, store: Store, settings: Settings
) -> None:
    aws.ingest(store, settings, str(sample_export))
    stored = (
        store.read("cost")
        .group_by(Cost.x_BillingPeriod)
        .agg(
            pl.col(Cost.EffectiveCost).sum().round(2).cast(pl.Decimal(38, 2)),
            pl.col(Cost.BilledCost).sum().round(2).cast(pl.Decimal(38, 2)),
        )
        .sort(Cost.x_BillingPeriod)
        .rows()
    )
    raw = duckdb.execute(AMORTIZED_SQL, [str(sample_export / "**" / "*.parquet")]).fetchall()
    assert stored == raw
    assert len(raw) == 2


def test_sample_export_has_every_pricing_kind(
    sample_export: Path, store: Store, settings: Settings
) -> None:
    aws.ingest(store, settings, str(sample_export))
    cost = store.read("cost")
    assert set(cost.get_column(Cost.x_LineItemType).unique()) == {
        "Usage",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
        "DiscountedUsage",
        "RIFee",
        "Fee",
        "Tax",
        "Credit",
        "Refund",
    }
    assert set(cost.get_column(Cost.PricingCategory).drop_nulls().unique()) == {
        "Standard",
        "Dynamic",
        "Committed",
    }
    gpu = cost.filter(pl.col(Cost.x_GpuModel).is_not_null())
    assert set(gpu.get_column(Cost.x_GpuModel).unique()) >= {"H100", "A100 40GB", "L40S"}


@pytest.mark.slow
def test_cli_ingest_then_status_shows_both_months(sample_export: Path, tmp_path: Path) -> None:
    def gpuledger(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gpuledger", "--home", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "stored" in gpuledger("ingest", "aws", str(sample_export))
    status = json.loads(gpuledger("status", "--format", "json"))
    periods = [
        (row["x_BillingPeriod"], row["x_Source"], row["invoiced"], row["rows"] > 10_000)
        for row in status["cost"]
    ]
    assert periods == [("2026-09", "aws", True, True), ("2026-10", "aws", False, True)]
    raw = duckdb.execute(AMORTIZED_SQL, [str(sample_export / "**" / "*.parquet")]).fetchall()
    assert [Decimal(row["effective_cost"]) for row in status["cost"]] == [r[1] for r in raw]
