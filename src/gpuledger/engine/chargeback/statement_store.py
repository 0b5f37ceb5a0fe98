"""Closed months as stored: the statement document of each closed month, verified by its hash.

``close`` writes the lines to the ``statement`` Delta table (for Spark, DuckDB and friends) and
the full document (lines, totals, budgets, comparisons) here, in the state database, next to the
``closed_periods`` row that pins its content hash and table versions. Reading a closed month
means reading this document back: nothing that arrives later can change it.
"""

from __future__ import annotations

from gpuledger.engine.chargeback.statements import Statements
from gpuledger.errors import StoreError
from gpuledger.store.state import StateDB

_DDL = """
CREATE TABLE IF NOT EXISTS statement_documents (
    period TEXT PRIMARY KEY,
    document TEXT NOT NULL           -- canonical JSON of the closed month's statements
);
"""


def ensure_tables(state: StateDB) -> None:
    state.ensure(_DDL)


def load_closed(state: StateDB, period: str) -> Statements | None:
    """The stored statements of ``period`` if it is closed, else None.

    Raises StoreError when the stored document no longer matches the content hash recorded at
    close: a closed month that silently changed would be worse than one that cannot be read.
    """
    closed = state.closed_periods().get(period)
    if closed is None:
        return None
    ensure_tables(state)
    with state.connect() as db:
        row = db.execute(
            "SELECT document FROM statement_documents WHERE period=?", (period,)
        ).fetchone()
    if row is None:
        raise StoreError(f"{period} is closed but its statement document is missing")
    statements = Statements.from_document_text(row["document"])
    if statements.content_hash() != closed["content_hash"]:
        raise StoreError(
            f"{period}: the stored statements do not match the hash recorded at close"
            f" ({closed['content_hash'][:12]}…); the state database was changed by hand"
        )
    return statements


def closed_documents(state: StateDB) -> dict[str, Statements]:
    """Every closed month's stored statements, by period."""
    result: dict[str, Statements] = {}
    for period in state.closed_periods():
        statements = load_closed(state, period)
        if statements is not None:
            result[period] = statements
    return result
