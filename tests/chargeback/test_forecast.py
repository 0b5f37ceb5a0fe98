"""The forecast runs usage at its daily rate and adds fees, tax and refunds once; a complete
month forecasts its total and reads "final"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.live import run_rate_charge
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.chargeback import chargeback_view, periods
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import day, write_month

OCT = "2026-10"
FINANCE = Viewer("cfo@example.com", finance=True)


def october(through: int) -> list[dict[str, Any]]:
    """nlp's October to day ``through``: usage 100.00, idle 10.00 and a shared usage pool 5.00 a
    day; once: a commitment fee 50.00, tax 80.00 dated the 31st, a refund -30.00 and a shared tax
    pool 20.00."""
    daily = [
        row
        for n in range(1, through + 1)
        for row in (
            {Alloc.day: day(OCT, n), Alloc.cost: "100.00"},
            {Alloc.day: day(OCT, n), Alloc.cost: "10.00", Alloc.cost_type: "idle"},
            {Alloc.day: day(OCT, n), Alloc.cost: "5.00", Alloc.cost_type: "shared"},
        )
    ]
    once = [
        {Alloc.ChargeCategory: "Purchase", Alloc.cost_type: "commitment", Alloc.cost: "50.00"},
        {
            Alloc.ChargeCategory: "Tax",
            Alloc.cost_type: "tax",
            Alloc.cost: "80.00",
            Alloc.day: day(OCT, 31),
        },
        {Alloc.ChargeCategory: "Adjustment", Alloc.cost_type: "adjustment", Alloc.cost: "-30.00"},
        {Alloc.ChargeCategory: "Tax", Alloc.cost_type: "shared", Alloc.cost: "20.00"},
    ]
    return [*daily, *once]


def test_ten_days_run_usage_to_month_end_and_add_the_rest_once(store: Store) -> None:
    write_month(store, OCT, *october(through=10), invoiced=False)
    statements = build_statements(store, Settings(), OCT)
    (nlp,) = statements.teams
    # usage so far: (100 + 10 + 5) × 10 = 1,150.00; once: 50 + 80 − 30 + 20 = 120.00
    assert nlp.total == Decimal("1270.00")
    assert (statements.days_with_data, statements.days_in_period) == (10, 31)  # not the tax's 31st
    assert nlp.forecast == Decimal("1150.00") * 31 / 10 + Decimal("120.00") == Decimal("3685.00")
    assert not statements.complete
    assert not chargeback_view(statements, FINANCE).complete
    assert [p.label for p in periods(store)] == ["2026-10 · provisional"]


def test_a_complete_month_forecasts_its_total_and_is_final(store: Store) -> None:
    write_month(store, OCT, *october(through=31), invoiced=False)
    statements = build_statements(store, Settings(), OCT)
    (nlp,) = statements.teams
    assert nlp.total == Decimal("115.00") * 31 + Decimal("120.00")
    assert nlp.forecast == nlp.total
    assert statements.complete
    assert chargeback_view(statements, FINANCE).complete
    assert [p.label for p in periods(store)] == ["2026-10 · final"]


@pytest.mark.parametrize(
    ("category", "cost_type", "runs"),
    [
        ("Usage", "usage", True),
        ("Usage", "idle", True),
        ("Usage", "unallocated", True),
        ("Usage", "shared", True),
        (None, None, True),
        ("Usage", "commitment", False),
        ("Purchase", "commitment", False),
        ("Purchase", "shared", False),
        ("Tax", "tax", False),
        ("Tax", "shared", False),
        ("Credit", "credit", False),
        ("Adjustment", "adjustment", False),
    ],
    ids=str,
)
def test_which_charges_run_at_their_daily_rate(
    category: str | None, cost_type: str | None, runs: bool
) -> None:
    frame = pl.DataFrame(
        {Alloc.ChargeCategory: [category], Alloc.cost_type: [cost_type]},
        schema={Alloc.ChargeCategory: pl.String, Alloc.cost_type: pl.String},
    )
    assert frame.select(run_rate_charge())[0, 0] is runs
