"""The scheduler's run lock in the state database: one run per job and fire time, across processes.

APScheduler 3.x lets several schedulers share one job store but does not coordinate them,
so two ``gpuledger schedule`` processes on one home would both run every job. Each job run
therefore first claims its row in ``schedule_runs``, in one state transaction holding the
ledger's write lock (on PostgreSQL too, so schedulers on different machines coordinate alike):

- a row for the same (job, fire time) already exists: another process ran it or runs it: skip;
- another run of the job is still ``running`` with a live lease: skip (no overlapping runs);
- otherwise insert the row as ``running`` with a lease, run, and record ``ok`` or ``failed``.

A live run renews its lease on a heartbeat thread, so a long ingest keeps its claim; a process
that died stops renewing, and once the lease expires its run is marked ``abandoned`` and the job
is free again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gpuledger.store.state import StateDB
from gpuledger.store.state_sql import next_seq

DDL = """
CREATE TABLE IF NOT EXISTS schedule_runs (
    job_id TEXT NOT NULL,
    fire_time TEXT NOT NULL,        -- the scheduled time this run is for, UTC
    holder TEXT NOT NULL,           -- host:pid of the scheduler process
    started_at TEXT NOT NULL,
    lease_until TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,           -- running | ok | failed | abandoned
    message TEXT,
    seq INTEGER,                    -- insertion order
    PRIMARY KEY (job_id, fire_time)
);
"""

_COLUMNS = "job_id, fire_time, holder, started_at, lease_until, finished_at, status, message"
DEFAULT_LEASE = timedelta(minutes=10)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Refusal:
    """Why this process does not run the job now."""

    reason: str


class RunLock:
    """Claims on ``schedule_runs``; ``holder`` names this process in the table and the logs."""

    def __init__(self, state: StateDB, holder: str, lease: timedelta = DEFAULT_LEASE) -> None:
        _ready(state)
        self.state = state
        self.holder = holder
        self.lease = lease

    def acquire(self, job_id: str, fire_time: datetime, now: datetime) -> Refusal | None:
        """Claim the run of ``job_id`` for ``fire_time``; a Refusal when someone else has it."""
        with self.state.connect() as db:
            done = db.execute(
                "SELECT holder, status FROM schedule_runs WHERE job_id=? AND fire_time=?",
                (job_id, _iso(fire_time)),
            ).fetchone()
            if done is not None:
                return Refusal(f"run for {_iso(fire_time)} already {done[1]} by {done[0]}")
            db.execute(
                "UPDATE schedule_runs SET status='abandoned', finished_at=?"
                " WHERE job_id=? AND status='running' AND lease_until<=?",
                (_iso(now), job_id, _iso(now)),
            )
            busy = db.execute(
                "SELECT holder, fire_time FROM schedule_runs WHERE job_id=? AND status='running'",
                (job_id,),
            ).fetchone()
            if busy is not None:
                return Refusal(f"run for {busy[1]} still running in {busy[0]}")
            db.execute(
                "INSERT INTO schedule_runs (job_id, fire_time, holder, started_at, lease_until,"
                f" status, seq) VALUES (?, ?, ?, ?, ?, 'running', {next_seq('schedule_runs')})",
                (job_id, _iso(fire_time), self.holder, _iso(now), _iso(now + self.lease)),
            )
        return None

    def renew(self, job_id: str, fire_time: datetime, now: datetime) -> None:
        with self.state.connect() as db:
            db.execute(
                "UPDATE schedule_runs SET lease_until=? WHERE job_id=? AND fire_time=?"
                " AND holder=? AND status='running'",
                (_iso(now + self.lease), job_id, _iso(fire_time), self.holder),
            )

    def finish(
        self, job_id: str, fire_time: datetime, now: datetime, *, ok: bool, message: str
    ) -> None:
        with self.state.connect() as db:
            db.execute(
                "UPDATE schedule_runs SET status=?, finished_at=?, message=?"
                " WHERE job_id=? AND fire_time=? AND holder=?",
                (
                    "ok" if ok else "failed",
                    _iso(now),
                    message,
                    job_id,
                    _iso(fire_time),
                    self.holder,
                ),
            )

    @contextmanager
    def heartbeat(self, job_id: str, fire_time: datetime) -> Iterator[None]:
        """Renew the lease every third of its length while the body runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease.total_seconds() / 3):
                self.renew(job_id, fire_time, datetime.now(UTC))

        thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def last_runs(state: StateDB) -> dict[str, dict[str, Any]]:
    """The latest run of every job, for ``gpuledger schedule --list``."""
    _ready(state)
    with state.connect() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM schedule_runs ORDER BY started_at DESC, seq DESC"
        ).fetchall()
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest.setdefault(row["job_id"], dict(row))
    return latest


def _ready(state: StateDB) -> None:
    state.ensure(DDL)
    state.add_order_column("schedule_runs")
