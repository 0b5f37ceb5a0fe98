"""The scheduler on its real SQLite job store: jobs from config, restarts, missed runs coalesced."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.triggers.cron import CronTrigger

from gpuledger.config import ScheduleConfig, Settings, SourcesConfig
from gpuledger.schedule.scheduler import JOB_FUNCTION, build_scheduler, reconcile
from gpuledger.store.delta import Store
from tests.schedule.jobs_for_tests import record_run

CONFIG = "/etc/gpuledger.toml"


def stored_jobs(store: Store, settings: Settings) -> dict[str, tuple[str, datetime]]:
    """The job store as a fresh process sees it: id → (trigger, next run)."""
    scheduler = build_scheduler(store, settings)
    scheduler.start(paused=True)
    try:
        return {j.id: (str(j.trigger), j.next_run_time) for j in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)


def reconciled(store: Store, settings: Settings) -> list[str]:
    scheduler = build_scheduler(store, settings)
    scheduler.start(paused=True)
    try:
        return reconcile(scheduler, store, settings, CONFIG)
    finally:
        scheduler.shutdown(wait=False)


def test_jobs_persist_and_an_unchanged_config_changes_nothing(store: Store) -> None:
    settings = Settings(schedule=ScheduleConfig(timezone="Europe/Berlin"))
    first = reconciled(store, settings)
    assert first == [
        "added attribute: 30 * * * *",
        "added recommend: 0 6 * * *",
        "added weekly-email: 0 8 * * mon",
        "added monthly-notice: 0 9 * * *",
        "added maintain: 0 3 * * *",
    ]
    before = stored_jobs(store, settings)

    assert reconciled(store, settings) == []
    assert stored_jobs(store, settings) == before
    weekly = before["weekly-email"][1]
    assert (weekly.weekday(), weekly.hour, str(weekly.tzinfo)) == (0, 8, "Europe/Berlin")


def test_config_changes_update_add_and_remove_jobs(store: Store) -> None:
    reconciled(store, Settings())
    changed = Settings(
        schedule=ScheduleConfig(weekly_email="0 7 * * 1"),
        sources=SourcesConfig(gpu=["/var/spool/gpuledger"]),
    )

    assert reconciled(store, changed) == [
        "added ingest-gpu: */5 * * * *",
        "updated weekly-email: 0 7 * * 1",
    ]
    assert reconciled(store, Settings()) == [
        "removed ingest-gpu",
        "updated weekly-email: 0 8 * * mon",
    ]


def test_stored_jobs_are_textual_references_with_picklable_arguments(store: Store) -> None:
    settings = Settings()
    scheduler = build_scheduler(store, settings)
    scheduler.start(paused=True)
    try:
        reconcile(scheduler, store, settings, CONFIG)
        job = scheduler.get_job("recommend")
        assert job is not None
        assert (job.func_ref, job.args) == (JOB_FUNCTION, ("recommend", store.home, CONFIG))
        assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, 3600, 1)
    finally:
        scheduler.shutdown(wait=False)


@pytest.mark.parametrize(
    ("grace_seconds", "executed", "missed"),
    [(7200, 1, 0), (60, 0, 1)],
    ids=["61-missed-runs-within-grace-run-once", "missed-beyond-grace-are-skipped"],
)
def test_missed_runs_after_downtime_coalesce_into_one(
    store: Store, tmp_path: Path, grace_seconds: int, executed: int, missed: int
) -> None:
    """A per-minute job down for two hours: its 61 missed fires run once, or not at all."""
    settings = Settings(schedule=ScheduleConfig(misfire_grace_seconds=grace_seconds))
    now = datetime.now(UTC)
    runs = tmp_path / "runs.txt"
    trigger = CronTrigger(minute="*", end_date=now - timedelta(hours=1), timezone=UTC)
    down = build_scheduler(store, settings)
    down.start(paused=True)
    down.add_job(
        f"{record_run.__module__}:record_run",
        trigger=trigger,
        args=[str(runs)],
        id="tick",
        next_run_time=now - timedelta(hours=2),
    )
    down.shutdown(wait=False)  # the scheduler is down; the job stays in the store, overdue

    events: list[JobExecutionEvent] = []
    seen = threading.Event()

    def listen(event: JobExecutionEvent) -> None:
        events.append(event)
        seen.set()

    restarted = build_scheduler(store, settings)
    restarted.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    restarted.start()
    try:
        assert seen.wait(timeout=30)
    finally:
        restarted.shutdown(wait=True)

    assert [e.code for e in events].count(EVENT_JOB_EXECUTED) == executed
    assert [e.code for e in events].count(EVENT_JOB_MISSED) == missed
    lines = runs.read_text().splitlines() if runs.exists() else []
    assert len(lines) == executed
    assert stored_jobs(store, settings) == {}  # the trigger has ended: nothing left to run


def test_opening_the_store_paused_and_closing_it_runs_nothing(store: Store, tmp_path: Path) -> None:
    """What `schedule --list` does must leave an overdue job overdue, for the real scheduler."""
    settings = Settings()
    runs = tmp_path / "runs.txt"
    overdue = datetime.now(UTC) - timedelta(minutes=30)
    first = build_scheduler(store, settings)
    first.start(paused=True)
    first.add_job(
        f"{record_run.__module__}:record_run",
        trigger=CronTrigger(minute="*/5", timezone=UTC),
        args=[str(runs)],
        id="tick",
        next_run_time=overdue,
    )
    first.shutdown(wait=True)

    for _ in range(3):
        assert stored_jobs(store, settings)["tick"][1] == overdue.replace(
            microsecond=overdue.microsecond
        )
    assert not runs.exists()
