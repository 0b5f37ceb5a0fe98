"""The same answer when there is no data (exit 2 with a hint), ``--period`` defaulting to the
latest month with billing data, and the dry-run outbox under the ledger home."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.errors import UsageError
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_two_team_october
from tests.email.test_email_command import config_file, write_ledger
from tests.recommend.builders import NOV, OCT, write_month
from tests.recommend.test_waste import etl_box


def run(store: Store, *args: str) -> str:
    result = CliRunner().invoke(app, ["--home", store.home, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command",
    [["chargeback"], ["waste"], ["recommend"], ["attribute"]],
    ids=["chargeback", "waste", "recommend", "attribute"],
)
def test_a_month_without_billing_data_is_a_usage_error_with_a_hint(
    store: Store, command: list[str]
) -> None:
    with pytest.raises(UsageError, match=r"no billing data for 2026-10: .*gpuledger ingest"):
        run(store, *command, "--period", OCT)


@pytest.mark.parametrize(
    "command",
    [["chargeback"], ["waste"], ["recommend"], ["explain", "--team", "nlp"]],
    ids=["chargeback", "waste", "recommend", "explain"],
)
def test_no_period_and_no_data_says_so(store: Store, command: list[str]) -> None:
    with pytest.raises(UsageError, match=r"no billing data in .*gpuledger ingest"):
        run(store, *command)


def test_period_defaults_to_the_latest_month_with_billing_data(store: Store) -> None:
    write_month(store, OCT, [etl_box()])
    write_month(store, NOV, [etl_box()])
    assert json.loads(run(store, "waste", "--format", "json"))["period"] == NOV
    assert json.loads(run(store, "recommend", "--format", "json"))["period"] == NOV


def test_chargeback_defaults_to_the_month_ingest_recorded(store: Store) -> None:
    write_two_team_october(store)
    assert json.loads(run(store, "chargeback", "--format", "json"))["period"] == OCT


@pytest.mark.slow
def test_dry_run_writes_to_the_outbox_under_the_home(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_ledger(store)
    monkeypatch.chdir(tmp_path)
    config = config_file(tmp_path, None)
    run(store, "--config", str(config), "email", "--period", OCT, "--dry-run")
    assert sorted(p.name for p in (Path(store.home) / "outbox").iterdir())
    assert not (tmp_path / "outbox").exists()
