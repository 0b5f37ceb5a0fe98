"""Statements from a hand-built allocation: reconciled to the cent at every rounding level."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.live import RawLine, round_statements
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.errors import ConfigError, GpuledgerError, UsageError
from gpuledger.report.export.render import render
from gpuledger.schema import UNALLOCATED, UNLABELLED, Cost
from gpuledger.store.delta import Store
from tests.chargeback.ledger import alloc_rows, cost_for, write_month

OCT = "2026-10"


def assert_reconciled(statements: Statements) -> None:
    """Every level adds up exactly: lines → team total → invoice = allocated + unallocated."""
    assert sum((t.total for t in statements.teams), Decimal(0)) == statements.invoice_total
    assert statements.allocated_total + statements.unallocated_total == statements.invoice_total
    for team in statements.teams:
        assert sum((line.cost for line in team.lines), Decimal(0)) == team.total
        for line in (*team.lines, *team.adjustments):
            assert line.cost == line.cost.quantize(Decimal("0.01"))


def test_hand_computed_month(store: Store, settings: Settings) -> None:
    write_month(
        store,
        OCT,
        {"cost": "10.005", "gpu_hours": 2.0},
        {"cost": "0.0025", "ResourceId": "i-2", "gpu_hours": 0.5},
        {"cost": "3.3333", "model": "mistral", "x_GpuModel": "A100", "cost_type": "idle"},
        {"cost": "-1.0049", "cost_type": "credit", "gpu_hours": 0.0},
        {"cost": "5.0049", "team": "vision", "model": "yolo"},
        {"cost": "0.333", "team": UNALLOCATED, "model": None, "cost_type": "unallocated"},
    )
    statements = build_statements(store, settings, OCT)
    # invoice 17.6738 → 17.67; teams 12.3359 / 5.0049 / 0.333 floor to 12.33 / 5.00 / 0.33
    # (17.66), the missing cent goes to nlp's remainder .0059
    assert [(t.team, t.total) for t in statements.teams] == [
        ("nlp", Decimal("12.34")),
        ("vision", Decimal("5.00")),
        (UNALLOCATED, Decimal("0.33")),
    ]
    assert statements.invoice_total == Decimal("17.67")
    assert statements.allocated_total == Decimal("17.34")
    assert statements.unallocated_total == Decimal("0.33")
    nlp = statements.teams[0]
    # lines 10.0075 / 3.3333 / -1.0049 floor to 10.00 / 3.33 / -1.01 (12.32); two cents go to
    # the remainders .0075 and .0051
    assert [(x.model, x.gpu_model, x.cost_type, x.gpu_hours, x.cost) for x in nlp.lines] == [
        ("llama", "H100", "usage", 2.5, Decimal("10.01")),
        ("mistral", "A100", "idle", 1.0, Decimal("3.33")),
        ("llama", "H100", "credit", 0.0, Decimal("-1.00")),
    ]
    assert statements.teams[2].lines[0].model == UNLABELLED
    assert_reconciled(statements)


def test_largest_remainder_beats_rounding_each_team(store: Store, settings: Settings) -> None:
    write_month(
        store,
        OCT,
        {"team": "a", "cost": "0.005"},
        {"team": "b", "cost": "0.005"},
        {"team": "c", "cost": "0.005"},
    )
    statements = build_statements(store, settings, OCT)
    # each team alone rounds to 0.01 (0.03 in all) but the invoice is 0.015 → 0.02
    assert statements.invoice_total == Decimal("0.02")
    assert [t.total for t in statements.teams] == [Decimal("0.01"), Decimal("0.01"), Decimal(0)]
    assert_reconciled(statements)


def test_many_tiny_lines_keep_the_total(store: Store, settings: Settings) -> None:
    rows = [{"cost": "0.0004", "model": f"m{i:03d}"} for i in range(250)]
    write_month(store, OCT, *rows)
    statements = build_statements(store, settings, OCT)
    assert statements.invoice_total == Decimal("0.10")
    assert sum(1 for line in statements.teams[0].lines if line.cost) == 10
    assert_reconciled(statements)


def test_other_currencies_convert_with_the_month_rate(store: Store) -> None:
    settings = Settings.model_validate({"fx": {OCT: {"EUR": "1.1"}}})
    write_month(
        store,
        OCT,
        {"team": "nlp", "cost": "10.00"},
        {"team": "vision", "cost": "10.00", "currency": "EUR", "BillingAccountId": "222"},
    )
    statements = build_statements(store, settings, OCT)
    assert [(t.team, t.total) for t in statements.teams] == [
        ("nlp", Decimal("10.00")),
        ("vision", Decimal("11.00")),
    ]
    assert statements.invoice_total == Decimal("21.00")
    assert {k: Decimal(v) for k, v in statements.invoice_by_currency.items()} == {
        "EUR": Decimal("10"),
        "USD": Decimal("10"),
    }
    with pytest.raises(ConfigError, match=r'\[fx\."2026-10"\] EUR'):
        build_statements(store, Settings(), OCT)


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("allocation-short", GpuledgerError, "does not reconcile"),
        ("no-allocation", UsageError, "no allocation"),
        ("nothing", UsageError, "no billing data"),
    ],
    ids=["allocation-short-of-invoice", "cost-without-allocation", "empty-month"],
)
def test_refuses_statements_that_would_not_reconcile(
    store: Store, settings: Settings, case: str, error: type[Exception], message: str
) -> None:
    allocation = alloc_rows(OCT, {"cost": "10.00"})
    if case == "allocation-short":
        store.replace_partitions(
            "allocation", alloc_rows(OCT, {"cost": "9.99"}), ["x_BillingPeriod"]
        )
    if case != "nothing":
        store.replace_partitions(
            "cost",
            cost_for(allocation),
            [Cost.x_Source, Cost.BillingAccountId, Cost.x_BillingPeriod],
        )
    with pytest.raises(error, match=message):
        build_statements(store, settings, OCT)


def test_json_has_the_design_shape(store: Store, settings: Settings) -> None:
    write_month(
        store,
        OCT,
        {"cost": "1.239"},
        {"team": UNALLOCATED, "cost": "0.5", "cost_type": "unallocated"},
    )
    data = json.loads(render(build_statements(store, settings, OCT), "json"))
    assert data["period"] == OCT
    assert (data["currency"], data["cost_basis"], data["closed"]) == ("USD", "EffectiveCost", False)
    total, allocated, unallocated = (
        Decimal(data[key]) for key in ("invoice_total", "allocated_total", "unallocated_total")
    )
    assert total == allocated + unallocated
    assert data["invoice_total"] == "1.74"  # money: decimal text with the currency's 2 places
    for team in data["teams"]:
        assert set(team) >= {"team", "total", "lines"}
        assert sum(Decimal(line["cost"]) for line in team["lines"]) == Decimal(team["total"])
        for line in team["lines"]:
            assert set(line) >= {"model", "gpu_model", "cost_type", "gpu_hours", "cost"}


raw_line = st.builds(
    RawLine,
    team=st.sampled_from(["nlp", "vision", "speech", UNALLOCATED]),
    model=st.sampled_from(["llama", "yolo", UNLABELLED]),
    gpu_model=st.sampled_from(["H100", "A100", None]),
    cost_type=st.sampled_from(["usage", "idle", "shared", "credit", "tax", "unallocated"]),
    gpu_hours=st.floats(min_value=0, max_value=1000),
    cost=st.decimals(
        min_value=Decimal("-5000"), max_value=Decimal("5000"), places=18, allow_nan=False
    ),
)


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(raw_line, min_size=1, max_size=80))
def test_rounding_reconciles_at_every_level(settings: Settings, lines: list[RawLine]) -> None:
    invoice = sum((line.cost for line in lines), Decimal(0))
    statements = round_statements(OCT, settings, lines, invoice, (None, 31))
    assert statements.invoice_total == invoice.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert_reconciled(statements)
    raw_by_team: dict[str, Decimal] = {}
    for line in lines:
        raw_by_team[line.team] = raw_by_team.get(line.team, Decimal(0)) + line.cost
    for team in statements.teams:
        # largest remainder keeps every rounded team total within one cent of its exact amount
        assert abs(team.total - raw_by_team[team.team]) < Decimal("0.01")


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "26-10", "2026-10-01", ""], ids=repr)
def test_a_period_must_be_a_month(store: Store, settings: Settings, period: str) -> None:
    from gpuledger.engine.chargeback.close import close_period, reopen_period

    for call in (
        lambda: build_statements(store, settings, period),
        lambda: close_period(store, settings, period, force=True),
        lambda: reopen_period(store, period, "why"),
    ):
        with pytest.raises(UsageError, match="is not a month"):
            call()
