"""What a state backend offers: a transaction that runs ``?``-placeholder SQL, and table upkeep.

The consumers of the state database write their statements once, in portable SQL (``?``
placeholders, ``INSERT ... ON CONFLICT``, TEXT / INTEGER / REAL / BLOB columns), and read rows by
column name or position. SQLite's own connection already has that shape; the PostgreSQL backend
adapts to it (:mod:`~gpuledger.store.state_postgres`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

# Row count and insertion high-water mark of one table: a fingerprint of its contents.
TableMark = tuple[str, int, int | None]


class StateRow(Protocol):
    """One result row: by column name or position, and ``dict(row)``."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def keys(self) -> list[str]: ...


class StateCursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class StateConnection(Protocol):
    """A connection inside one transaction, as :meth:`StateDB.connect` yields it."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> StateCursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> StateCursor: ...


class StateBackend(Protocol):
    """Where a ledger's state is kept, and the few things that differ between databases."""

    def connect(self) -> AbstractContextManager[StateConnection]:
        """One transaction, serialized against every other on the ledger."""
        ...

    def ensure(self, ddl: str) -> None:
        """Run ``CREATE TABLE IF NOT EXISTS`` statements (several, separated by ``;``)."""
        ...

    def add_column(self, table: str, column: str, kind: str) -> None:
        """Give an existing table a column it lacks."""
        ...

    def add_order_column(self, table: str) -> None:
        """Give an existing table the ``seq`` column, numbering its rows in insertion order."""
        ...

    def marks(self, tables: Sequence[str]) -> tuple[TableMark, ...]:
        """Row count and insertion high-water mark of each table (absent: ``(name, 0, None)``)."""
        ...

    def job_store(self) -> dict[str, Any]:
        """Keyword arguments for APScheduler's ``SQLAlchemyJobStore`` on this database."""
        ...

    def describe(self) -> str:
        """Where the state is, for status screens: never with a password."""
        ...


def next_seq(table: str) -> str:
    """SQL for the next ``seq`` of ``table``: its rows in insertion order (writers serialize)."""
    return f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table})"
