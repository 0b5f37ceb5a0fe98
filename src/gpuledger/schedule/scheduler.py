"""The scheduler: APScheduler 3.x with its job store in the ledger's state database.

Each job is a textual reference to :func:`gpuledger.schedule.jobs.run_job` with picklable
arguments (job id, home, config path), so the persistent store survives restarts and every run
reads the config afresh. Missed runs after downtime are coalesced into one, if they are no older
than ``schedule.misfire_grace_seconds``; runs are serialized across processes by
:mod:`gpuledger.schedule.lock`.

Crontab strings come from ``[schedule]``. APScheduler 3.x numbers weekdays 0 = Monday, while
crontab means 0 = Sunday: ``0 8 * * 1`` would fire on Tuesdays. Digits in the day-of-week field are
therefore translated to names with crontab's meaning before APScheduler sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.cron import CronTrigger

from gpuledger.config import ScheduleConfig, Settings
from gpuledger.errors import ConfigError
from gpuledger.store.delta import Store

JOB_FUNCTION = "gpuledger.schedule.jobs:run_job"
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: its id, the ``[schedule]`` key holding its crontab, what it does."""

    id: str
    key: str
    description: str
    sources: tuple[str, ...] = ()  # scheduled only when one of these [sources] lists is set


JOBS = (
    JobSpec("ingest-billing", "ingest_billing", "ingest billing exports", ("aws", "gcp", "focus")),
    JobSpec("ingest-gpu", "ingest_gpu", "ingest GPU telemetry", ("gpu",)),
    JobSpec("attribute", "attribute", "re-attribute open months"),
    JobSpec("recommend", "recommend", "recompute recommendations"),
    JobSpec("weekly-email", "weekly_email", "weekly savings e-mail to team leads"),
    JobSpec("monthly-notice", "monthly_notice", "chargeback notice once the invoice is final"),
    JobSpec("maintain", "maintain", "compact and vacuum the Delta tables"),
)


def job_spec(job_id: str) -> JobSpec:
    for spec in JOBS:
        if spec.id == job_id:
            return spec
    raise ConfigError(f"unknown scheduled job {job_id!r}")


def timezone(config: ScheduleConfig) -> ZoneInfo:
    try:
        return ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"schedule.timezone: unknown time zone {config.timezone!r}") from exc


def crontab_day_names(field: str) -> str:
    """Crontab's day-of-week digits (0 or 7 = Sunday) as names; names pass unchanged."""

    def name(match: re.Match[str]) -> str:
        number = int(match.group())
        if number > 7:
            raise ValueError(f"day of week {number} is out of range 0-7")
        return _DAY_NAMES[number]

    if "/" in field:
        raise ValueError("steps in the day-of-week field are ambiguous; list the day names")
    return re.sub(r"\d+", name, field)


def cron_trigger(expression: str, tz: tzinfo, key: str) -> CronTrigger:
    """A five-field crontab as a time-zone-aware trigger; ConfigError naming the key if invalid."""
    fields = expression.split()
    try:
        if len(fields) != 5:
            raise ValueError(
                f"expected 5 fields (minute hour day month day-of-week), got {len(fields)}"
            )
        fields[4] = crontab_day_names(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
    except ValueError as exc:
        raise ConfigError(f"schedule.{key}: {expression!r} is not a valid crontab: {exc}") from exc


def trigger_for(settings: Settings, spec: JobSpec) -> CronTrigger:
    expression = getattr(settings.schedule, spec.key)
    return cron_trigger(expression, timezone(settings.schedule), spec.key)


def scheduled_jobs(settings: Settings) -> list[JobSpec]:
    """The jobs this config schedules: ingest jobs only where their sources are configured."""
    sources = settings.sources
    return [
        spec
        for spec in JOBS
        if not spec.sources or any(getattr(sources, name) for name in spec.sources)
    ]


def latest_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The trigger's most recent fire time at or before ``now``: the run a coalesced job is for.

    Looks back over widening windows so that a five-minute job needs a step or two and a monthly
    one a few, instead of walking a year of fire times.
    """
    for window in (
        timedelta(minutes=10),
        timedelta(hours=2),
        timedelta(days=2),
        timedelta(days=35),
        timedelta(days=400),
    ):
        fire: datetime | None = trigger.get_next_fire_time(None, now - window)
        if fire is None or fire > now:
            continue
        while True:
            following: datetime | None = trigger.get_next_fire_time(
                fire, fire + timedelta(seconds=1)
            )
            if following is None or following > now:
                return fire
            fire = following
    return None


class LedgerScheduler(BackgroundScheduler):  # type: ignore[misc]
    """A BackgroundScheduler that runs nothing once it is stopped.

    APScheduler 3.11's loop processes due jobs once more after ``shutdown()`` wakes it (it checks
    the state only after processing), so a scheduler opened paused to read or reconcile the store
    would run, or silently advance, every overdue job on its way out, losing the missed runs that
    the real scheduler should coalesce.
    """

    def _process_jobs(self) -> float | None:
        if self.state != STATE_RUNNING:
            return None
        wait: float | None = super()._process_jobs()
        return wait


def build_scheduler(store: Store, settings: Settings) -> LedgerScheduler:
    """A scheduler on the ledger's job store; not started."""
    return LedgerScheduler(
        jobstores={"default": SQLAlchemyJobStore(**store.state.job_store())},
        job_defaults={
            "coalesce": True,
            "misfire_grace_time": settings.schedule.misfire_grace_seconds,
            "max_instances": 1,
        },
        timezone=timezone(settings.schedule),
    )


def reconcile(
    scheduler: LedgerScheduler, store: Store, settings: Settings, config: str | None
) -> list[str]:
    """Make the stored jobs match the config; returns one line per change, for the log.

    A job whose trigger and arguments are unchanged is left alone, so a run it missed while the
    scheduler was down stays due and is coalesced on resume; replacing it would recompute its
    next run from now and silently drop the missed one.
    """
    changes = []
    wanted = {spec.id: spec for spec in scheduled_jobs(settings)}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            scheduler.remove_job(job.id)
            changes.append(f"removed {job.id}")
    for spec in wanted.values():
        trigger = trigger_for(settings, spec)
        args = [spec.id, store.home, config]
        existing = scheduler.get_job(spec.id)
        if (
            existing is not None
            and repr(existing.trigger) == repr(trigger)
            and existing.args == tuple(args)
        ):
            continue
        scheduler.add_job(
            JOB_FUNCTION,
            trigger=trigger,
            args=args,
            id=spec.id,
            name=spec.description,
            replace_existing=True,
        )
        changes.append(
            f"{'updated' if existing else 'added'} {spec.id}: {getattr(settings.schedule, spec.key)}"
        )
    return changes
