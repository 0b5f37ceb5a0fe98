"""On-prem cost model, money only: amortization window, support per year, the energy price."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gpuledger.collect.onprem.costs import energy_cost, energy_price, fixed_cost, from_nanos
from gpuledger.errors import ConfigError
from gpuledger.period import Period
from tests.onprem.clusters import dgx


@pytest.mark.parametrize(
    ("period", "hardware"),
    [
        ("2026-01", Decimal("33.333333334")),  # the purchase month opens the window
        ("2026-02", Decimal("33.333333333")),
        ("2026-03", Decimal("33.333333333")),  # the window's last month
        ("2026-04", Decimal(0)),  # the first month after it
    ],
    ids=["purchase-month", "middle", "last-month", "after-window"],
)
def test_hardware_is_amortized_over_the_window(period: str, hardware: Decimal) -> None:
    cluster = dgx(purchase_cost=Decimal(100), amortization_months=3)
    assert from_nanos(fixed_cost(cluster, Period.parse(period)).hardware) == hardware


def test_the_window_adds_up_to_the_purchase_cost_exactly() -> None:
    cluster = dgx(purchase_cost=Decimal("1000000.01"), amortization_months=7)
    months = [Period(2026, 1)]
    while len(months) < 7:
        months.append(months[-1].next())
    total = sum(fixed_cost(cluster, month).hardware for month in months)
    assert from_nanos(total) == Decimal("1000000.01")


def test_support_adds_up_to_the_year_and_colocation_is_monthly() -> None:
    cluster = dgx(support_per_year=Decimal(1000), purchase_date=date(2025, 12, 1))
    year = [fixed_cost(cluster, Period(2026, month)) for month in range(1, 13)]
    assert from_nanos(sum(cost.support for cost in year)) == Decimal(1000)
    assert {from_nanos(cost.colocation) for cost in year} == {Decimal(2000)}


def test_a_purchase_after_the_period_names_the_cluster_and_key() -> None:
    with pytest.raises(
        ConfigError, match=r"'dgx': purchase_date: 2026-01-15 is after the period 2025-12"
    ):
        fixed_cost(dgx(), Period(2025, 12))


@pytest.mark.parametrize(
    ("period", "price"),
    [("2025-06", "0.30"), ("2026-02", "0.20"), ("2026-05", "0.20"), ("2026-06", "0.25")],
    ids=["first-entry", "second-from-its-month", "second-until-next", "third"],
)
def test_the_energy_price_in_force(period: str, price: str) -> None:
    assert energy_price(dgx(), Period.parse(period)) == Decimal(price)


def test_no_energy_price_for_the_month_names_the_cluster_and_key() -> None:
    with pytest.raises(ConfigError, match=r"'dgx': energy_prices: no price in force in 2024-12"):
        energy_price(dgx(), Period(2024, 12))


def test_energy_cost_is_kwh_times_pue_times_price() -> None:
    assert from_nanos(energy_cost(4.0, Decimal("1.25"), Decimal("0.20"))) == Decimal("1.00")
    assert from_nanos(energy_cost(0.1, Decimal("1.5"), Decimal("0.123"))) == Decimal("0.01845")
