"""A period whose cost basis is zero attributes, conserves, and its statement shows zero.

The real FOCUS 1.0 sample's 2024-10 holds one Oracle row with BilledCost 0.24 and EffectiveCost 0.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.engine.attribution.attribute import AttributionResult
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

SAMPLE = FIXTURES / "focus" / "focus-1.0-sample.csv.gz"


def test_zero_basis_month_of_the_real_focus_sample_attributes(store: Store) -> None:
    runner = CliRunner()
    home = ["--home", store.home]
    ingested = runner.invoke(app, [*home, "ingest", "focus", str(SAMPLE)])
    assert ingested.exit_code == 0, ingested.output

    attributed = runner.invoke(app, [*home, "attribute", "--period", "2024-10"])
    assert attributed.exit_code == 0, attributed.output
    assert "conservation: allocation == cost basis" in attributed.output
    allocation = store.read("allocation")
    assert allocation.filter(pl.col("x_BillingPeriod") == "2024-10").height == 0

    statement = runner.invoke(app, [*home, "chargeback", "--period", "2024-10"])
    assert statement.exit_code == 0, statement.output
    assert "0.00" in statement.output


def test_a_missing_currency_counts_as_zero_both_ways() -> None:
    def result(invoice: dict[str, Decimal], allocated: dict[str, Decimal]) -> AttributionResult:
        return AttributionResult("2024-10", 0, 0, invoice, allocated, {}, {})

    assert result({"USD": Decimal("0E-18")}, {}).conserved
    assert result({}, {"EUR": Decimal(0)}).conserved
    assert not result({"USD": Decimal("0.01")}, {}).conserved
    assert not result({"USD": Decimal(1)}, {"USD": Decimal(1), "EUR": Decimal(1)}).conserved
