"""`gpuledger schedule`: run the scheduler until stopped; `--list` shows the jobs and their next runs."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.config import Settings
from gpuledger.schedule.lock import last_runs
from gpuledger.schedule.scheduler import (
    build_scheduler,
    reconcile,
    scheduled_jobs,
    timezone,
    trigger_for,
)
from gpuledger.store.delta import Store

log = logging.getLogger("gpuledger.schedule")


def run(ctx: Context, *, list_jobs: bool) -> None:
    config = str(ctx.config.resolve()) if ctx.config else None
    if list_jobs:
        _print_jobs(Console(), ctx.store, ctx.settings)
        return
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    scheduler = build_scheduler(ctx.store, ctx.settings)
    scheduler.start(paused=True)
    for change in reconcile(scheduler, ctx.store, ctx.settings, config):
        log.info("job store: %s", change)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.resume()
    log.info("scheduler running on %s; Ctrl-C stops it", ctx.store.home)
    stop.wait()
    log.info("stopping: waiting for running jobs to finish")
    scheduler.shutdown(wait=True)


def job_rows(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Configured jobs with their next run (the stored one if scheduled, else computed) and last run."""
    scheduler = build_scheduler(store, settings)
    scheduler.start(paused=True)
    try:
        stored = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    zone = timezone(settings.schedule)
    runs = last_runs(store.state)
    rows = []
    for spec in scheduled_jobs(settings):
        job = stored.get(spec.id)
        next_run = (
            job.next_run_time
            if job is not None
            else trigger_for(settings, spec).get_next_fire_time(None, datetime.now(zone))
        )
        rows.append(
            {
                "job": spec.id,
                "schedule": getattr(settings.schedule, spec.key),
                "what": spec.description,
                "next_run": next_run.astimezone(zone).isoformat(timespec="minutes")
                if next_run
                else None,
                "stored": job is not None,
                "last_run": runs.get(spec.id),
            }
        )
    return rows


def _print_jobs(console: Console, store: Store, settings: Settings) -> None:
    table = Table(title=f"Scheduled jobs ({settings.schedule.timezone})", title_justify="left")
    for name in ("job", "schedule", "next run", "last run", "what"):
        table.add_column(name)
    for row in job_rows(store, settings):
        last = row["last_run"]
        table.add_row(
            row["job"],
            row["schedule"],
            (row["next_run"] or "never") + ("" if row["stored"] else " (not started yet)"),
            f"{last['started_at']} {last['status']}: {last['message'] or ''}" if last else "",
            row["what"],
        )
    console.print(table)
    console.print(f"now: {datetime.now(UTC).isoformat(timespec='seconds')}", highlight=False)
