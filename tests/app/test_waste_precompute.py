"""The engine's stored waste (``waste``, ``waste_hourly``) and the read model's use of it.

The waste page reads the precompute instead of tens of millions of telemetry rows, so these tests
hold it to two promises: it is exactly what the engine computes live, and it is never served once
the ledger it was computed from has changed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.config import load_settings
from gpuledger.engine.recommend.profile import usage_stats
from gpuledger.engine.waste import inputs as waste_inputs
from gpuledger.engine.waste.compute import (
    compute_waste,
    period_waste,
    store_waste,
    stored_waste,
    usage_slices,
)
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel import waste as waste_rm
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.cached import Ledger
from gpuledger.schema import Usage, Waste, WasteHour
from gpuledger.store.delta import Store
from tests.app.conftest import LedgerFiles
from tests.app.ledger import CFO, GIB, NLP_LEAD, VISION_LEAD
from tests.factories import usage_rows

PERIOD = "2026-10"
FINANCE = Viewer(CFO, finance=True)
HOURLY_KEYS = (WasteHour.team, WasteHour.gpu, WasteHour.hour)


def _late_idle_hour() -> pl.DataFrame:
    """One more idle hour on i-nlp (hour 2 of 2026-10-01): telemetry that lands after a run."""
    start = datetime(2026, 10, 1, 2, tzinfo=UTC)
    return usage_rows(
        *(
            {
                Usage.bucket_start: start + timedelta(minutes=5 * i),
                Usage.host: "gpu-host-1",
                Usage.ResourceId: "i-nlp",
                Usage.gpu_uuid: "GPU-nlp-0",
                Usage.gpu_model: "A100",
                Usage.active_seconds: 0.0,
                Usage.sm_util: None,
                Usage.mem_used_bytes: 0,
                Usage.mem_total_bytes: 40 * GIB,
                Usage.source: "file",
                Usage.x_BillingPeriod: PERIOD,
            }
            for i in range(12)
        )
    )


def _no_live_compute(*args: object) -> None:
    raise AssertionError(f"computed live although the precompute is current: {args[2:]}")


def test_stored_rows_are_compute_wastes(own_ledger: LedgerFiles) -> None:
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    written = store_waste(store, settings, PERIOD)
    stored = stored_waste(store, settings, PERIOD)
    assert stored is not None
    expected = compute_waste(store, settings, PERIOD)
    assert expected[Waste.waste_cost].sum() == Decimal("10.00")
    assert_frame_equal(stored.rows, expected)
    assert_frame_equal(stored.hourly.sort(HOURLY_KEYS), written.hourly.sort(HOURLY_KEYS))
    live = period_waste(store, settings, PERIOD)
    assert_frame_equal(stored.hourly.sort(HOURLY_KEYS), live.hourly.sort(HOURLY_KEYS))
    # Aggregates only: one row per team × GPU × hour, not the 24 telemetry buckets.
    assert store.read("waste_hourly").height == 2


@pytest.mark.parametrize(
    ("viewer", "team"),
    [
        (FINANCE, None),
        (Viewer(NLP_LEAD, finance=False, teams=frozenset({"nlp"})), "nlp"),
        (Viewer(VISION_LEAD, finance=False, teams=frozenset({"vision"})), "vision"),
    ],
    ids=["finance", "nlp-lead", "vision-lead"],
)
def test_read_model_serves_the_current_precompute_per_viewer(
    own_ledger: LedgerFiles, monkeypatch: pytest.MonkeyPatch, viewer: Viewer, team: str | None
) -> None:
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    store_waste(store, settings, PERIOD)
    expected = compute_waste(store, settings, PERIOD, team=team)
    monkeypatch.setattr(waste_rm, "period_waste", _no_live_compute)
    assert waste_rm.fleet_waste(store, settings, PERIOD).stored
    view = readmodel.waste(Ledger(str(own_ledger.home), str(own_ledger.config)), PERIOD, viewer)
    assert_frame_equal(view.rows, expected)
    assert set(view.rows[Waste.team]) <= (viewer.teams if team else {"nlp"})
    if team == "vision":  # no telemetry of vision's: nothing of nlp's GPU reaches its lead
        assert view.hourly.is_empty()
    else:
        cells = readmodel.day_by_hour(view)
        assert cells.select("hour_of_day", "held_hours", "sm_util").rows() == [
            (0, 1.0, 50.0),
            (1, 1.0, 0.0),
        ]


def test_new_telemetry_makes_the_precompute_stale(own_ledger: LedgerFiles) -> None:
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    store_waste(store, settings, PERIOD)
    store.append("gpu_usage", _late_idle_hour())
    assert stored_waste(store, settings, PERIOD) is None
    fleet = waste_rm.fleet_waste(store, settings, PERIOD)
    assert not fleet.stored
    expected = compute_waste(store, settings, PERIOD)
    assert_frame_equal(fleet.rows, expected)
    assert fleet.rows[Waste.idle_gpu_hours].sum() == pytest.approx(2.0)  # the late hour counts
    assert fleet.hourly.height == 3
    store_waste(store, settings, PERIOD)  # the next run brings it up to date
    fresh = stored_waste(store, settings, PERIOD)
    assert fresh is not None
    assert_frame_equal(fresh.rows, expected)


def test_a_config_change_makes_the_precompute_stale(own_ledger: LedgerFiles) -> None:
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    store_waste(store, settings, PERIOD)
    stricter = settings.model_copy(
        update={
            "thresholds": settings.thresholds.model_copy(
                update={
                    "waste": settings.thresholds.waste.model_copy(update={"idle_sm_util": 60.0})
                }
            )
        }
    )
    assert stored_waste(store, stricter, PERIOD) is None
    fleet = waste_rm.fleet_waste(store, stricter, PERIOD)
    assert not fleet.stored
    # Both rows now waste $5.00: their order is a tie, so only the rows are compared.
    assert_frame_equal(fleet.rows, compute_waste(store, stricter, PERIOD), check_row_order=False)
    assert fleet.rows[Waste.idle_gpu_hours].sum() == pytest.approx(2.0)  # 50 % SM is now idle


def test_reattribution_leaves_the_precompute_current(own_ledger: LedgerFiles) -> None:
    """Waste never reads ``allocation``, so a new allocation version does not make it stale."""
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    store_waste(store, settings, PERIOD)
    before = store.version("allocation")
    _cli(own_ledger, "attribute", "--period", PERIOD)
    assert store.version("allocation") != before
    assert stored_waste(store, settings, PERIOD) is not None


def _cli(ledger: LedgerFiles, *args: str) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(ledger.home), "--config", str(ledger.config), *args]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "command",
    [("recommend", "--period", PERIOD), ("attribute", "--period", PERIOD)],
    ids=["recommend", "attribute"],
)
def test_commands_store_the_precompute(own_ledger: LedgerFiles, command: tuple[str, ...]) -> None:
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    assert stored_waste(store, settings, PERIOD) is None
    _cli(own_ledger, *command)
    stored = stored_waste(store, settings, PERIOD)
    assert stored is not None
    assert_frame_equal(stored.rows, compute_waste(store, settings, PERIOD))


def test_the_scheduled_recommend_job_stores_the_precompute(own_ledger: LedgerFiles) -> None:
    from gpuledger.schedule.jobs import recommend

    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    recommend(store, settings, datetime(2026, 10, 15, tzinfo=UTC))
    assert stored_waste(store, settings, PERIOD) is not None


def test_an_empty_month_clears_what_an_earlier_run_stored(tmp_path: Path) -> None:
    """A rerun over a month whose telemetry is gone replaces the stored rows with none."""
    store = Store(tmp_path / "home")
    settings = load_settings(None)
    store.append("gpu_usage", _late_idle_hour())
    store_waste(store, settings, PERIOD)
    assert store.read("waste").height == 1
    store.replace_partitions(
        "gpu_usage",
        _late_idle_hour().head(0),
        [Usage.source, Usage.x_BillingPeriod, Usage.host],
        replace=[{Usage.source: "file", Usage.x_BillingPeriod: PERIOD, Usage.host: "gpu-host-1"}],
    )
    store_waste(store, settings, PERIOD)
    assert store.read("waste").is_empty()
    assert store.read("waste_hourly").is_empty()
    assert stored_waste(store, settings, PERIOD) is None


def test_slicing_by_instance_changes_no_number(own_ledger: LedgerFiles) -> None:
    """Telemetry taken a few rows at a time gives the one-pass result, row for row."""
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    vision = _late_idle_hour().with_columns(
        pl.lit("gpu-host-2").alias(Usage.host),
        pl.lit("i-vis").alias(Usage.ResourceId),
        pl.lit("GPU-vis-0").alias(Usage.gpu_uuid),
    )
    store.append("gpu_usage", pl.concat([_late_idle_hour(), vision]))
    whole = period_waste(store, settings, PERIOD)
    sliced = period_waste(store, settings, PERIOD, chunk_rows=5)
    assert whole.rows[Waste.ResourceId].n_unique() == 2
    assert_frame_equal(sliced.rows, compute_waste(store, settings, PERIOD), check_row_order=False)
    assert_frame_equal(sliced.rows, whole.rows, check_row_order=False)
    assert_frame_equal(
        sliced.hourly.sort(HOURLY_KEYS), whole.hourly.sort(HOURLY_KEYS), check_exact=False
    )


def test_instance_profiles_merge_across_slices(own_ledger: LedgerFiles) -> None:
    """`gpuledger recommend` profiles instances a slice at a time: same figures as in one pass."""
    store, settings = own_ledger.store(), load_settings(own_ledger.config)
    vision = _late_idle_hour().with_columns(
        pl.lit("gpu-host-2").alias(Usage.host),
        pl.lit("i-vis").alias(Usage.ResourceId),
        pl.lit("GPU-vis-0").alias(Usage.gpu_uuid),
    )
    store.append("gpu_usage", pl.concat([_late_idle_hour(), vision]))
    resources = waste_inputs.resource_costs(store, settings, PERIOD)
    owners = {rid: r.owner for rid, r in resources.items()}
    one_pass = waste_inputs.usage_rows(store, settings, PERIOD, owners)
    whole = usage_stats(one_pass, settings, PERIOD)
    merged: dict[str | None, dict[str, object]] = {}
    for rows in usage_slices(store, settings, PERIOD, owners, chunk_rows=5):
        merged.update(usage_stats(rows, settings, PERIOD))
    assert set(whole) == {"i-nlp", "i-vis"}
    assert set(merged) == set(whole)
    for rid, figures in whole.items():  # sums of floats: equal up to their order of addition
        assert merged[rid] == {
            key: pytest.approx(value) if isinstance(value, float) else value
            for key, value in figures.items()
        }
