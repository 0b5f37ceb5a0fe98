"""Crontab strings from [schedule] → time-zone-aware triggers, and the run a coalesced job is for."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gpuledger.config import ScheduleConfig, Settings, SourcesConfig
from gpuledger.errors import ConfigError
from gpuledger.schedule.scheduler import cron_trigger, latest_fire_time, scheduled_jobs

NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


@pytest.mark.parametrize(
    ("expression", "after", "fires"),
    [
        ("0 8 * * mon", datetime(2026, 11, 4, 12, 0), datetime(2026, 11, 9, 8, 0)),
        ("0 8 * * 1", datetime(2026, 11, 4, 12, 0), datetime(2026, 11, 9, 8, 0)),
        ("0 8 * * 0", datetime(2026, 11, 4, 12, 0), datetime(2026, 11, 8, 8, 0)),
        ("0 8 * * 7", datetime(2026, 11, 4, 12, 0), datetime(2026, 11, 8, 8, 0)),
        ("30 6 * * 1-5", datetime(2026, 11, 6, 7, 0), datetime(2026, 11, 9, 6, 30)),
        ("0 8 * * 1,3", datetime(2026, 11, 9, 9, 0), datetime(2026, 11, 11, 8, 0)),
        ("0 8 * * mon", datetime(2025, 3, 5, 12, 0), datetime(2025, 3, 10, 8, 0)),
        ("0 9 1 * *", datetime(2026, 11, 4, 12, 0), datetime(2026, 12, 1, 9, 0)),
    ],
    ids=[
        "monday-by-name",
        "digit-1-is-monday-as-in-crontab",
        "digit-0-is-sunday",
        "digit-7-is-sunday",
        "weekday-range",
        "weekday-list",
        "monday-after-dst-starts",
        "first-of-month",
    ],
)
def test_cron_fires_in_the_configured_zone(
    expression: str, after: datetime, fires: datetime
) -> None:
    trigger = cron_trigger(expression, NEW_YORK, "weekly_email")
    fire = trigger.get_next_fire_time(None, after.replace(tzinfo=NEW_YORK))
    assert fire == fires.replace(tzinfo=NEW_YORK)
    assert fire.utcoffset() == fires.replace(tzinfo=NEW_YORK).utcoffset()


def test_dst_changes_the_utc_hour_not_the_local_one() -> None:
    trigger = cron_trigger("0 8 * * mon", NEW_YORK, "weekly_email")
    before = trigger.get_next_fire_time(None, datetime(2025, 3, 1, tzinfo=NEW_YORK))
    after = trigger.get_next_fire_time(None, datetime(2025, 3, 5, tzinfo=NEW_YORK))
    assert (before.astimezone(UTC_ZONE).hour, after.astimezone(UTC_ZONE).hour) == (13, 12)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 8 * *", "expected 5 fields"),
        ("0 8 * * */2", "steps in the day-of-week field are ambiguous"),
        ("0 8 * * 8", "day of week 8 is out of range"),
        ("61 8 * * mon", "schedule.weekly_email"),
    ],
    ids=["four-fields", "weekday-step", "weekday-8", "minute-61"],
)
def test_bad_crontab_names_the_key(expression: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        cron_trigger(expression, UTC_ZONE, "weekly_email")
    assert "schedule.weekly_email" in str(caught.value)


@pytest.mark.parametrize(
    ("expression", "now", "latest"),
    [
        ("*/5 * * * *", datetime(2026, 11, 9, 8, 7, 30), datetime(2026, 11, 9, 8, 5)),
        ("*/5 * * * *", datetime(2026, 11, 9, 8, 5, 0), datetime(2026, 11, 9, 8, 5)),
        ("0 * * * *", datetime(2026, 11, 9, 8, 59), datetime(2026, 11, 9, 8, 0)),
        ("0 8 * * mon", datetime(2026, 11, 15, 23, 0), datetime(2026, 11, 9, 8, 0)),
        ("0 9 1 * *", datetime(2026, 11, 30, 12, 0), datetime(2026, 11, 1, 9, 0)),
        ("0 0 1 1 *", datetime(2026, 11, 30, 12, 0), datetime(2026, 1, 1, 0, 0)),
    ],
    ids=["five-minutes", "exactly-on-a-fire", "hourly", "weekly", "monthly", "yearly"],
)
def test_latest_fire_time(expression: str, now: datetime, latest: datetime) -> None:
    trigger = cron_trigger(expression, UTC_ZONE, "attribute")
    assert latest_fire_time(trigger, now.replace(tzinfo=UTC_ZONE)) == latest.replace(
        tzinfo=UTC_ZONE
    )


@pytest.mark.parametrize(
    ("sources", "jobs"),
    [
        ({}, ["attribute", "recommend", "weekly-email", "monthly-notice", "maintain"]),
        (
            {"gcp": ["bq://p.d.t"]},
            [
                "ingest-billing",
                "attribute",
                "recommend",
                "weekly-email",
                "monthly-notice",
                "maintain",
            ],
        ),
        (
            {"gpu": ["/spool"], "focus": ["/x.csv"]},
            [
                "ingest-billing",
                "ingest-gpu",
                "attribute",
                "recommend",
                "weekly-email",
                "monthly-notice",
                "maintain",
            ],
        ),
    ],
    ids=["no-sources", "billing-only", "billing-and-gpu"],
)
def test_ingest_jobs_only_for_configured_sources(
    sources: dict[str, list[str]], jobs: list[str]
) -> None:
    settings = Settings(sources=SourcesConfig(**sources), schedule=ScheduleConfig())
    assert [spec.id for spec in scheduled_jobs(settings)] == jobs
