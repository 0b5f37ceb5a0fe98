"""The group-by read model: groups in the reporting currency, exact to the cent per team."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from polars.testing import assert_frame_equal

from gpuledger.columns import Alloc
from gpuledger.engine.chargeback.statements import Statements, TeamStatement
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.breakdown import (
    COST,
    GPU_HOURS,
    GROUP,
    TEAM,
    by_group,
    rounded_by_team,
)
from gpuledger.schema import MONEY, UNALLOCATED

MONEY2 = pl.Decimal(38, 2)


def statements(**totals: str) -> Statements:
    teams = tuple(TeamStatement(team=t, total=Decimal(v), lines=()) for t, v in totals.items())
    total = sum((team.total for team in teams), Decimal(0))
    return Statements(
        period="2026-10",
        currency="USD",
        cost_basis="EffectiveCost",
        mode="chargeback",
        invoice_total=total,
        allocated_total=total,
        unallocated_total=Decimal(0),
        teams=teams,
        fx_rates={"USD": "1", "EUR": "1.10"},
    )


def grouped(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {TEAM: t, GROUP: g, Alloc.currency: c, GPU_HOURS: 1.0, COST: Decimal(v)}
            for t, g, c, v in rows
        ],
        schema={TEAM: pl.String, GROUP: pl.String, Alloc.currency: pl.String,
                GPU_HOURS: pl.Float64, COST: MONEY},
    )  # fmt: skip


def test_thirds_round_to_the_teams_statement_total() -> None:
    """$1.00 over three instances is 0.333… each: largest remainder gives 0.34, 0.33, 0.33."""
    third = str(Decimal(1) / 3)
    frame = grouped(
        ("nlp", "a", "USD", third), ("nlp", "b", "USD", third), ("nlp", "c", "USD", third)
    )
    rounded = rounded_by_team(frame, statements(nlp="1.00"))
    assert rounded[COST].to_list() == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]


def test_currencies_are_converted_and_merged_per_group() -> None:
    frame = grouped(("nlp", "a", "USD", "1.00"), ("nlp", "a", "EUR", "10.00"))
    rounded = rounded_by_team(frame, statements(nlp="12.00"))
    assert rounded.select(GROUP, COST).to_dicts() == [{GROUP: "a", COST: Decimal("12.00")}]


def test_a_lead_sees_their_teams_and_the_unallocated_pool_summed_per_group() -> None:
    frame = grouped(
        ("nlp", "A100", "USD", "5.00"),
        ("vision", "A100", "USD", "7.00"),
        (UNALLOCATED, "A100", "USD", "1.00"),
        ("nlp", "H100", "USD", "2.00"),
    )
    rounded = rounded_by_team(frame, statements(nlp="7.00", vision="7.00", **{UNALLOCATED: "1.00"}))
    lead = Viewer("lead@example.com", finance=False, teams=frozenset({"nlp"}))
    expected = pl.DataFrame(
        {GROUP: ["A100", "H100"], GPU_HOURS: [2.0, 1.0], COST: [Decimal("6.00"), Decimal("2.00")]},
        schema={GROUP: pl.String, GPU_HOURS: pl.Float64, COST: MONEY2},
    )
    assert_frame_equal(by_group(rounded, lead), expected)
