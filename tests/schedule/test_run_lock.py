"""The run lock: one run per (job, fire time) across processes, no overlapping runs, dead holders expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpuledger.schedule.lock import RunLock, last_runs
from gpuledger.store.delta import Store

FIRE = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("first", "second_fire", "second_at", "refused"),
    [
        ("running", FIRE, FIRE + timedelta(seconds=1), "already running by host:A"),
        ("ok", FIRE, FIRE + timedelta(hours=1), "already ok by host:A"),
        ("failed", FIRE, FIRE + timedelta(hours=1), "already failed by host:A"),
        (
            "running",
            FIRE + timedelta(minutes=5),
            FIRE + timedelta(minutes=5),
            "still running in host:A",
        ),
        ("running", FIRE + timedelta(minutes=15), FIRE + LEASE + timedelta(seconds=1), None),
        ("ok", FIRE + timedelta(minutes=5), FIRE + timedelta(minutes=5), None),
    ],
    ids=[
        "same-fire-while-running",
        "same-fire-after-success",
        "same-fire-after-failure",
        "next-fire-overlaps-a-live-run",
        "next-fire-after-holder-died",
        "next-fire-after-success",
    ],
)
def test_second_process(
    store: Store, first: str, second_fire: datetime, second_at: datetime, refused: str | None
) -> None:
    a = RunLock(store.state, "host:A", LEASE)
    b = RunLock(store.state, "host:B", LEASE)
    assert a.acquire("attribute", FIRE, FIRE) is None
    if first != "running":
        a.finish("attribute", FIRE, FIRE + timedelta(seconds=30), ok=first == "ok", message="m")

    refusal = b.acquire("attribute", second_fire, second_at)

    expected = None if refused is None else f"run for {FIRE.isoformat()} {refused}"
    assert (refusal.reason if refusal else None) == expected


def test_a_dead_holder_is_marked_abandoned(store: Store) -> None:
    a = RunLock(store.state, "host:A", LEASE)
    b = RunLock(store.state, "host:B", LEASE)
    a.acquire("recommend", FIRE, FIRE)
    later = FIRE + timedelta(days=1)
    assert b.acquire("recommend", later, later + LEASE) is None

    with store.state.connect() as db:
        rows = db.execute(
            "SELECT holder, status FROM schedule_runs WHERE job_id='recommend' ORDER BY fire_time"
        ).fetchall()
    assert [tuple(r) for r in rows] == [("host:A", "abandoned"), ("host:B", "running")]


def test_renewal_keeps_a_long_run_alive(store: Store) -> None:
    a = RunLock(store.state, "host:A", LEASE)
    b = RunLock(store.state, "host:B", LEASE)
    a.acquire("ingest-billing", FIRE, FIRE)
    a.renew("ingest-billing", FIRE, FIRE + timedelta(minutes=9))

    nxt = FIRE + timedelta(hours=1)
    refusal = b.acquire("ingest-billing", nxt, FIRE + timedelta(minutes=15))
    assert refusal is not None
    assert "still running in host:A" in refusal.reason


def test_last_runs_shows_the_latest_per_job(store: Store) -> None:
    lock = RunLock(store.state, "host:A", LEASE)
    for hours, ok in ((0, True), (1, False)):
        fire = FIRE + timedelta(hours=hours)
        lock.acquire("attribute", fire, fire)
        lock.finish("attribute", fire, fire + timedelta(minutes=1), ok=ok, message=f"run {hours}")

    latest = last_runs(store.state)["attribute"]
    assert (latest["status"], latest["message"]) == ("failed", "run 1")
