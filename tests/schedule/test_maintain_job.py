"""The nightly `maintain` job: scheduled by default, compacts through the run lock, keeps its line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from gpuledger.config import Settings
from gpuledger.schedule.jobs import run_job
from gpuledger.schedule.lock import last_runs
from gpuledger.schedule.scheduler import scheduled_jobs, trigger_for
from gpuledger.schema import Usage, validate
from gpuledger.store.delta import Store
from gpuledger.store.maintain import table_files
from gpuledger.store.maintenance_log import last_maintained
from tests.factories import usage_rows

NIGHT = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)


def _append_buckets(store: Store, count: int) -> None:
    for n in range(count):
        rows = usage_rows(
            {Usage.bucket_start: datetime(2026, 10, 1, tzinfo=UTC) + timedelta(minutes=5 * n)}
        ).with_columns(
            pl.lit("agent").alias(Usage.source), pl.lit("2026-10").alias(Usage.x_BillingPeriod)
        )
        store.append("gpu_usage", validate(rows, "gpu_usage"))


def test_maintain_is_a_nightly_job_of_every_config() -> None:
    settings = Settings()
    (spec,) = [spec for spec in scheduled_jobs(settings) if spec.id == "maintain"]
    fire = trigger_for(settings, spec).get_next_fire_time(None, NIGHT - timedelta(hours=1))
    assert fire == NIGHT
    assert settings.schedule.maintain_retention_hours == 168


def test_the_job_compacts_and_records_its_run(store: Store, tmp_path: Path) -> None:
    _append_buckets(store, 6)
    config = tmp_path / "gpuledger.toml"
    config.write_text("[schedule]\nmaintain_retention_hours = 0\n")

    message = run_job("maintain", store.home, str(config), now=NIGHT)

    assert message == "1 table(s): 6 → 1 files, 6 vacuumed"
    assert table_files(store)["gpu_usage"].files == 1
    assert store.read("gpu_usage").height == 6
    assert last_runs(store.state)["maintain"]["message"] == message
    assert "gpu_usage" in last_maintained(store.state)
    assert run_job("maintain", store.home, str(config), now=NIGHT).startswith("skipped")
