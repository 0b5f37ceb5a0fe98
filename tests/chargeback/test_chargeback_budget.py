"""Budgets, run-rate forecast and the previous-month comparison on a hand-computed case."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements, forecast
from gpuledger.store.delta import Store
from tests.chargeback.ledger import day, write_month

SEP, OCT = "2026-09", "2026-10"


@pytest.fixture
def budgets() -> Settings:
    return Settings.model_validate({"teams": {"nlp": {"budget": 1000}, "speech": {"budget": 50}}})


def test_budget_forecast_and_previous_month(store: Store, budgets: Settings) -> None:
    write_month(
        store,
        SEP,
        {"cost": "600.00", "day": day(SEP, 30)},
        {"cost": "20.00", "model": "whisper", "day": day(SEP, 30)},
        {"team": "vision", "cost": "80.00", "day": day(SEP, 30)},
    )
    # October so far: nlp spends 40.00 a day on days 1-10 of 31; vision 10.00 on day 10
    write_month(
        store,
        OCT,
        *({"cost": "40.00", "day": day(OCT, n)} for n in range(1, 11)),
        {"team": "vision", "cost": "10.00", "day": day(OCT, 10)},
    )
    statements = build_statements(store, budgets, OCT)
    assert (statements.days_with_data, statements.days_in_period) == (10, 31)
    nlp, vision = statements.teams
    assert nlp.total == Decimal("400.00")
    assert nlp.budget == Decimal("1000.00")
    assert nlp.variance == Decimal("-600.00")  # 400 spent against 1000
    assert nlp.forecast == Decimal("1240.00")  # 400 × 31 / 10
    assert nlp.forecast_variance == Decimal("240.00")  # forecast over budget
    assert nlp.previous_total == Decimal("620.00")
    assert [(line.model, line.cost, line.previous) for line in nlp.lines] == [
        ("llama", Decimal("400.00"), Decimal("600.00"))
    ]
    # vision has no budget: no variance, but a forecast and last month's total
    assert (vision.budget, vision.variance, vision.forecast_variance) == (None, None, None)
    assert vision.forecast == Decimal("31.00")
    assert vision.previous_total == Decimal("80.00")


@pytest.mark.parametrize(
    ("total", "days", "expected"),
    [
        ("400.00", (10, 31), "1240.00"),
        ("100.00", (30, 30), "100.00"),
        ("10.00", (3, 31), "103.33"),  # 103.333… rounds down
        ("-5.00", (2, 28), "-70.00"),  # a month of credits forecasts credits
        ("10.00", (None, 31), None),
    ],
    ids=["run-rate", "complete-month", "rounded", "negative", "no-dated-rows"],
)
def test_forecast_is_the_run_rate_to_month_end(
    total: str, days: tuple[int | None, int], expected: str | None
) -> None:
    result = forecast(Decimal(total), Decimal(total), days, "USD")  # all of it usage
    assert result == (None if expected is None else Decimal(expected))


def test_first_month_has_no_comparison(store: Store, budgets: Settings) -> None:
    write_month(store, OCT, {"cost": "1.00"})
    (nlp,) = build_statements(store, budgets, OCT).teams
    assert nlp.previous_total is None
    assert nlp.lines[0].previous is None
