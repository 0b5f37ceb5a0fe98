"""A killed ingest does not stay ``running`` for ever (issue #19 item 12): it reads interrupted."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpuledger.store.state import StateDB

# Records a run the way an ingest does, says so, then waits to be killed.
RUNNER = """
import sys, time
from pathlib import Path
from gpuledger.store.state import StateDB
print(StateDB(Path(sys.argv[1])).start_ingest("aws", "s3://bucket/export"), flush=True)
time.sleep(600)
"""


def _start_run(path: Path) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def _status(state: StateDB, run_id: str) -> str:
    return next(run.status for run in state.ingest_runs() if run.id == run_id)


def test_a_run_killed_with_sigkill_reads_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    child, run_id = _start_run(path)
    try:
        state = StateDB(path)
        assert _status(state, run_id) == "running"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert _status(state, run_id) == "interrupted"
    stored = sqlite3.connect(path).execute("SELECT status FROM ingest_runs").fetchone()
    assert stored == ("running",)  # shown, not rewritten: the record stays what the run wrote


def test_a_run_of_another_host_is_running_until_it_is_a_day_old(tmp_path: Path) -> None:
    state = StateDB(tmp_path / "state.sqlite")
    now = datetime.now(UTC)
    with state.connect() as db:
        for run_id, started in (
            ("recent", now - timedelta(hours=1)),
            ("old", now - timedelta(days=2)),
        ):
            db.execute(
                "INSERT INTO ingest_runs (id, source, src, started_at, status, pid, host)"
                " VALUES (?, 'gcp', 'gs://b', ?, 'running', 1, 'another-host')",
                (run_id, started.isoformat(timespec="seconds")),
            )
    assert {run.id: run.status for run in state.ingest_runs()} == {
        "recent": "running",
        "old": "interrupted",
    }


def test_an_older_database_gains_the_process_columns(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE ingest_runs (id TEXT PRIMARY KEY, source TEXT NOT NULL, src TEXT NOT NULL,"
        " started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL, rows INTEGER NOT NULL"
        " DEFAULT 0, quarantined INTEGER NOT NULL DEFAULT 0, partitions TEXT NOT NULL DEFAULT"
        " '[]', message TEXT)"
    )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    old.execute(
        "INSERT INTO ingest_runs (id, source, src, started_at, status)"
        " VALUES ('old', 'aws', 'x', ?, 'running')",
        (started,),
    )
    old.commit()
    old.close()
    state = StateDB(path)
    assert [run.status for run in state.ingest_runs()] == ["running"]  # no process to ask
    run_id = state.start_ingest("aws", "y")
    assert next(r for r in state.ingest_runs() if r.id == run_id).pid == os.getpid()


def test_status_shows_the_killed_run_as_interrupted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    child, _run_id = _start_run(home / "state.sqlite")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    result = subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), "status", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["last_ingests"]
    assert [run["status"] for run in runs] == ["interrupted"]
    table = subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), "status"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "interrupted ingest" in table.stdout
