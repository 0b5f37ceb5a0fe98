"""The state database on SQLite and PostgreSQL: one API, the same answers, the same guarantees."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from gpuledger.config import StateConfig
from gpuledger.report.email.log import Decision, Draft, SendLog, SlotKey
from gpuledger.store.delta import Store
from gpuledger.store.maintenance_log import maintenance_runs, record_table_run
from gpuledger.store.state import StateDB
from gpuledger.store.state_postgres import pyformat
from tests.state.postgres import Postgres

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_runs_read_newest_first_also_within_one_second(state: StateDB) -> None:
    started = [state.start_ingest("aws", f"export-{n}") for n in range(5)]
    state.finish_ingest(started[0], status="ok", rows=3, partitions=[["111", "2026-10"]])
    runs = state.ingest_runs()
    assert [run.id for run in runs] == started[::-1]
    assert (runs[-1].status, runs[-1].rows, runs[-1].partitions) == ("ok", 3, [["111", "2026-10"]])


def test_a_transaction_excludes_every_other(state: StateDB) -> None:
    """Read-then-write in ``connect()`` never interleaves, as with SQLite's BEGIN IMMEDIATE."""
    state.ensure("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER)")
    with state.connect() as db:
        db.execute("INSERT INTO counter (id, n) VALUES (1, 0)")

    def increment(_: int) -> None:
        with state.connect() as db:
            n = db.execute("SELECT n FROM counter WHERE id = ?", (1,)).fetchone()["n"]
            db.execute("UPDATE counter SET n = ? WHERE id = ?", (n + 1, 1))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(increment, range(40)))
    with state.connect() as db:
        assert db.execute("SELECT n FROM counter").fetchone()[0] == 40


def test_one_slot_is_claimed_once_by_concurrent_senders(state: StateDB) -> None:
    key = SlotKey("nlp", "savings", "2026-W45")
    draft = Draft(key, "hash", "<m@x>", ("lead@example.com",), b"\x00bytes\xff")

    def claim(n: int) -> Decision:
        return SendLog(state, holder=f"host:{n}").claim(draft, NOW).decision

    with ThreadPoolExecutor(max_workers=6) as pool:
        decisions = list(pool.map(claim, range(12)))
    assert decisions.count(Decision.send) == 1
    assert decisions.count(Decision.skip) == 11


def test_an_error_rolls_the_transaction_back(state: StateDB) -> None:
    run = state.start_ingest("aws", "x")

    def fail_midway() -> None:
        with state.connect() as db:
            db.execute("UPDATE ingest_runs SET status = ? WHERE id = ?", ("ok", run))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_midway()
    assert state.ingest_runs()[0].status == "running"


def test_counts_beyond_32_bits_and_fractions_are_kept(state: StateDB) -> None:
    big = 5 * 2**31
    record_table_run(
        state,
        "run-1",
        168,
        {
            "table": "cost",
            "dry_run": False,
            "files_before": 3,
            "files_after": 1,
            "bytes_before": big,
            "bytes_after": big - 1,
            "files_compacted": 3,
            "files_vacuumed": 0,
            "seconds": 1.234567890123,
        },
    )
    [run] = maintenance_runs(state)
    assert (run["bytes_before"], run["seconds"]) == (big, 1.234567890123)


def test_marks_move_with_writes_not_reads(state: StateDB) -> None:
    before = state.marks(["ingest_runs", "absent"])
    state.ingest_runs()
    assert state.marks(["ingest_runs", "absent"]) == before
    state.start_ingest("aws", "x")
    after = state.marks(["ingest_runs", "absent"])
    assert after != before
    assert after[1] == ("absent", 0, None)


def test_each_ledger_has_its_own_state(tmp_path: Path, state_config: StateConfig | None) -> None:
    first = Store(tmp_path / "ledger", state=state_config)
    first.state.start_ingest("aws", "s3://bucket/export")
    first.state.record_billing_period("aws", "111", "2026-10", invoiced=True, delivery="d1")
    other = Store(tmp_path / "other-ledger", state=state_config)
    assert other.state.ingest_runs() == []
    assert other.state.billing_periods() == []
    assert len(Store(tmp_path / "ledger", state=state_config).state.ingest_runs()) == 1


def test_ledgers_on_one_server_are_schemas_of_their_home(
    postgres_env: Postgres, tmp_path: Path
) -> None:
    a = Store(tmp_path / "a", state=postgres_env.config()).state.describe()
    a_again = Store(f"{tmp_path}/a/", state=postgres_env.config()).state.describe()
    b = Store(tmp_path / "b", state=postgres_env.config()).state.describe()
    assert a == a_again != b
    assert "(schema gpuledger_" in a


def test_an_older_sqlite_state_keeps_its_order(tmp_path: Path) -> None:
    """Tables written before the ``seq`` column get it, numbered in their insertion order."""
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE period_events (period TEXT NOT NULL, at TEXT NOT NULL,"
        " event TEXT NOT NULL, reason TEXT);"
        "INSERT INTO period_events VALUES ('2026-09', '2026-10-01T00:00:00+00:00', 'closed', NULL);"
        "INSERT INTO period_events VALUES ('2026-09', '2026-10-01T00:00:00+00:00', 'reopened', 'r');"
    )
    db.commit()
    db.close()
    state = StateDB(path)
    with state.connect() as conn:
        conn.execute(
            "INSERT INTO period_events (period, at, event, reason, seq)"
            " VALUES ('2026-09', '2026-10-01T00:00:00+00:00', 'closed', NULL,"
            " (SELECT COALESCE(MAX(seq), 0) + 1 FROM period_events))"
        )
        events = conn.execute("SELECT event FROM period_events ORDER BY seq").fetchall()
    assert [row["event"] for row in events] == ["closed", "reopened", "closed"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t WHERE a=? AND b=?", "SELECT * FROM t WHERE a=%s AND b=%s"),
        ("SELECT '?', ? FROM t", "SELECT '?', %s FROM t"),
        ("SELECT 'it''s ?' || ? FROM t", "SELECT 'it''s ?' || %s FROM t"),
        ("SELECT 5 % 2, '100%' FROM t WHERE a=?", "SELECT 5 %% 2, '100%%' FROM t WHERE a=%s"),
    ],
    ids=["plain", "in-literal", "quoted-quote", "percent"],
)
def test_placeholders_become_the_drivers(sql: str, expected: str) -> None:
    assert pyformat(sql) == expected


def scheduled() -> None:
    """A job function the job store can name."""


def test_the_scheduler_keeps_its_jobs_in_the_state_database(state: StateDB) -> None:
    def scheduler() -> BackgroundScheduler:
        return BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(**state.job_store())}, timezone=UTC
        )

    writer = scheduler()
    writer.add_job(scheduled, "cron", hour=6, id="attribute", next_run_time=NOW)
    writer.start(paused=True)
    writer.shutdown()
    reader = scheduler()
    reader.start(paused=True)
    try:
        assert [job.id for job in reader.get_jobs()] == ["attribute"]
    finally:
        reader.shutdown()


def test_a_missing_column_is_added_once(state: StateDB) -> None:
    state.ensure("CREATE TABLE IF NOT EXISTS legacy (id TEXT PRIMARY KEY)")
    state.add_column("legacy", "note", "TEXT")
    state.add_column("legacy", "note", "TEXT")
    with state.connect() as db:
        db.execute("INSERT INTO legacy (id, note) VALUES (?, ?)", ("a", "kept"))
        assert db.execute("SELECT note FROM legacy").fetchone()["note"] == "kept"
