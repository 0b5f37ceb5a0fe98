"""`gpuledger ingest focus`: storing, re-ingesting, quarantining, currencies, conservation."""

from __future__ import annotations

import gzip
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from gpuledger.collect.focus import collector as focus
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.report.health import store_health
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.focus_rows import write_focus_csv
from tests.conftest import FIXTURES
from tests.servers import S3, moto_server, s3

__all__ = ["moto_server", "s3"]  # fixtures used by the S3 test


def test_reingesting_the_same_export_leaves_one_copy(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_focus_csv(tmp_path / "f.csv", {}, {"BilledCost": "2"})

    focus.ingest(store, settings, str(path))
    focus.ingest(store, settings, str(path))

    stored = store.read("cost")
    assert stored.height == 2
    assert stored.get_column(Cost.BilledCost).sum() == Decimal("14.5")


def test_restated_export_replaces_the_period(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    focus.ingest(store, settings, str(write_focus_csv(tmp_path / "a.csv", {}, {})))
    restated = write_focus_csv(tmp_path / "b.csv", {"BilledCost": "3.25"})

    focus.ingest(store, settings, str(restated))

    assert store.read("cost").get_column(Cost.BilledCost).to_list() == [Decimal("3.25")]


def test_quarantined_rows_are_visible_in_status(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_focus_csv(tmp_path / "f.csv", {}, {"ChargeCategory": "Refund", "BilledCost": "7"})

    result = focus.ingest(store, settings, str(path))

    assert (result.rows, result.quarantined) == (1, 1)
    health = store_health(store, settings)
    assert [(q["reason"], q["rows"]) for q in health.quarantine] == [
        ("ChargeCategory is not one of Usage, Purchase, Tax, Credit, Adjustment", 1)
    ]
    assert health.quarantine[0]["cost"] == "7.00"


def test_gzip_csv_in_a_folder_is_read(store: Store, settings: Settings, tmp_path: Path) -> None:
    plain = write_focus_csv(tmp_path / "plain.csv", {})
    folder = tmp_path / "export" / "20260501-20260531"
    folder.mkdir(parents=True)
    (folder / "part_0_0001.csv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    (folder / "manifest.json").write_text("{}")

    result = focus.ingest(store, settings, str(tmp_path / "export"))

    assert result.rows == 1


def test_a_period_in_two_currencies_is_refused_without_rates(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    path = write_focus_csv(tmp_path / "f.csv", {}, {"BillingCurrency": "EUR"})

    with pytest.raises(InputError, match=r'billed in EUR, USD; no \[fx\."2026-05"\] rate for EUR'):
        focus.ingest(store, settings, str(path))

    assert not store.exists("cost")


def test_a_period_in_two_currencies_is_converted_with_configured_rates(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings.model_validate({"fx": {"2026-05": {"EUR": "1.08"}}})
    path = write_focus_csv(tmp_path / "f.csv", {}, {"BillingCurrency": "EUR", "BilledCost": "10"})

    focus.ingest(store, settings, str(path))

    got = store.read("cost").sort(Cost.x_SourceRow)
    assert got.get_column(Cost.BillingCurrency).to_list() == ["USD", "USD"]
    assert got.get_column(Cost.BilledCost).to_list() == [Decimal("12.5"), Decimal("10.8")]
    assert got.get_column(Cost.EffectiveCost).to_list() == [Decimal("10.25"), Decimal("11.07")]
    assert got.get_column(Cost.x_CurrencyConversionRate).to_list() == [None, 1.08]


def test_cli_refuses_a_file_that_is_not_focus_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,amount\n2026-05-01,3\n")

    result = subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(tmp_path / "home"), "ingest", "focus",
         str(bad)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "bad.csv: not a FOCUS 1.0 cost and usage file: missing mandatory column(s)" in (
        result.stderr + result.stdout
    )


AMOUNTS = st.decimals(
    min_value=Decimal("-1000"), max_value=Decimal("100000"), places=10, allow_nan=False
)


@hyp_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(AMOUNTS, AMOUNTS, st.sampled_from(["acct-1", "acct-2"]), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_sum_in_equals_sum_stored_plus_quarantined(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[Decimal, Decimal, str, bool]]
) -> None:
    """Conservation: every row's BilledCost/EffectiveCost is stored or shown in quarantine."""
    folder = tmp_path_factory.mktemp("conservation")
    cells = [
        {
            "BilledCost": str(billed),
            "EffectiveCost": str(effective),
            "BillingAccountId": account,
            "ChargeCategory": "Usage" if sound else "Bogus",
            "ResourceId": f"vm-{number}",  # equal rows would be one line delivered twice
        }
        for number, (billed, effective, account, sound) in enumerate(rows)
    ]
    path = write_focus_csv(folder / "f.csv", *cells)
    store = Store(folder / "home")

    result = focus.ingest(store, Settings(), str(path))

    stored = store.read("cost")
    quarantine = store.read("quarantine")
    assert result.rows + result.quarantined == len(rows)
    billed_in = sum((b for b, _, _, _ in rows), Decimal(0))
    effective_in = sum((e for _, e, _, sound in rows if sound), Decimal(0))
    assert (
        stored.get_column(Cost.BilledCost).sum()
        + (quarantine.get_column("cost").sum() or Decimal(0))
        == billed_in
    )
    assert (stored.get_column(Cost.EffectiveCost).sum() or Decimal(0)) == effective_in
    assert stored.select(pl.col(Cost.x_Source).unique()).to_series().to_list() in ([], ["focus"])


@pytest.mark.slow
def test_an_export_under_s3_is_listed_and_read(
    s3: S3, store: Store, settings: Settings, tmp_path: Path
) -> None:
    s3.client.create_bucket(Bucket="billing")
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "part_0_0001.csv.gz").write_bytes(
        (FIXTURES / "focus" / "focus-1.2-synthetic-azure.csv.gz").read_bytes()
    )
    s3.upload_tree(folder, "billing", "focus/20260501-20260531")

    result = focus.ingest(store, settings, "s3://billing/focus/")

    assert result.rows == 1000
    stored = store.read("cost")
    assert stored.get_column(Cost.BilledCost).sum() == Decimal("49321.108200244240000")
    assert stored.get_column(Cost.x_SourceFile).unique().to_list() == [
        "s3://billing/focus/20260501-20260531/part_0_0001.csv.gz"
    ]
