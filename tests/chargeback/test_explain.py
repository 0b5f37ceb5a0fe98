"""`explain`: a statement line's rules and sources add up to it to the cent, closed months included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.config import Settings, load_settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.close import close_period
from gpuledger.engine.chargeback.explain import Explanation, explain
from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.statements import Line
from gpuledger.errors import UsageError
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.chargeback.ledger import day, write_month
from tests.factories import cost_rows

OCT = "2026-10"
FX = Settings.model_validate({"fx": {OCT: {"EUR": "1.1"}}})


def _cost(resource: str, number: int, amount: str, currency: str = "USD") -> dict[str, Any]:
    start = datetime(2026, 10, number, tzinfo=UTC)
    return {
        Cost.ResourceId: resource,
        Cost.ChargePeriodStart: start,
        Cost.ChargePeriodEnd: start + timedelta(hours=1),
        Cost.BilledCost: Decimal(amount),
        Cost.EffectiveCost: Decimal(amount),
        Cost.BillingCurrency: currency,
        Cost.PricingCategory: "Standard",
        Cost.x_GpuModel: "H100",
    }


def write_split_month(store: Store) -> None:
    """nlp's llama/H100 usage line: 20.00 of i-1's 30.00 (telemetry), i-2's two rows of 4.00 and
    6.00 (tag), i-3's 100.00 EUR = 110.00 USD (account map): 140.00 USD. The rest of i-1 is
    nlp's idle (5.00) and vision's usage (5.00)."""
    usage = {Alloc.team: "nlp", Alloc.model: "llama"}
    write_month(
        store,
        OCT,
        {
            **usage,
            Alloc.ResourceId: "i-1",
            Alloc.day: day(OCT, 5),
            Alloc.cost: "20",
            Alloc.rule: "telemetry",
        },
        {
            **usage,
            Alloc.ResourceId: "i-2",
            Alloc.day: day(OCT, 6),
            Alloc.cost: "10",
            Alloc.rule: "tag:team",
        },
        {
            **usage,
            Alloc.ResourceId: "i-3",
            Alloc.day: day(OCT, 7),
            Alloc.currency: "EUR",
            Alloc.cost: "100",
            Alloc.rule: "account-map",
        },
        {
            Alloc.team: "nlp",
            Alloc.model: "(idle)",
            Alloc.cost_type: "idle",
            Alloc.day: day(OCT, 5),
            Alloc.cost: "5",
            Alloc.rule: "idle:owner",
        },
        {Alloc.team: "vision", Alloc.day: day(OCT, 5), Alloc.cost: "5", Alloc.rule: "telemetry"},
        cost=cost_rows(
            _cost("i-1", 5, "30"),
            _cost("i-2", 6, "4"),
            _cost("i-2", 6, "6"),
            _cost("i-3", 7, "100", "EUR"),
        ),
    )


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The demo company (the shipped sample data) ingested and attributed by the real engine."""
    home = tmp_path_factory.mktemp("sample") / "home"
    demo = CliRunner().invoke(app, ["--home", str(home), "demo", "--no-app"])
    assert demo.exit_code == 0, demo.output
    return Store(home)


def _usage_line(explanations: list[Explanation]) -> Explanation:
    return next(e for e in explanations if e.line.cost_type == "usage")


def test_rules_and_sources_of_a_split_multi_currency_line(store: Store) -> None:
    write_split_month(store)
    statements = build_statements(store, FX, OCT)
    line = _usage_line(explain(store, statements, "nlp", top=2))
    assert (line.number, line.line.cost, line.currency) == (1, Decimal("140.00"), "USD")
    assert [(r.rule, r.cost, r.sources) for r in line.rules] == [
        ("account-map", Decimal("110.00"), 1),
        ("telemetry", Decimal("20.00"), 1),
        ("tag:team", Decimal("10.00"), 1),
    ]
    shown = [
        (s.resource_id, s.day, s.rule, s.currency, s.original, s.cost_rows, s.share, s.cost)
        for s in line.sources
    ]
    assert shown == [
        ("i-3", day(OCT, 7), "account-map", "EUR", Decimal("100"), 1, 1.0, Decimal("110.00")),
        (
            "i-1",
            day(OCT, 5),
            "telemetry",
            "USD",
            Decimal("30"),
            1,
            pytest.approx(2 / 3),
            Decimal("20.00"),
        ),
    ]
    assert (line.other_sources, line.other_cost) == (1, Decimal("10.00"))
    assert (line.closed, line.restated, line.current_cost) == (False, None, None)


@pytest.mark.parametrize(
    ("top", "source_costs", "other"),
    [(3, ["1.01", "1.01", "1.00"], "0.00"), (1, ["1.01"], "2.01")],
    ids=["all-shown", "top-one-and-other"],
)
def test_rounded_parts_add_up_to_the_rounded_line(
    store: Store, top: int, source_costs: list[str], other: str
) -> None:
    """Three sources of 1.005 make a line of 3.02 (3.015 rounded): the parts shown are fitted."""
    write_month(
        store,
        OCT,
        *({Alloc.ResourceId: f"i-{n}", Alloc.cost: "1.005"} for n in range(3)),
    )
    statements = build_statements(store, Settings(), OCT)
    (line,) = explain(store, statements, "nlp", top=top)
    assert line.line.cost == Decimal("3.02")
    assert [s.cost for s in line.sources] == [Decimal(c) for c in source_costs]
    assert line.other_cost == Decimal(other)
    assert [r.cost for r in line.rules] == [Decimal("3.02")]


@pytest.mark.slow
def test_every_line_of_every_team_adds_up_on_the_sample_ledger(sample_home: Store) -> None:
    """The shipped demo company, attributed by the real engine: each line's rules, and its top
    sources plus the remainder, add up to the line to the cent; every source's cost rows exist."""
    settings = load_settings(Path(sample_home.home) / "gpuledger.toml")
    statements = build_statements(sample_home, settings, OCT)
    lines = 0
    for team in statements.teams:
        for explanation in explain(sample_home, statements, team.team, top=3):
            cost = explanation.line.cost
            assert sum(r.cost for r in explanation.rules) == cost, explanation.line_id
            shown = sum(s.cost for s in explanation.sources) + explanation.other_cost
            assert shown == cost, explanation.line_id
            assert all(s.original is not None and s.cost_rows > 0 for s in explanation.sources)
            lines += 1
    assert lines == sum(len(team.lines) for team in statements.teams) > 20


def test_a_closed_month_explains_its_stored_statement_and_says_it_was_restated(
    store: Store,
) -> None:
    cpu = {Alloc.x_GpuModel: None}  # the cost rows write_month derives carry no GPU model
    write_month(
        store,
        OCT,
        {**cpu, Alloc.cost: "100.00"},
        {Alloc.team: "vision", Alloc.ResourceId: "i-2", Alloc.cost: "50"},
    )
    close_period(store, Settings(), OCT)
    (before,) = explain(store, build_statements(store, Settings(), OCT), "nlp")
    assert (before.closed, before.restated, before.current_cost) == (True, False, Decimal("100.00"))
    write_month(
        store,
        OCT,
        {**cpu, Alloc.cost: "104.50"},
        {Alloc.team: "vision", Alloc.ResourceId: "i-2", Alloc.cost: "50"},
    )
    (after,) = explain(store, build_statements(store, Settings(), OCT), "nlp")
    assert after.line.cost == Decimal("100.00")
    assert [s.original for s in after.sources] == [Decimal("100.00")]  # the cost as closed
    assert (after.restated, after.current_cost) == (True, Decimal("104.50"))


def test_line_is_found_by_number_or_id(store: Store) -> None:
    write_split_month(store)
    statements = build_statements(store, FX, OCT)
    nlp = statements.team("nlp")
    assert nlp is not None
    idle = nlp.lines[1]
    by_id = explain(store, statements, "nlp", line=line_id(OCT, "nlp", idle))
    by_number = explain(store, statements, "nlp", line="2")
    assert [e.line for e in by_id] == [e.line for e in by_number] == [idle]
    assert [e.line.model for e in explain(store, statements, "nlp", model="(idle)")] == ["(idle)"]


@pytest.mark.parametrize(
    ("team", "options", "message"),
    [
        ("nlp", {"line": "3"}, "nlp has no line '3' in 2026-10 (expected a line number 1–2"),
        ("nlp", {"line": "line-000000000000"}, "nlp has no line 'line-000000000000'"),
        ("ops", {}, "no team 'ops' in 2026-10 (teams: nlp, vision)"),
        ("nlp", {"model": "gpt"}, "nlp has no line of model 'gpt' in 2026-10"),
        ("nlp", {"line": "1", "model": "(idle)"}, "line 1 of nlp is of model 'llama'"),
    ],
    ids=["number", "id", "team", "model", "line-of-another-model"],
)
def test_unknown_team_model_or_line_is_a_usage_error(
    store: Store, team: str, options: dict[str, str], message: str
) -> None:
    write_split_month(store)
    statements = build_statements(store, FX, OCT)
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        explain(store, statements, team, **options)


def test_an_adjustment_line_id_points_at_the_month_it_corrects(store: Store) -> None:
    write_month(store, "2026-09", {Alloc.cost: "10.00"})
    close_period(store, Settings(), "2026-09")
    write_month(store, "2026-09", {Alloc.cost: "12.00"})
    write_month(store, OCT, {Alloc.cost: "1.00"})
    statements = build_statements(store, Settings(), OCT)
    nlp = statements.team("nlp")
    assert nlp is not None
    (adjustment,) = nlp.adjustments
    with pytest.raises(UsageError, match="explain --period 2026-09 --team nlp"):
        explain(store, statements, "nlp", line=line_id(OCT, "nlp", adjustment))


def test_line_ids_are_stable_and_name_the_line() -> None:
    """The id is part of the export format: it must never change for the same line."""
    line = Line("llama", "H100", "usage", 1.0, Decimal("1.00"))
    assert line_id(OCT, "nlp", line) == line_id(
        OCT, "nlp", Line("llama", "H100", "usage", 9.0, Decimal("7"))
    )
    assert line_id(OCT, "nlp", line) == "line-" + LLAMA_ID
    others = {
        line_id("2026-11", "nlp", line),
        line_id(OCT, "vision", line),
        line_id(OCT, "nlp", Line("llama", None, "usage", 1.0, Decimal(1))),
        line_id(OCT, "nlp", Line("llama", "H100", "idle", 1.0, Decimal(1))),
        line_id(
            OCT, "nlp", Line("llama", "H100", "usage", 1.0, Decimal(1), corrects_period="2026-09")
        ),
    }
    assert len(others) == 5
    assert line_id(OCT, "nlp", line) not in others


LLAMA_ID = "6dcc6fea0328"
