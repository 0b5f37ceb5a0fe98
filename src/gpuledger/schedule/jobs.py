"""What the scheduler runs: :func:`run_job` takes the run lock, then calls one job body.

Every body receives the store, freshly loaded settings and the moment of the run, returns one
line saying what it did (logged and kept in ``schedule_runs``), and raises when the work failed.
A body that fails with a ``transient`` :class:`~gpuledger.errors.GpuledgerError` (throttling, a
refused connection) is called again, with exponential backoff, up to :data:`RETRY`'s attempts in
the same run; any other failure ends the run at once.

Engine and collector modules are imported inside the bodies: a scheduler that only mails does not
load the cloud SDKs.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from gpuledger.collect import collector
from gpuledger.config import Settings, load_settings
from gpuledger.errors import GpuledgerError
from gpuledger.period import Period
from gpuledger.report.email.delivery import SmtpTransport
from gpuledger.report.email.dispatch import (
    Outgoing,
    chargeback_mail,
    deliver,
    invoice_final,
    iso_week,
    savings_mail,
    summary,
)
from gpuledger.report.notify.deliver import configured_channels, deliver_alerts
from gpuledger.report.notify.deliver import summary as alert_summary
from gpuledger.schedule.lock import RunLock
from gpuledger.schedule.scheduler import job_spec, latest_fire_time, timezone, trigger_for
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from gpuledger.store.maintain import maintain

log = logging.getLogger("gpuledger.schedule")

JobBody = Callable[[Store, Settings, datetime], str]


@dataclass(frozen=True)
class JobRetry:
    """How often and how patiently a job body that failed transiently is called again in one run."""

    attempts: int = 3  # calls in all, the first one included
    wait_initial: float = 10.0  # seconds before the second call; doubled before each later one
    wait_max: float = 120.0
    sleep: Callable[[float], None] = time.sleep


RETRY = JobRetry()


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_transient(exc: BaseException) -> bool:
    """Whether calling the body again may succeed: a GpuledgerError marked ``transient``."""
    return isinstance(exc, GpuledgerError) and exc.transient


def call_body(
    job_id: str, body: JobBody, store: Store, settings: Settings, moment: datetime, retry: JobRetry
) -> str:
    """``body``'s line; a transient failure is retried with backoff, any other one is raised."""

    def log_retry(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: transient failure (attempt %d of %d), retrying in %.0fs: %s",
            job_id,
            state.attempt_number,
            retry.attempts,
            wait,
            failure,
        )

    retrying = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential(multiplier=retry.wait_initial, max=retry.wait_max),
        retry=retry_if_exception(is_transient),
        reraise=True,
        sleep=retry.sleep,
        before_sleep=log_retry,
    )
    message: str = retrying(body, store, settings, moment)
    return message


def run_job(
    job_id: str,
    home: str,
    config: str | None,
    now: datetime | None = None,
    retry: JobRetry = RETRY,
) -> str:
    """Run one scheduled job unless another process has this run (see :mod:`gpuledger.schedule.lock`).

    When this process ran the job, its :data:`FOLLOW_UPS` run right after it, each recorded as a
    run of its own for the same fire time; a failed follow-up is logged and recorded there and
    does not undo the job it follows.
    """
    settings = load_settings(config)
    store = Store(home, state=settings.state)
    moment = now or datetime.now(UTC)
    fire = latest_fire_time(trigger_for(settings, job_spec(job_id)), moment) or moment
    lock = RunLock(store.state, holder())
    ran, message = _locked_run(lock, job_id, fire, store, settings, moment, retry)
    for follow_up in FOLLOW_UPS.get(job_id, ()) if ran else ():
        with suppress(Exception):  # recorded in schedule_runs and logged by _locked_run
            _locked_run(lock, follow_up, fire, store, settings, moment, retry)
    return message


def _locked_run(
    lock: RunLock,
    job_id: str,
    fire: datetime,
    store: Store,
    settings: Settings,
    moment: datetime,
    retry: JobRetry,
) -> tuple[bool, str]:
    """(whether this process ran it, its line): one body under the run lock, recorded."""
    refusal = lock.acquire(job_id, fire, moment)
    if refusal is not None:
        log.info("%s: skipped, %s", job_id, refusal.reason)
        return False, f"skipped: {refusal.reason}"
    try:
        with lock.heartbeat(job_id, fire):
            message = call_body(job_id, BODIES[job_id], store, settings, moment, retry)
    except Exception as exc:
        lock.finish(job_id, fire, datetime.now(UTC), ok=False, message=str(exc))
        log.exception("%s: failed", job_id)
        raise
    lock.finish(job_id, fire, datetime.now(UTC), ok=True, message=message)
    log.info("%s: %s", job_id, message)
    return True, message


def _ingest(store: Store, settings: Settings, sources: tuple[str, ...]) -> str:
    """Each configured source in turn; one failing source does not stop the others.

    The error raised for failed sources is transient when every one of their failures was, so the
    run is retried; ingesting the sources that did succeed again replaces the same partitions.
    """
    done, failed, errors = [], [], []
    for source in sources:
        for src in _sources(settings, source):
            try:
                result = collector(source).ingest(store, settings, src)
            except GpuledgerError as exc:
                log.error("ingest %s %s failed: %s", source, src, exc)
                failed.append(f"{source} {src}: {exc}")
                errors.append(exc)
                continue
            log.info("ingest %s %s: %s", source, src, result.summary())
            done.append(f"{source} {src}")
    if failed:
        raise GpuledgerError(
            f"{len(failed)} source(s) failed: " + "; ".join(failed),
            transient=all(exc.transient for exc in errors),
        )
    return f"ingested {len(done)} source(s)" if done else "no sources configured"


def ingest_billing(store: Store, settings: Settings, now: datetime) -> str:
    return _ingest(store, settings, ("aws", "gcp", "focus"))


def _sources(settings: Settings, source: str) -> list[str]:
    """What the scheduler ingests of a source: the configured locations; every on-prem cluster."""
    if source == "onprem":
        return ["all"] if settings.clusters else []
    sources: list[str] = getattr(settings.sources, source)
    return sources


def ingest_gpu(store: Store, settings: Settings, now: datetime) -> str:
    """Telemetry and Slurm accounting, then the on-prem clusters priced from that telemetry."""
    return _ingest(store, settings, ("gpu", "slurm", "onprem"))


def open_periods(store: Store) -> list[str]:
    """Billing periods with cost data that are not closed: the months attribution may change."""
    periods = store.scan("cost").select(pl.col(Cost.x_BillingPeriod).unique()).collect().to_series()
    closed = store.state.closed_periods()
    return sorted(p for p in periods.to_list() if p and p not in closed)


def attribute(store: Store, settings: Settings, now: datetime) -> str:
    from gpuledger.engine.attribution.attribute import run_attribution
    from gpuledger.engine.chargeback.freshness import input_versions, record_attribution
    from gpuledger.engine.spark import allocator

    periods = open_periods(store)
    for period in periods:
        versions = input_versions(store)  # before the inputs are read
        result = run_attribution(store, settings, period, allocator(settings.engine.kind))
        record_attribution(store, period, versions, result.version)
    return f"attributed {', '.join(periods)}" if periods else "no open months"


def alerts(store: Store, settings: Settings, now: datetime) -> str:
    """Refresh the open months' daily series, detect their alerts, deliver the new ones.

    Follows the attribute job (:data:`FOLLOW_UPS`), on the allocation it just wrote. Every run
    hands over every alert of the month; the send logs let only those not delivered yet go out.
    """
    from gpuledger.engine.alerts.series import refresh_daily_series
    from gpuledger.report.notify import detected

    periods = open_periods(store)
    channels = configured_channels(settings)
    today = _local(settings, now).date()
    outcomes = []
    for period in periods:
        refresh_daily_series(store, settings, period)
        found = detected.month_alerts(store, settings, period, today=today)
        outcomes += deliver_alerts(store.state, settings, found, channels)
    if not periods:
        return "no open months"
    return f"alerts {', '.join(periods)}: {alert_summary(outcomes)}"


def recommend(store: Store, settings: Settings, now: datetime) -> str:
    from gpuledger.engine.recommend.pipeline import recommend as recompute
    from gpuledger.engine.waste.compute import store_waste

    counts = []
    for period in open_periods(store):
        counts.append(f"{period}: {recompute(store, settings, period).height}")
        store_waste(store, settings, period)  # what the app's waste page reads
    return "recommendations " + ", ".join(counts) if counts else "no open months"


def _local(settings: Settings, now: datetime) -> datetime:
    zone: ZoneInfo = timezone(settings.schedule)
    return now.astimezone(zone)


def _send(store: Store, settings: Settings, items: list[Outgoing]) -> str:
    transport = SmtpTransport(settings.smtp)
    return summary(deliver(store.state, items, transport, settings.smtp.sender))


def weekly_email(store: Store, settings: Settings, now: datetime) -> str:
    """The savings mail for the ISO week of the run, about the month the past week began in.

    On the first Monday of a month that is still the month just ended, whose spend is complete
    enough to act on; from the second Monday on it is the new month to date.
    """
    local = _local(settings, now)
    period = (local - timedelta(days=7)).strftime("%Y-%m")
    items = savings_mail(store, settings, period, iso_week(local))
    return f"week {iso_week(local)} ({period}): " + _send(store, settings, items)


def monthly_notice(store: Store, settings: Settings, now: datetime) -> str:
    """Finance's notice for last month, on the first run after its invoice is final.

    Runs daily; the send log makes every run after the first delivery a no-op.
    """
    period = str(Period.of(_local(settings, now)).previous())
    if not invoice_final(store, period):
        return f"{period}: waiting for the final invoice"
    return f"{period}: " + _send(store, settings, chargeback_mail(store, settings, period))


def maintain_tables(store: Store, settings: Settings, now: datetime) -> str:
    """Compact and vacuum every table; closed months' pinned versions are kept (store.maintain)."""
    results = maintain(store, retention_hours=settings.schedule.maintain_retention_hours)
    if not results:
        return "no tables yet"
    before = sum(result.before.files for result in results)
    after = sum(result.after.files for result in results)
    vacuumed = sum(result.files_vacuumed for result in results)
    return f"{len(results)} table(s): {before:,} → {after:,} files, {vacuumed:,} vacuumed"


BODIES: dict[str, JobBody] = {
    "ingest-billing": ingest_billing,
    "ingest-gpu": ingest_gpu,
    "attribute": attribute,
    "recommend": recommend,
    "weekly-email": weekly_email,
    "monthly-notice": monthly_notice,
    "maintain": maintain_tables,
    "alerts": alerts,
}
# Jobs run right after another in the same run, with no crontab of their own: alert detection
# reads the allocation the attribute job has just written.
FOLLOW_UPS: dict[str, tuple[str, ...]] = {"attribute": ("alerts",)}
