"""`gpuledger schedule --list`: the configured jobs, their next run, and what their last run did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.commands.schedule import job_rows
from gpuledger.config import ScheduleConfig, Settings
from gpuledger.schedule.lock import RunLock
from gpuledger.schedule.scheduler import build_scheduler, reconcile
from gpuledger.store.delta import Store


def test_list_before_the_scheduler_ever_ran(store: Store, tmp_path: Path) -> None:
    config = tmp_path / "gpuledger.toml"
    config.write_text('[schedule]\ntimezone = "Asia/Tokyo"\nweekly_email = "0 8 * * 1"\n')

    result = CliRunner(env={"COLUMNS": "240"}).invoke(
        app, ["--home", store.home, "--config", str(config), "schedule", "--list"]
    )

    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ ")}
    assert set(lines) == {"attribute", "recommend", "weekly-email", "monthly-notice", "maintain"}
    assert "0 8 * * 1" in lines["weekly-email"]
    assert "T08:00+09:00 (not started yet)" in lines["weekly-email"]
    next_run = next(w for w in lines["weekly-email"].split() if w.endswith("T08:00+09:00"))
    assert datetime.fromisoformat(next_run).weekday() == 0  # crontab's 1 is Monday
    assert "Scheduled jobs (Asia/Tokyo)" in result.output


def test_rows_show_the_stored_next_run_and_the_last_run(store: Store) -> None:
    settings = Settings(schedule=ScheduleConfig(timezone="UTC"))
    scheduler = build_scheduler(store, settings)
    scheduler.start(paused=True)
    reconcile(scheduler, store, settings, None)
    overdue = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    scheduler.modify_job("recommend", next_run_time=overdue)
    scheduler.shutdown(wait=True)
    lock = RunLock(store.state, "host:1")
    fire = overdue - timedelta(days=1)
    lock.acquire("recommend", fire, fire)
    lock.finish("recommend", fire, fire + timedelta(minutes=2), ok=True, message="2026-10: 4")

    rows = {row["job"]: row for row in job_rows(store, settings)}

    assert rows["recommend"]["next_run"] == "2026-11-02T06:00+00:00"
    assert rows["recommend"]["stored"] is True
    assert (rows["recommend"]["last_run"]["status"], rows["recommend"]["last_run"]["message"]) == (
        "ok",
        "2026-10: 4",
    )
    assert rows["attribute"]["last_run"] is None
