"""Daily spend series: every dimension of a month adds up to its allocation to the cent, in the
reporting currency, and the stored table is reused until the allocation changes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.alerts.series import DIMENSIONS, daily_series, refresh_daily_series
from gpuledger.engine.chargeback.rounding import round_money
from gpuledger.schema import Alloc, Daily
from gpuledger.store.delta import Store
from tests.alerts.fleet import OCT, SEP, write_month
from tests.chargeback.ledger import day
from tests.chargeback.ledger import write_month as write_ledger_month


def _allocated(store: Store, period: str) -> Decimal:
    frame = store.scan("allocation").filter(pl.col(Alloc.x_BillingPeriod) == period).collect()
    return frame[Alloc.cost].sum()


def _month_totals(series: pl.DataFrame, period: str) -> dict[str, Decimal]:
    month = series.filter(pl.col(Daily.day).dt.strftime("%Y-%m") == period)
    return {
        row[Daily.dimension]: row[Daily.cost]
        for row in month.group_by(Daily.dimension).agg(pl.col(Daily.cost).sum()).to_dicts()
    }


def test_every_dimension_of_a_month_sums_to_its_allocation_to_the_cent(fleet: Store) -> None:
    settings = Settings()
    series = daily_series(fleet, settings, OCT)
    allocated = round_money(_allocated(fleet, OCT), "USD")
    assert allocated == Decimal("219260.00")  # the bill of tests.alerts.fleet's October
    totals = _month_totals(series, OCT)
    assert sorted(totals) == sorted(DIMENSIONS)
    assert {dim: round_money(total, "USD") for dim, total in totals.items()} == dict.fromkeys(
        DIMENSIONS, allocated
    )


def test_series_are_in_the_reporting_currency(store: Store) -> None:
    settings = Settings.model_validate({"fx": {OCT: {"EUR": "1.10"}}})
    write_ledger_month(
        store,
        OCT,
        {Alloc.day: day(OCT, 5), Alloc.cost: "100.005"},
        {Alloc.day: day(OCT, 5), Alloc.cost: "200.00", Alloc.currency: "EUR", Alloc.team: "cv"},
        {Alloc.day: day(OCT, 6), Alloc.cost: "0.333333333333", Alloc.ResourceId: None},
        {Alloc.day: day(OCT, 6), Alloc.cost: "30", Alloc.ChargeCategory: "Tax",
         Alloc.cost_type: "tax"},
    )  # fmt: skip
    series = daily_series(store, settings, OCT)
    teams = series.filter(pl.col(Daily.dimension) == "team")
    # usage_cost leaves out what is charged once (tax here): the detector's input
    assert {
        (r[Daily.key], r[Daily.day]): (r[Daily.cost], r[Daily.usage_cost]) for r in teams.to_dicts()
    } == {
        ("nlp", date(2026, 10, 5)): (Decimal("100.005"), Decimal("100.005")),
        ("cv", date(2026, 10, 5)): (Decimal("220.00"), Decimal("220.00")),
        ("nlp", date(2026, 10, 6)): (Decimal("30.333333333"), Decimal("0.333333333")),
    }
    instances = series.filter(pl.col(Daily.dimension) == "instance")
    assert "(no resource)" in instances[Daily.key].to_list()
    gpus = series.filter(pl.col(Daily.dimension) == "gpu")  # across teams: no team
    assert gpus.select(Daily.day, Daily.key, Daily.team, Daily.cost).rows() == [
        (date(2026, 10, 5), "H100", None, Decimal("320.005")),
        (date(2026, 10, 6), "H100", None, Decimal("30.333333333")),
    ]


def test_the_series_reach_back_over_the_baseline_days(fleet: Store) -> None:
    settings = Settings.model_validate({"alerts": {"baseline_days": 14}})
    series = daily_series(fleet, settings, OCT)
    assert series[Daily.day].min() == date(2026, 9, 17)
    assert series[Daily.day].max() == date(2026, 10, 31)


def test_stored_series_are_reused_until_the_allocation_changes(fleet: Store) -> None:
    settings = Settings()
    assert refresh_daily_series(fleet, settings, SEP) > 0
    daily_series(fleet, settings, OCT)
    written = fleet.version("daily_spend")
    first = daily_series(fleet, settings, OCT)
    assert fleet.version("daily_spend") == written  # read, not recomputed

    write_month(fleet, OCT, settings, until=10)  # October re-ingested to the 10th, re-attributed
    again = daily_series(fleet, settings, OCT)
    assert fleet.version("daily_spend") != written
    assert again[Daily.day].max() == date(2026, 10, 10)
    assert again.height < first.height


@pytest.mark.parametrize("period", ["2026-08", "2026-11"], ids=["before", "after"])
def test_a_month_without_allocation_has_no_series(fleet: Store, period: str) -> None:
    settings = Settings.model_validate({"alerts": {"baseline_days": 7}})
    assert refresh_daily_series(fleet, settings, period) == 0
    assert daily_series(fleet, settings, "2026-08").is_empty()
