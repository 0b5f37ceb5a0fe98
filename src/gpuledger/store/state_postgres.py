"""State in PostgreSQL, for a ledger that several machines use (``[state] url``).

Through SQLAlchemy with the psycopg 3 driver; the password comes from the environment
(``[state] password_env``), never from the URL, and is never shown.

- **One schema per ledger.** Each ledger home gets its own schema, ``gpuledger_`` and 16 hex digits
  of the SHA-256 of the home, so one database serves many ledgers and an empty ledger never lists
  another's ingests. The schema's ``ledger_home`` table names the home it belongs to.
- **Transactions serialize like SQLite's ``BEGIN IMMEDIATE``.** Every ``connect()`` first takes a
  transaction-scoped advisory lock of its ledger (``pg_advisory_xact_lock``), so the e-mail send
  log's claim and the scheduler's run lock are exclusive across machines, as on one machine. A
  lock not granted within ``LOCK_TIMEOUT`` fails the transaction, as SQLite's busy timeout does.
- **Portable SQL in, PostgreSQL out.** ``?`` placeholders become the driver's ``%s``; in table
  definitions INTEGER becomes BIGINT, REAL DOUBLE PRECISION and BLOB BYTEA (SQLite's INTEGER and
  REAL are 8 bytes wide, PostgreSQL's are 4).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, CursorResult, Engine

from gpuledger.errors import StoreError, UsageError
from gpuledger.store.state_sql import TableMark

LOCK_TIMEOUT: Final = "30s"  # as long as SQLite's busy timeout
SCHEMA_PREFIX: Final = "gpuledger_"
DRIVER: Final = "postgresql+psycopg"
_SCHEMAS_LOCK: Final = 0x6770_6C65_6467_6572  # "gpledger": creating a ledger's schema
_TYPES: Final = {
    re.compile(r"\bINTEGER\b"): "BIGINT",
    re.compile(r"\bREAL\b"): "DOUBLE PRECISION",
    re.compile(r"\bBLOB\b"): "BYTEA",
}


def ledger_schema(home: str) -> str:
    """The schema holding the state of the ledger at ``home``."""
    return SCHEMA_PREFIX + hashlib.sha256(home.rstrip("/").encode()).hexdigest()[:16]


class PostgresState:
    """The state of the ledger ``home`` in the PostgreSQL database at ``url``."""

    def __init__(self, url: str, password: str | None, home: str) -> None:
        parsed = _parse(url)
        self.home = home.rstrip("/")
        self.schema = ledger_schema(self.home)
        self._url = parsed
        self._engine = _engine(parsed, password)
        digest = hashlib.sha256(self.schema.encode()).digest()
        self._lock = int.from_bytes(digest[:8], "big", signed=True)
        self._open_schema()

    @contextmanager
    def connect(self) -> Iterator[PostgresConnection]:
        with self._connection() as conn, conn.begin():
            conn.exec_driver_sql(
                f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; SET LOCAL search_path TO {self.schema};"
                f" SELECT pg_advisory_xact_lock({self._lock})"
            )
            yield PostgresConnection(conn)

    def ensure(self, ddl: str) -> None:
        with self.connect() as db:
            db.execute(postgres_types(ddl))

    def add_column(self, table: str, column: str, kind: str) -> None:
        """Altered only when missing: ALTER TABLE needs the table's owner, reading does not."""
        with self.connect() as db:
            present = db.execute(
                "SELECT 1 FROM information_schema.columns"
                " WHERE table_schema = ? AND table_name = ? AND column_name = ?",
                (self.schema, table, column),
            ).fetchone()
            if present is None:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {postgres_types(kind)}")

    def add_order_column(self, table: str) -> None:
        self.add_column(table, "seq", "INTEGER")  # every table here was created with its seq

    def marks(self, tables: Sequence[str]) -> tuple[TableMark, ...]:
        """Row count and highest ``xmin`` (the transaction that last wrote a row) per table."""
        with self.connect() as db:
            present = {
                row[0]
                for row in db.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                    (self.schema,),
                )
            }
            return tuple(_mark(db, name) if name in present else (name, 0, None) for name in tables)

    def job_store(self) -> dict[str, Any]:
        return {"engine": self._engine, "tableschema": self.schema}

    def describe(self) -> str:
        return f"{self._url.render_as_string(hide_password=True)} (schema {self.schema})"

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            conn = self._engine.connect()
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot reach the state database {self.describe()}: {exc.orig}"
            ) from None
        with conn:
            yield conn

    def _open_schema(self) -> None:
        """Create the ledger's schema once; refuse a schema that another home already holds."""
        with self._connection() as conn, conn.begin():
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_SCHEMAS_LOCK})")
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {self.schema}.ledger_home (home TEXT PRIMARY KEY)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {self.schema}.ledger_home (home) VALUES (%s) ON CONFLICT DO NOTHING",
                (self.home,),
            )
            homes = [
                row[0]
                for row in conn.exec_driver_sql(f"SELECT home FROM {self.schema}.ledger_home")
            ]
        if homes != [self.home]:
            raise StoreError(
                f"state schema {self.schema} in {self.describe()} belongs to {homes}, not {self.home}"
            )


class PostgresConnection:
    """A transaction's connection, with ``?`` placeholders and rows by name or position."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PostgresCursor:
        if not parameters:
            return PostgresCursor(self._conn.exec_driver_sql(sql))
        return PostgresCursor(self._conn.exec_driver_sql(pyformat(sql), tuple(parameters)))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> PostgresCursor:
        batch = [tuple(row) for row in parameters]
        if not batch:
            return PostgresCursor(None)
        return PostgresCursor(self._conn.exec_driver_sql(pyformat(sql), batch))


class PostgresCursor:
    """A statement's result: ``fetchone``/``fetchall``/iteration give :class:`Row`s."""

    def __init__(self, result: CursorResult[Any] | None) -> None:
        self._result = result
        self._keys = list(result.keys()) if result is not None and result.returns_rows else []

    @property
    def rowcount(self) -> int:
        return 0 if self._result is None else self._result.rowcount

    def fetchone(self) -> Row | None:
        row = None if self._result is None else self._result.fetchone()
        return None if row is None else Row(self._keys, tuple(row))

    def fetchall(self) -> list[Row]:
        return list(self)

    def __iter__(self) -> Iterator[Row]:
        if self._result is None:
            return iter(())
        return (Row(self._keys, tuple(row)) for row in self._result)


class Row:
    """A row as ``sqlite3.Row`` reads: ``row["name"]``, ``row[0]``, ``dict(row)``."""

    __slots__ = ("_index", "_keys", "_values")

    def __init__(self, keys: list[str], values: tuple[Any, ...]) -> None:
        self._keys = keys
        self._values = values
        self._index = {key: position for position, key in enumerate(keys)}

    def __getitem__(self, key: str | int, /) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]

    def keys(self) -> list[str]:
        return list(self._keys)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _mark(db: PostgresConnection, table: str) -> TableMark:
    row = db.execute(f"SELECT count(*), max(xmin::text::bigint) FROM {table}").fetchone()
    return (table, 0, None) if row is None else (table, int(row[0]), row[1])


def pyformat(sql: str) -> str:
    """``?`` placeholders outside string literals as psycopg's ``%s``; a literal ``%`` doubled."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    return "".join(
        part.replace("%", "%%") if index % 2 else part.replace("%", "%%").replace("?", "%s")
        for index, part in enumerate(parts)
    )


def postgres_types(ddl: str) -> str:
    """SQLite column types as PostgreSQL's of the same width."""
    for pattern, kind in _TYPES.items():
        ddl = pattern.sub(kind, ddl)
    return ddl


def _parse(url: str) -> URL:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise UsageError(
            f"[state] url {url!r} is not a database URL: expected postgresql://USER@HOST:PORT/DB"
        ) from None
    if parsed.password is not None:
        raise UsageError(
            "[state] url must not hold the password: put it in the environment variable named by"
            " [state] password_env (GPULEDGER_STATE_PASSWORD unless set)"
        )
    return parsed.set(drivername=DRIVER)


@cache
def _engine(url: URL, password: str | None) -> Engine:
    """One pool per database and password in a process, whichever ledgers use it."""
    return sa.create_engine(url.set(password=password), pool_pre_ping=True, pool_size=2)
