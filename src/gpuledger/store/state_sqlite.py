"""State in one SQLite file (WAL), opened per use so that several processes on one machine share it.

Each ``connect()`` is a ``BEGIN IMMEDIATE`` transaction: it takes the write lock first, so two
transactions on the file never interleave.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpuledger.store.state_sql import TableMark


class SqliteState:
    """The SQLite file at ``path``, created with its folder on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def ensure(self, ddl: str) -> None:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(ddl)
        finally:
            db.close()

    def add_column(self, table: str, column: str, kind: str) -> None:
        with self.connect() as db:
            if column not in _columns(db, table):
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def add_order_column(self, table: str) -> None:
        with self.connect() as db:
            if "seq" not in _columns(db, table):
                db.execute(f"ALTER TABLE {table} ADD COLUMN seq INTEGER")
                db.execute(f"UPDATE {table} SET seq = rowid")  # SQLite numbers rows as inserted

    def marks(self, tables: Sequence[str]) -> tuple[TableMark, ...]:
        """Read-only: a file not created yet reads as empty tables and stays uncreated."""
        if not self.path.exists():
            return tuple((name, 0, None) for name in tables)
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            present = {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            return tuple(
                (name, *db.execute(f'SELECT count(*), max(rowid) FROM "{name}"').fetchone())
                if name in present
                else (name, 0, None)
                for name in tables
            )
        finally:
            db.close()

    def job_store(self) -> dict[str, Any]:
        return {"url": f"sqlite:///{self.path}"}

    def describe(self) -> str:
        return f"sqlite:///{self.path}"


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
