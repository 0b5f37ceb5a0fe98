"""The read model: same bytes as the CLI, new data without a restart, and `gpuledger app`."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.commands.app import app_environment, app_script, streamlit_command
from gpuledger.commands.context import Context
from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.chargeback.close import reopen_period
from gpuledger.engine.waste.compute import compute_waste
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.cached import Ledger, state_fingerprint
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.app.conftest import AppFactory, LedgerFiles
from tests.app.ledger import CFO
from tests.factories import cost_rows

FINANCE = Viewer(CFO, finance=True)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "focus"])
def test_downloads_are_the_clis_bytes(shared_ledger: LedgerFiles, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"statements.{fmt}"
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(shared_ledger.home),
            "--config",
            str(shared_ledger.config),
            "chargeback",
            "--period",
            "2026-10",
            "--format",
            fmt,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    ledger = Ledger(str(shared_ledger.home), str(shared_ledger.config))
    assert readmodel.download(ledger, "2026-10", FINANCE, fmt) == out.read_bytes()


def test_new_data_shows_without_a_restart(own_ledger: LedgerFiles, open_app: AppFactory) -> None:
    at = open_app(own_ledger)
    assert {m.label: m.value for m in at.metric}["Invoice"] == "$28.00"
    store = own_ledger.store()
    late = cost_rows(
        {
            Cost.ChargePeriodStart: datetime(2026, 10, 2, tzinfo=UTC),
            Cost.ChargePeriodEnd: datetime(2026, 10, 2, tzinfo=UTC) + timedelta(hours=1),
            Cost.ServiceName: "Amazon Simple Storage Service",
            Cost.ResourceId: "bucket-late",
            Cost.BilledCost: Decimal("2.50"),
            Cost.EffectiveCost: Decimal("2.50"),
            Cost.x_Source: "focus",
        }
    )
    store.replace_partitions("cost", late, [Cost.x_Source, Cost.x_BillingPeriod])
    run_attribution(store, load_settings(own_ledger.config), "2026-10")
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Invoice"], metrics["(unallocated)"]) == ("$30.50", "$5.50")


def test_a_status_change_is_read_back_at_once(own_ledger: LedgerFiles) -> None:
    ledger = Ledger(str(own_ledger.home), str(own_ledger.config))
    before = readmodel.recommendations(ledger, "2026-10", FINANCE)
    rec_id = before.rows["id"][0]
    assert before.rows["status"].to_list() == ["new"]
    readmodel.change_status(ledger, "2026-10", FINANCE, rec_id, "acknowledge", None)
    after = readmodel.recommendations(ledger, "2026-10", FINANCE)
    assert after.rows["status"].to_list() == ["acknowledged"]


def test_the_app_is_found_from_the_package() -> None:
    script = app_script()
    assert script.name == "Home.py"
    assert script.parent.name == "app"


def test_streamlit_runs_headless_on_the_given_address() -> None:
    command = streamlit_command(Path("/x/app/Home.py"), port=8600, address="127.0.0.1")
    program = [sys.executable, "-m", "gpuledger.commands.app", "run", "/x/app/Home.py"]
    assert command[:5] == program
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options == {
        "--server.headless": "true",
        "--server.address": "127.0.0.1",
        "--server.port": "8600",
        "--browser.gatherUsageStats": "false",
        "--client.toolbarMode": "viewer",
    }


def test_home_and_config_travel_to_the_app(tmp_path: Path) -> None:
    config = tmp_path / "gpuledger.toml"
    env = app_environment(Context(home=str(tmp_path / "home"), config=config))
    assert env["GPULEDGER_HOME"] == str((tmp_path / "home").resolve())
    assert env["GPULEDGER_CONFIG"] == str(config.resolve())


@pytest.mark.parametrize(
    ("viewer", "team"),
    [
        (FINANCE, None),
        (Viewer("lead-nlp@example.com", finance=False, teams=frozenset({"nlp"})), "nlp"),
        (Viewer("lead-vision@example.com", finance=False, teams=frozenset({"vision"})), "vision"),
    ],
    ids=["finance", "nlp-lead", "vision-lead"],
)
def test_waste_rows_are_compute_wastes(
    shared_ledger: LedgerFiles, viewer: Viewer, team: str | None
) -> None:
    ledger = Ledger(str(shared_ledger.home), str(shared_ledger.config))
    settings = load_settings(shared_ledger.config)
    expected = compute_waste(shared_ledger.store(), settings, "2026-10", team=team)
    assert_frame_equal(readmodel.waste(ledger, "2026-10", viewer).rows, expected)


def test_heatmap_cells_are_held_time_weighted(shared_ledger: LedgerFiles) -> None:
    """Hour 0 busy at 50 % SM, hour 1 idle (counts as 0): one GPU-hour each."""
    ledger = Ledger(str(shared_ledger.home), str(shared_ledger.config))
    view = readmodel.waste(ledger, "2026-10", FINANCE)
    cells = readmodel.day_by_hour(view)
    assert cells.select("hour_of_day", "held_hours", "sm_util").rows() == [
        (0, 1.0, 50.0),
        (1, 1.0, 0.0),
    ]
    gpus = readmodel.gpu_by_hour(view, date(2026, 10, 1))
    assert gpus.select("gpu", "hour_of_day", "sm_util").rows() == [
        ("gpu-host-1/0", 0, 50.0),
        ("gpu-host-1/0", 1, 0.0),
    ]


def test_warm_up_leaves_nothing_to_compute_for_the_newest_month(
    shared_ledger: LedgerFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(str(shared_ledger.home), str(shared_ledger.config))
    readmodel.warm(ledger)

    def recompute(*args: object) -> None:
        raise AssertionError(f"computed again after warm-up: {args[2:]}")

    for module, name in (
        (readmodel.chargeback_rm, "statements_of"),
        (readmodel.waste_rm, "fleet_waste"),
        (readmodel.recs_rm, "all_recs"),
        (readmodel.health_rm, "health_view"),
        (readmodel.breakdown_rm, "allocation_by"),
        (readmodel.alerts_rm, "month_alerts"),
    ):
        monkeypatch.setattr(module, name, recompute)
    lead = Viewer("lead-nlp@example.com", finance=False, teams=frozenset({"nlp"}))
    for viewer in (FINANCE, lead):
        assert readmodel.chargeback(ledger, "2026-10", viewer).period == "2026-10"
        assert readmodel.waste(ledger, "2026-10", viewer).waste_cost == Decimal("10.00")
        assert readmodel.recommendations(ledger, "2026-10", viewer).rows.height == 1
        assert readmodel.grouped(ledger, "2026-10", viewer, "team")["group"].len() >= 2
        assert readmodel.daily(ledger, "2026-10", viewer, "team").height >= 2
        assert readmodel.trend(ledger, "2026-10", viewer, "team")["period"].n_unique() == 2
        assert readmodel.alerts(ledger, "2026-10", viewer).period == "2026-10"
    assert readmodel.health(ledger, FINANCE).coverage.height == 4


def test_a_page_run_looks_at_the_ledger_once(
    shared_ledger: LedgerFiles, open_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read of a run is keyed on one look at the table versions, taken by Home.py."""
    looks: list[str] = []
    versions = Store.versions

    def counted(store: Store) -> dict[str, int | None]:
        looks.append(store.home)
        return versions(store)

    monkeypatch.setattr(Store, "versions", counted)
    at = open_app(shared_ledger)
    looks.clear()
    at.selectbox(key="drill_team").select("vision").run()
    assert len(looks) == 1


def test_state_fingerprint_moves_with_changes_not_with_reads(own_ledger: LedgerFiles) -> None:
    store = own_ledger.store()
    before = state_fingerprint(store.state)
    store.state.closed_periods()
    store.state.ensure("CREATE TABLE IF NOT EXISTS unrelated_part (x TEXT)")
    assert state_fingerprint(store.state) == before
    reopen_period(store, "2026-09", "restated September invoice")
    assert state_fingerprint(store.state) != before
