"""Operational state: ingest runs, closed periods and whatever later parts record.

Facts live in Delta tables (``store/delta.py``); this database holds what the tool did and decided.
Each part that keeps state declares its own tables with :meth:`StateDB.ensure`, so nothing here
knows about recommendations or e-mails. Two backends share one API: SQLite beside a local home
(:mod:`~gpuledger.store.state_sqlite`) and PostgreSQL for a ledger several machines use
(:mod:`~gpuledger.store.state_postgres`); where a ledger's state lives is decided in
:mod:`~gpuledger.store.state_location`. Every statement is written once, in portable SQL with
``?`` placeholders; ``connect()`` is one transaction that serializes against every other
``connect()`` on the ledger, on either backend.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from gpuledger.errors import GpuledgerError
from gpuledger.store.state_sql import StateBackend, StateConnection, TableMark, next_seq
from gpuledger.store.state_sqlite import SqliteState

# A run still `running` after this long is taken for interrupted whatever its host: the largest
# monthly export ingests in minutes, and a process on another host cannot be asked.
RUN_GIVE_UP: Final = timedelta(hours=24)

_CORE_DDL = """
CREATE TABLE IF NOT EXISTS ingest_runs (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    src TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,            -- running | ok | failed (interrupted: shown, not stored)
    rows INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    partitions TEXT NOT NULL DEFAULT '[]',
    message TEXT,
    pid INTEGER,                     -- the ingesting process, on host
    host TEXT,
    seq INTEGER                      -- insertion order
);
CREATE TABLE IF NOT EXISTS billing_periods (
    source TEXT NOT NULL,
    billing_account TEXT NOT NULL,
    period TEXT NOT NULL,
    invoiced INTEGER NOT NULL,       -- 1 once the provider marked the period final
    delivery TEXT,                   -- the delivery (assembly, execution) the stored rows came from
    updated_at TEXT NOT NULL,
    delivered_at TEXT,               -- ISO-8601 UTC: when the provider made that delivery, if known
    PRIMARY KEY (source, billing_account, period)
);
CREATE TABLE IF NOT EXISTS closed_periods (
    period TEXT PRIMARY KEY,
    closed_at TEXT NOT NULL,
    table_versions TEXT NOT NULL,    -- JSON {table: version}
    content_hash TEXT NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS period_events (
    period TEXT NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL,             -- closed | reopened
    reason TEXT,
    seq INTEGER                      -- insertion order
);
"""

_RUN_COLUMNS: Final = (
    "id, source, src, started_at, finished_at, status, rows, quarantined, partitions, message,"
    " pid, host"
)


def utc_now() -> str:
    """Now, as ISO-8601 UTC text: the one timestamp format in the state database."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class IngestRun:
    id: str
    source: str
    src: str
    started_at: str
    finished_at: str | None
    status: str
    rows: int
    quarantined: int
    partitions: list[list[str]]
    message: str | None
    pid: int | None = None
    host: str | None = None

    def summary(self) -> dict[str, object]:
        """What status screens show of a run: where from, when, how it went, how much."""
        return {
            "source": self.source,
            "src": self.src,
            "started_at": self.started_at,
            "status": self.status,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "message": self.message,
        }


class StateDB:
    """A ledger's state database, on the backend given (a path: SQLite there).

    Opened per use so that several processes, or machines on PostgreSQL, can share it.
    """

    def __init__(self, where: Path | StateBackend) -> None:
        self.backend: StateBackend = SqliteState(where) if isinstance(where, Path) else where
        self.path: Path | None = where if isinstance(where, Path) else None
        self.ensure(_CORE_DDL)
        self.add_column("billing_periods", "delivered_at", "TEXT")
        self.add_column("ingest_runs", "pid", "INTEGER")
        self.add_column("ingest_runs", "host", "TEXT")
        self.add_order_column("ingest_runs")
        self.add_order_column("period_events")

    def connect(self) -> AbstractContextManager[StateConnection]:
        """A connection in one transaction: committed on success, rolled back on error.

        It holds the ledger's write lock from the start (SQLite's ``BEGIN IMMEDIATE``,
        PostgreSQL's advisory lock), so a read-then-write inside it sees no other writer.
        """
        return self.backend.connect()

    def ensure(self, ddl: str) -> None:
        """Create tables that a part of gpuledger keeps, if they do not exist yet."""
        self.backend.ensure(ddl)

    def add_column(self, table: str, column: str, kind: str) -> None:
        """Give a table written by an older gpuledger a column it lacks."""
        self.backend.add_column(table, column, kind)

    def add_order_column(self, table: str) -> None:
        """Give a table written by an older gpuledger its ``seq`` (insertion order) column."""
        self.backend.add_order_column(table)

    def marks(self, tables: Sequence[str]) -> tuple[TableMark, ...]:
        """Row count and insertion high-water mark of each table: moves with writes, not reads."""
        return self.backend.marks(tables)

    def job_store(self) -> dict[str, Any]:
        """Keyword arguments for APScheduler's ``SQLAlchemyJobStore`` in this database."""
        return self.backend.job_store()

    def describe(self) -> str:
        """Where the state is kept (no password)."""
        return self.backend.describe()

    # ingest runs ---------------------------------------------------------------------------

    def start_ingest(self, source: str, src: str) -> str:
        """Record a run as ``running``, with this process's id and host to tell if it dies."""
        run_id = uuid.uuid4().hex[:16]
        with self.connect() as db:
            db.execute(
                "INSERT INTO ingest_runs (id, source, src, started_at, status, pid, host, seq)"
                f" VALUES (?, ?, ?, ?, 'running', ?, ?, {next_seq('ingest_runs')})",
                (run_id, source, src, utc_now(), os.getpid(), socket.gethostname()),
            )
        return run_id

    def finish_ingest(
        self,
        run_id: str,
        *,
        status: str,
        rows: int = 0,
        quarantined: int = 0,
        partitions: list[list[str]] | None = None,
        message: str | None = None,
    ) -> None:
        with self.connect() as db:
            db.execute(
                "UPDATE ingest_runs SET finished_at=?, status=?, rows=?, quarantined=?,"
                " partitions=?, message=? WHERE id=?",
                (
                    utc_now(),
                    status,
                    rows,
                    quarantined,
                    json.dumps(partitions or []),
                    message,
                    run_id,
                ),
            )

    def ingest_runs(self, limit: int = 20) -> list[IngestRun]:
        """The latest runs, newest first; a ``running`` run whose process is gone reads
        ``interrupted`` (see :func:`run_interrupted`)."""
        with self.connect() as db:
            rows = db.execute(
                f"SELECT {_RUN_COLUMNS} FROM ingest_runs ORDER BY started_at DESC, seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        runs = [
            IngestRun(**{**dict(row), "partitions": json.loads(row["partitions"])}) for row in rows
        ]
        return [replace(run, status="interrupted") if run_interrupted(run) else run for run in runs]

    # billing periods -----------------------------------------------------------------------

    def record_billing_period(
        self,
        source: str,
        account: str,
        period: str,
        *,
        invoiced: bool,
        delivery: str | None,
        delivered_at: datetime | None = None,
    ) -> None:
        """The stored rows of one partition: invoiced or not, their delivery and its time."""
        made = None if delivered_at is None else delivered_at.isoformat()
        with self.connect() as db:
            db.execute(
                "INSERT INTO billing_periods (source, billing_account, period, invoiced, delivery,"
                " updated_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, billing_account, period) DO UPDATE SET"
                " invoiced=excluded.invoiced, delivery=excluded.delivery,"
                " updated_at=excluded.updated_at, delivered_at=excluded.delivered_at",
                (source, account, period, int(invoiced), delivery, utc_now(), made),
            )

    def billing_periods(self) -> list[dict[str, Any]]:
        with self.connect() as db:
            rows = db.execute(
                "SELECT * FROM billing_periods ORDER BY period, source, billing_account"
            ).fetchall()
        return [dict(row) for row in rows]

    def delivery_of(self, source: str, account: str, period: str) -> str | None:
        """The delivery id whose rows the store holds for this partition, if any."""
        with self.connect() as db:
            row = db.execute(
                "SELECT delivery FROM billing_periods WHERE source=? AND billing_account=?"
                " AND period=?",
                (source, account, period),
            ).fetchone()
        return None if row is None else row["delivery"]

    def delivery_time_of(
        self, source: str, account: str, period: str
    ) -> tuple[str | None, datetime] | None:
        """(delivery id, when it was made) of this partition's stored rows; None when unknown."""
        with self.connect() as db:
            row = db.execute(
                "SELECT delivery, delivered_at FROM billing_periods WHERE source=?"
                " AND billing_account=? AND period=?",
                (source, account, period),
            ).fetchone()
        if row is None or row["delivered_at"] is None:
            return None
        return row["delivery"], datetime.fromisoformat(row["delivered_at"])

    # closed periods ------------------------------------------------------------------------

    def closed_periods(self) -> dict[str, dict[str, Any]]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM closed_periods ORDER BY period").fetchall()
        return {
            row["period"]: {**dict(row), "table_versions": json.loads(row["table_versions"])}
            for row in rows
        }

    def is_closed(self, period: str) -> bool:
        return period in self.closed_periods()


def run_failure(exc: BaseException) -> str:
    """The message a run that ``exc`` ended records: an unexpected error also names its type."""
    return str(exc) if isinstance(exc, GpuledgerError) else f"{type(exc).__name__}: {exc}"


def run_interrupted(run: IngestRun) -> bool:
    """Whether a ``running`` run can no longer finish: its process on this host is gone (or its
    id now belongs to a process started after the run), or it started over
    :data:`RUN_GIVE_UP` ago. A run recorded by an older gpuledger has no process to ask."""
    if run.status != "running":
        return False
    started = datetime.fromisoformat(run.started_at)
    if datetime.now(UTC) - started > RUN_GIVE_UP:
        return True
    if run.pid is None or run.host != socket.gethostname():
        return False
    return not _process_alive(run.pid, started)


def _process_alive(pid: int, since: datetime) -> bool:
    """Whether process ``pid`` runs and is the one that was running at ``since``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    started = _process_start(pid)
    # started_at is kept to the second and /proc's boot time too: allow two seconds
    return started is None or started <= since + timedelta(seconds=2)


def _process_start(pid: int) -> datetime | None:
    """When process ``pid`` started, from Linux's /proc; None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
    return datetime.fromtimestamp(boot + ticks / os.sysconf("SC_CLK_TCK"), UTC)
