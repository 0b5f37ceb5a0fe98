"""The anomaly detector: injected incidents are found with the right team, dollars and
explanation; planned work (weekly runs, steady runs, quiet weekends) is not; ids are stable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.alerts.detect import expected_band, find_anomalies, flagged_spans
from gpuledger.engine.alerts.series import SERIES_MONEY
from gpuledger.period import Period
from gpuledger.schema import Alloc, Daily
from gpuledger.store.delta import Store
from tests.alerts.fleet import IDLE_WEEKEND, NEW_MODEL_DAY, OCT, RUNAWAY
from tests.chargeback.ledger import write_month as write_ledger_month

FIRST = date(2026, 9, 1)
LAST = date(2026, 10, 31)
SPIKE = date(2026, 10, 14)  # a Wednesday


def no_fees(d: date) -> float:
    return 0.0


def series_of(
    spend: Callable[[date], float], *, first: date = FIRST, fees: Callable[[date], float] = no_fees
) -> pl.DataFrame:
    """Team ``t``'s series, ``spend(day)`` dollars of usage and ``fees(day)`` of one-off charges
    a day, beside team ``u``'s steady $1,000 a day (the rest of the ledger), from ``first`` to
    October's end."""
    days = [first + timedelta(days=n) for n in range((LAST - first).days + 1)]
    rows = [
        (d, "team", "t", "t", Decimal(str(spend(d) + fees(d))), Decimal(str(spend(d))))
        for d in days
        if spend(d) or fees(d)
    ]
    rows += [(d, "team", "u", "u", Decimal(1000), Decimal(1000)) for d in days]
    schema = {
        Daily.day: pl.Date,
        Daily.dimension: pl.String,
        Daily.key: pl.String,
        Daily.team: pl.String,
        Daily.cost: SERIES_MONEY,
        Daily.usage_cost: SERIES_MONEY,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _weekend(d: date) -> bool:
    return d.weekday() >= 5


@dataclass(frozen=True)
class Case:
    spend: Callable[[date], float]
    expected: list[tuple[date, date, str, str, bool]]  # first, last, actual, expected, new
    first: date = FIRST
    fees: Callable[[date], float] = no_fees


def _on_off(d: date) -> float:
    """An ad-hoc job: $1,320 on about half the days, in no weekday pattern."""
    return 1320.0 if (d.toordinal() * 7919) % 11 < 5 else 0.0


CASES = {
    "steady run": Case(lambda d: 1000, []),
    "weekly training run": Case(lambda d: 6000 if d.weekday() == 1 else 1000, []),
    "quiet weekends": Case(lambda d: 200 if _weekend(d) else 1000, []),
    "run started in the baseline days": Case(
        lambda d: 3000 if d >= date(2026, 9, 20) else 1000, []
    ),
    "one-day spike": Case(
        lambda d: 5000 if d == SPIKE else 1000, [(SPIKE, SPIKE, "5000.00", "1000.00", False)]
    ),
    "weekend not scaled down": Case(
        lambda d: 1000 if not _weekend(d) or IDLE_WEEKEND[0] <= d <= IDLE_WEEKEND[1] else 200,
        [(IDLE_WEEKEND[0], IDLE_WEEKEND[1], "2000.00", "400.00", False)],
    ),
    "spike under min_impact": Case(lambda d: 140 if d == SPIKE else 50, []),
    "spike under min_change": Case(lambda d: 14000 if d == SPIKE else 10000, []),
    "spike within the noise": Case(
        lambda d: 2600 if d == SPIKE else 1000 + 800 * (d.toordinal() % 3 - 1), []
    ),
    "new series": Case(
        lambda d: 700 if d >= NEW_MODEL_DAY else 0,
        [(NEW_MODEL_DAY, NEW_MODEL_DAY, "700.00", "0.00", True)],
    ),
    "new series under min_impact at first": Case(
        lambda d: 0 if d < NEW_MODEL_DAY else 60 if d == NEW_MODEL_DAY else 300,
        [(NEW_MODEL_DAY + timedelta(1), NEW_MODEL_DAY + timedelta(1), "300.00", "0.00", True)],
    ),
    "monthly fees on the 1st": Case(lambda d: 1000, [], fees=lambda d: 5000 if d.day == 1 else 0),
    "job that runs on and off": Case(_on_off, []),
    "job that runs on and off, one day at twice its cost": Case(
        lambda d: 2640 if d == SPIKE else _on_off(d),
        [(SPIKE, SPIKE, "2640.00", "1320.00", False)],
    ),
    "series of a young ledger": Case(
        lambda d: 700 if d >= NEW_MODEL_DAY else 0, [], first=date(2026, 10, 8)
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_flagged_spans(case: Case) -> None:
    found = flagged_spans(series_of(case.spend, first=case.first, fees=case.fees), Settings(), OCT)
    assert [
        (f.span.first, f.span.last, str(f.actual), str(f.expected), f.new) for f in found
    ] == case.expected


def test_the_band_follows_the_weekday_and_marks_the_alert_line() -> None:
    band = expected_band(series_of(lambda d: 6000 if d.weekday() == 1 else 1000), Settings())
    tuesday = band.filter(pl.col(Daily.day) == date(2026, 10, 13)).row(0, named=True)
    wednesday = band.filter(pl.col(Daily.day) == SPIKE).row(0, named=True)
    assert (tuesday["expected"], wednesday["expected"]) == (6000.0, 1000.0)
    # The line is the strictest of the three conditions: +50 % (min_change) for this series.
    assert wednesday["upper"] == pytest.approx(1500.0)
    assert wednesday["lower"] == pytest.approx(800.0)  # 1000 - 4 x the 5 % spread floor
    assert band[Daily.day].min() == date(2026, 9, 8)  # a week of history before any band


def test_runaway_weekend_is_found_with_its_team_dollars_and_instances(fleet: Store) -> None:
    alerts = {a.team: a for a in find_anomalies(fleet, Settings(), OCT)}
    runaway = alerts["research"]
    assert (runaway.dimension, runaway.key) == ("team", "research")
    assert (runaway.day, runaway.last_day) == RUNAWAY
    # Two weekend days of pre-training expected; eight more H100 instances at $2,360 a day.
    assert (runaway.expected, runaway.actual, runaway.impact) == (
        Decimal("4720.00"),
        Decimal("42480.00"),
        Decimal("37760.00"),
    )
    assert {d.label for d in runaway.drivers} == {"i-run1 H100", "i-run2 H100", "i-run3 H100"}
    assert all(d.cost == Decimal("4720.00") for d in runaway.drivers)
    assert runaway.explanation.startswith("8 instances 37,760.00 USD above their usual spend")


def test_idle_weekend_is_explained_by_its_idle_share_and_telemetry(fleet: Store) -> None:
    idle = {a.team: a for a in find_anomalies(fleet, Settings(), OCT)}["nlp"]
    assert (idle.day, idle.last_day) == IDLE_WEEKEND
    assert (idle.expected, idle.impact) == (Decimal("1600.00"), Decimal("3200.00"))
    assert idle.explanation == (
        "idle share rose from 0 % to 67 %; i-serve1 1×H100 busy at 20 % SM for 48 h"
    )
    assert [(d.label, d.cost) for d in idle.drivers] == [("i-serve1 1×H100", Decimal("4800.00"))]


def test_a_new_model_is_flagged_once_with_its_spend(fleet: Store) -> None:
    new = {a.team: a for a in find_anomalies(fleet, Settings(), OCT)}["vision"]
    assert (new.dimension, new.key, new.day) == ("model", "flux", NEW_MODEL_DAY)
    assert (new.expected, new.impact) == (Decimal("0.00"), Decimal("700.00"))
    assert new.title == "new model flux (vision) appeared: 700.00 USD on 2026-10-12"
    assert new.explanation == "new model `flux` appeared"


def test_planned_work_is_not_flagged(fleet: Store) -> None:
    """Weekly Tuesday fine-tunes, the steady pre-training run and quiet weekends raise nothing:
    the three incidents are all there is, each told once (no model, instance or GPU echo)."""
    alerts = find_anomalies(fleet, Settings(), OCT)
    assert sorted((a.team, a.dimension, a.day) for a in alerts) == [
        ("nlp", "team", IDLE_WEEKEND[0]),
        ("research", "team", RUNAWAY[0]),
        ("vision", "model", NEW_MODEL_DAY),
    ]


def test_ids_are_stable_and_distinct(fleet: Store) -> None:
    first = [a.id for a in find_anomalies(fleet, Settings(), OCT)]
    again = [a.id for a in find_anomalies(fleet, Settings(), OCT)]
    assert first == again
    assert len(set(first)) == len(first)


def test_one_teams_anomalies(fleet: Store) -> None:
    assert [a.team for a in find_anomalies(fleet, Settings(), OCT, team="nlp")] == ["nlp"]
    assert find_anomalies(fleet, Settings(), OCT, team="nobody") == []


def test_an_instance_alone_is_explained_by_its_models(store: Store) -> None:
    """One instance of twenty doubling for a day moves neither its team nor its model past the
    line: the instance is the alert, and its models are the drivers."""
    rows = [
        {Alloc.day: d, Alloc.ResourceId: f"i-{n}", Alloc.cost: "1000"}
        for d in Period.parse("2026-09").dates()
        for n in range(20)
    ]
    rows += [
        {
            Alloc.day: d,
            Alloc.ResourceId: f"i-{n}",
            Alloc.cost: "2000" if (n, d) == (7, SPIKE) else "1000",
        }
        for d in Period.parse(OCT).dates()
        for n in range(20)
    ]
    write_ledger_month(store, "2026-09", *rows[: 20 * 30])
    write_ledger_month(store, OCT, *rows[20 * 30 :])
    [alert] = find_anomalies(store, Settings(), OCT)
    assert (alert.dimension, alert.key, alert.team, alert.day) == ("instance", "i-7", "nlp", SPIKE)
    assert (alert.expected, alert.impact) == (Decimal("1000.00"), Decimal("1000.00"))
    assert [(d.label, d.cost) for d in alert.drivers] == [("model llama", Decimal("2000.00"))]
    assert alert.explanation == "model llama +1,000.00 USD over its usual"


@pytest.mark.parametrize(
    ("october_fee", "flagged"),
    [("5000", False), ("10000", True)],
    ids=["same-fee-as-last-month", "fee-grew-past-min-change"],
)
def test_a_charge_dated_on_the_first_of_every_month_is_no_anomaly(
    store: Store, october_fee: str, flagged: bool
) -> None:
    """A monthly fee billed as usage on the 1st breaches the weekday band every month; the same
    day of last month tells it apart, unless it grew by ``min_change``."""

    def month(period: str, fee: str) -> list[dict[str, object]]:
        steady = [
            {Alloc.day: d, Alloc.ResourceId: "i-1", Alloc.cost: "1000"}
            for d in Period.parse(period).dates()
        ]
        first = Period.parse(period).start.date()
        return [*steady, {Alloc.day: first, Alloc.ResourceId: "tgw-1", Alloc.cost: fee}]

    write_ledger_month(store, "2026-08", *month("2026-08", "5000"))
    write_ledger_month(store, "2026-09", *month("2026-09", "5000"))
    write_ledger_month(store, OCT, *month(OCT, october_fee))

    found = find_anomalies(store, Settings(), OCT)

    assert bool(found) is flagged
    if flagged:
        assert {a.day for a in found} == {date(2026, 10, 1)}
