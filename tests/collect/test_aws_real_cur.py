"""The anonymized real legacy CUR (focus_converters) ingests and reconciles to its README totals."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.config import Settings
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

REAL_CUR = FIXTURES / "aws" / "focus-converters-aws-cur"
FILE = REAL_CUR / "sample-anonymous-aws-export-dataset.csv.gz"

# From the fixture README: (rows, unblended, amortized, public on-demand) per line item type.
TOTALS = {
    "Usage": (1269, Decimal("1.60230869740"), Decimal("1.60230869740"), Decimal("3.35617269490")),
    "Tax": (12, Decimal("0.08"), Decimal("0.08"), Decimal("0.0")),
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("home"))
    aws.ingest(store, Settings(), str(REAL_CUR))
    return store


def test_totals_per_line_item_type_match_the_readme(stored: Store) -> None:
    got = (
        stored.read("cost")
        .group_by(Cost.x_LineItemType)
        .agg(
            pl.len(),
            pl.col(Cost.BilledCost).sum(),
            pl.col(Cost.EffectiveCost).sum(),
            pl.col(Cost.ListCost).sum(),
        )
        .rows()
    )
    assert {row[0]: row[1:] for row in got} == TOTALS


def test_whole_period_reconciles_and_stays_provisional(stored: Store) -> None:
    cost = stored.read("cost")
    assert cost.select(
        Cost.x_BillingPeriod, Cost.BillingAccountId, Cost.BillingCurrency
    ).unique().rows() == [("2023-11", "123412340534", "USD")]
    assert cost.get_column(Cost.EffectiveCost).sum() == Decimal("1.68230869740")
    periods = stored.state.billing_periods()
    assert [(p["period"], p["invoiced"]) for p in periods] == [("2023-11", 0)]


def test_fixture_is_the_unmodified_public_file() -> None:
    """The fixture is the README's file: same size once decompressed, same header."""
    text = gzip.decompress(FILE.read_bytes())
    assert len(text) == 1_039_102
    assert text.startswith(b"identity/LineItemId,identity/TimeInterval,bill/InvoiceId")


def test_millisecond_timestamps_parse(stored: Store) -> None:
    cost = stored.read("cost")
    assert str(cost.get_column(Cost.BillingPeriodStart).min()) == "2023-11-01 00:00:00+00:00"
    assert str(cost.get_column(Cost.ChargePeriodStart).max()) == "2023-11-14 03:00:00+00:00"


def test_reingest_keeps_one_copy(stored: Store, tmp_path: Path) -> None:
    aws.ingest(stored, Settings(), str(FILE))
    assert stored.read("cost").height == 1281
