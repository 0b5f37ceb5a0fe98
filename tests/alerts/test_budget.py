"""Budget alerts: one per configured threshold month to date has reached, one when the month's
run-rate forecast passes the budget; stable ids; the states the `budgets` command lists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from gpuledger.config import Settings
from gpuledger.engine.alerts.budget import budget_alerts, budget_states
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import day, write_month

OCT = "2026-10"


def _settings(**budgets: int) -> Settings:
    return Settings.model_validate({"teams": {t: {"budget": b} for t, b in budgets.items()}})


def _daily(team: str, amount: str, days: range, **more: Any) -> list[dict[str, Any]]:
    return [{Alloc.team: team, Alloc.day: day(OCT, d), Alloc.cost: amount, **more} for d in days]


@pytest.fixture
def ten_days(store: Store) -> Store:
    """October to the 10th: nlp $100 a day, vision $70 a day and a $50 tax line on the 1st."""
    write_month(
        store,
        OCT,
        *_daily("nlp", "100.00", range(1, 11)),
        *_daily("vision", "70.00", range(1, 11)),
        {Alloc.team: "vision", Alloc.day: day(OCT, 1), Alloc.cost: "50.00",
         Alloc.ChargeCategory: "Tax", Alloc.cost_type: "tax"},
    )  # fmt: skip
    return store


def test_thresholds_and_forecast(ten_days: Store) -> None:
    settings = _settings(nlp=1200, vision=700, ops=10_000)
    alerts = budget_alerts(ten_days, settings, OCT)
    found = {(a.team, a.threshold, a.forecast): (a.actual, a.impact) for a in alerts}
    # nlp: $1,000 of $1,200 (83 %): the 80 % line only; its forecast 1,000 x 31 / 10 = 3,100.
    # vision: $750 of $700: 80 % and 100 %; forecast 700 x 3.1 + the $50 tax once = 2,220.
    assert found == {
        ("nlp", 0.8, False): (Decimal("1000.00"), Decimal("40.00")),
        ("nlp", 1.0, True): (Decimal("3100.00"), Decimal("1900.00")),
        ("vision", 0.8, False): (Decimal("750.00"), Decimal("190.00")),
        ("vision", 1.0, False): (Decimal("750.00"), Decimal("50.00")),
        ("vision", 1.0, True): (Decimal("2220.00"), Decimal("1520.00")),
    }
    assert all(a.kind == "budget" and a.day is None for a in alerts)
    nlp = next(a for a in alerts if a.team == "nlp" and not a.forecast)
    assert (
        nlp.title
        == "team nlp has spent 83 % of its 1,200.00 USD budget for 2026-10 (80 % threshold)"
    )


def test_thresholds_come_from_config(ten_days: Store) -> None:
    settings = Settings.model_validate(
        {"teams": {"nlp": {"budget": 1200}}, "alerts": {"budget_thresholds": [0.5, 0.9]}}
    )
    crossed = [a.threshold for a in budget_alerts(ten_days, settings, OCT) if not a.forecast]
    assert crossed == [0.5]


def test_month_to_date_stops_at_today(ten_days: Store) -> None:
    states = {
        s.team: s for s in budget_states(ten_days, _settings(nlp=1200), OCT, date(2026, 10, 5))
    }
    nlp = states["nlp"]
    assert (nlp.month_to_date, nlp.forecast, nlp.crossed) == (
        Decimal("500.00"),
        Decimal("3100.00"),  # 500 x 31 / 5
        (),
    )
    assert nlp.state == "forecast over"
    assert states["vision"].state == "no budget"


def test_states_in_order(ten_days: Store) -> None:
    states = budget_states(ten_days, _settings(nlp=1200, vision=700, ops=10_000), OCT)
    assert [(s.team, s.state, s.crossed) for s in states] == [
        ("nlp", "forecast over", (0.8,)),
        ("ops", "ok", ()),
        ("vision", "over", (0.8, 1.0)),
    ]
    assert states[1].month_to_date == Decimal("0.00")


def test_budget_ids_are_stable_and_distinct(ten_days: Store) -> None:
    settings = _settings(nlp=1200, vision=700)
    first = [a.id for a in budget_alerts(ten_days, settings, OCT)]
    assert first == [a.id for a in budget_alerts(ten_days, settings, OCT)]
    assert len(set(first)) == len(first) == 5
