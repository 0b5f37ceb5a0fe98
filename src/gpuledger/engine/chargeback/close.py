"""Closing a month: its statements are frozen, stored and pinned; re-opening is explicit.

Close stores the month's statement lines in the ``statement`` Delta table and the whole
statement document in the state database, with the Delta table versions they were computed
from and a SHA-256 content hash (``closed_periods``). From then on ``chargeback`` for the month
returns exactly the stored statements, and any later change of its billing data becomes
adjustment lines on the next open month (:mod:`gpuledger.engine.chargeback.adjustments`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.chargeback.adjustments import booked_corrections
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.statement_store import closed_documents, ensure_tables
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.errors import UsageError
from gpuledger.period import Period
from gpuledger.schema import STATEMENT_SCHEMA, Stmt
from gpuledger.store.delta import Store
from gpuledger.store.state import utc_now
from gpuledger.store.state_sql import StateConnection, next_seq


@dataclass(frozen=True)
class CloseResult:
    """What closing did: the frozen statements, their hash, and the versions they came from."""

    statements: Statements
    content_hash: str
    table_versions: dict[str, int | None]
    provisional: tuple[str, ...]  # accounts not yet invoiced when the month was closed (--force)


def provisional_accounts(store: Store, period: str) -> list[str]:
    """``source/account`` of every account of ``period`` the provider has not marked invoiced.

    A month with no billing-period record at all counts as provisional: nothing says its
    invoice is final.
    """
    rows = [row for row in store.state.billing_periods() if row["period"] == period]
    if not rows:
        return ["(no billing data recorded)"]
    return [f"{row['source']}/{row['billing_account']}" for row in rows if not row["invoiced"]]


def close_period(
    store: Store, settings: Settings, period: str, *, force: bool = False
) -> CloseResult:
    """Freeze ``period``: store its statements, pin its table versions, record the close.

    Refuses (UsageError) a month that is already closed, and a month with accounts the provider
    has not invoiced yet unless ``force`` is set: a provisional month will still change.
    """
    Period.parse(period)
    if store.state.is_closed(period):
        raise _already_closed(period)
    provisional = provisional_accounts(store, period)
    if provisional and not force:
        raise UsageError(
            f"{period} is not invoiced yet for {', '.join(provisional)}: its costs may still"
            " change. Close anyway with --force"
        )
    statements = build_statements(store, settings, period)
    frozen = replace(
        statements,
        closed=True,
        closed_at=utc_now(),
        focus_rows=None,
    )
    content_hash = frozen.content_hash()
    ensure_tables(store.state)
    # The state transaction (it holds the ledger's write lock) is held across the Delta write, so two closers
    # of one month cannot both write: the second finds the first's row and stops.
    with store.state.connect() as db:
        if db.execute("SELECT 1 FROM closed_periods WHERE period=?", (period,)).fetchone():
            raise _already_closed(period)
        statement_version = store.replace_partitions(
            "statement", statement_rows(frozen, content_hash), [Stmt.period]
        )
        versions = {**frozen.table_versions, "statement": statement_version}
        _record_close(db, frozen, content_hash, versions, provisional if force else [])
    return CloseResult(frozen, content_hash, versions, tuple(provisional))


def _already_closed(period: str) -> UsageError:
    return UsageError(
        f"{period} is already closed; re-open it first with"
        f" `gpuledger close --period {period} --reopen --reason TEXT`"
    )


def statement_rows(statements: Statements, content_hash: str) -> pl.DataFrame:
    """The ``statement`` table rows of a closed month: every line and adjustment line."""
    closed_at = datetime.fromisoformat(statements.closed_at or utc_now()).astimezone(UTC)
    records = [
        {
            Stmt.period: statements.period,
            Stmt.team: team.team,
            Stmt.model: line.model,
            Stmt.gpu_model: line.gpu_model,
            Stmt.cost_type: line.cost_type,
            Stmt.corrects_period: line.corrects_period,
            Stmt.gpu_hours: line.gpu_hours,
            Stmt.cost: line.cost,
            Stmt.currency: statements.currency,
            Stmt.closed_at: closed_at,
            Stmt.content_hash: content_hash,
        }
        for team in statements.teams
        for line in (*team.lines, *team.adjustments)
    ]
    return pl.DataFrame(records, schema=STATEMENT_SCHEMA)


def _record_close(
    db: StateConnection,
    statements: Statements,
    content_hash: str,
    versions: dict[str, int | None],
    forced_over: list[str],
) -> None:
    reason = f"forced while provisional: {', '.join(forced_over)}" if forced_over else None
    db.execute(
        "INSERT INTO closed_periods (period, closed_at, table_versions, content_hash, forced)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            statements.period,
            statements.closed_at,
            json.dumps(versions, sort_keys=True),
            content_hash,
            int(bool(forced_over)),
        ),
    )
    db.execute(
        "INSERT INTO statement_documents (period, document) VALUES (?, ?)"
        " ON CONFLICT (period) DO UPDATE SET document=excluded.document",
        (statements.period, statements.document_text()),
    )
    db.execute(
        "INSERT INTO period_events (period, at, event, reason, seq)"
        f" VALUES (?, ?, 'closed', ?, {next_seq('period_events')})",
        (statements.period, statements.closed_at, reason),
    )


def reopen_period(store: Store, period: str, reason: str | None) -> None:
    """Re-open a closed month, recording why; its stored statement lines are removed.

    Refused while a later closed month carries adjustments of it: re-opening would count those
    corrections twice. Re-open the later month first.
    """
    Period.parse(period)
    if not reason or not reason.strip():
        raise UsageError("--reopen needs --reason TEXT: re-opening a month is recorded")
    documents = closed_documents(store.state)
    if period not in documents:
        raise UsageError(f"{period} is not closed")
    holders = sorted(
        later
        for later, statements in documents.items()
        if later != period and booked_corrections(period, {later: statements})
    )
    if holders:
        raise UsageError(
            f"{period} cannot be re-opened: closed month(s) {', '.join(holders)} carry"
            " adjustments of it; re-open those first"
        )
    with store.state.connect() as db:
        store.replace_partitions(
            "statement",
            pl.DataFrame(schema=STATEMENT_SCHEMA),
            [Stmt.period],
            replace=[{Stmt.period: period}],
        )
        db.execute("DELETE FROM closed_periods WHERE period=?", (period,))
        db.execute("DELETE FROM statement_documents WHERE period=?", (period,))
        db.execute(
            "INSERT INTO period_events (period, at, event, reason, seq)"
            f" VALUES (?, ?, 'reopened', ?, {next_seq('period_events')})",
            (period, utc_now(), reason.strip()),
        )


def period_events(store: Store, period: str) -> list[dict[str, str | None]]:
    """The close / re-open history of ``period``, oldest first."""
    with store.state.connect() as db:
        rows = db.execute(
            "SELECT at, event, reason FROM period_events WHERE period=? ORDER BY seq", (period,)
        ).fetchall()
    return [dict(row) for row in rows]
