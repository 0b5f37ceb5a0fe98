"""The e-mail send log: one row per delivery slot in the state database, so that each message goes out once.

A *slot* is (team, kind, period): the weekly savings mail of one team for one ISO week, the
monthly savings mail of one team for one billing period, finance's chargeback notice for one
period. A slot is delivered once, ever. The row keeps the content hash of what was (or is about
to be) sent and the exact bytes of that message, so a re-delivery after a crash is byte-identical
and carries the same Message-ID.

The states of a slot::

    (no row) ──claim──► sending ──delivered──► sent            (final: never sent again)
                           │
                           ├──transient failure──► pending     (next run claims it again)
                           ├──permanent failure──► failed      (final: shown by `gpuledger status`)
                           └──process died──► sending, lease expired ──claim──► re-deliver stored bytes

The protocol is written out in full in :mod:`gpuledger.report.email.dispatch`, where it is applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from gpuledger.store.state import StateDB
from gpuledger.store.state_sql import StateConnection, StateRow, next_seq

DDL = """
CREATE TABLE IF NOT EXISTS email_sends (
    team TEXT NOT NULL,              -- a configured team, or '(finance)'
    kind TEXT NOT NULL,              -- savings | chargeback
    period TEXT NOT NULL,            -- YYYY-MM, or YYYY-Www for the weekly savings mail
    content_hash TEXT NOT NULL,      -- sha256 of the rendered content (text, html, parts)
    message_id TEXT NOT NULL,
    recipients TEXT NOT NULL,        -- JSON list
    message BLOB NOT NULL,           -- the exact bytes handed to the SMTP server
    status TEXT NOT NULL,            -- pending | sending | sent | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_at TEXT,
    sent_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    seq INTEGER,                     -- insertion order
    PRIMARY KEY (team, kind, period)
);
"""

DEFAULT_LEASE = timedelta(minutes=15)  # longer than a delivery with all its retries can take


class SlotStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"


@dataclass(frozen=True)
class SlotKey:
    """Which message this is: the unit of exactly-once delivery."""

    team: str
    kind: str
    period: str

    def __str__(self) -> str:
        return f"{self.kind} {self.period} for {self.team}"


@dataclass(frozen=True)
class Draft:
    """A rendered message ready to claim a slot."""

    key: SlotKey
    content_hash: str
    message_id: str
    recipients: tuple[str, ...]
    message: bytes


class Decision(StrEnum):
    send = "send"  # a fresh claim: deliver the draft
    resend = "resend"  # a crashed delivery: deliver the stored bytes again
    skip = "skip"  # sent, failed for good, or another process holds the lease


@dataclass(frozen=True)
class Claim:
    decision: Decision
    key: SlotKey
    message: bytes
    recipients: tuple[str, ...]
    message_id: str
    reason: str = ""


@dataclass(frozen=True)
class SendRecord:
    key: SlotKey
    status: SlotStatus
    content_hash: str
    message_id: str
    recipients: list[str]
    attempts: int
    sent_at: str | None
    last_error: str | None
    updated_at: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class SendLog:
    """The ``email_sends`` table: claims, outcomes, and what `status` shows."""

    def __init__(self, state: StateDB, *, holder: str, lease: timedelta = DEFAULT_LEASE) -> None:
        ensure_table(state)
        self.state = state
        self.holder = holder
        self.lease = lease

    def claim(self, draft: Draft, now: datetime) -> Claim:
        """Decide, in one write transaction, whether this process delivers ``draft`` now."""
        with self.state.connect() as db:
            row = _row(db, draft.key)
            if row is None:
                _insert(db, draft, self.holder, now)
                return _claim(Decision.send, draft.key, draft.message, draft)
            status = SlotStatus(row["status"])
            if status is SlotStatus.sent:
                return _skip(draft.key, f"already sent at {row['sent_at']}")
            if status is SlotStatus.failed:
                return _skip(draft.key, f"failed permanently: {row['last_error']}")
            if status is SlotStatus.sending:
                if datetime.fromisoformat(row["claimed_at"]) + self.lease > now:
                    return _skip(draft.key, f"being sent by {row['claimed_by']}")
                _take(db, draft.key, self.holder, now)
                stored = Draft(
                    draft.key,
                    row["content_hash"],
                    row["message_id"],
                    tuple(json.loads(row["recipients"])),
                    bytes(row["message"]),
                )
                return _claim(Decision.resend, draft.key, stored.message, stored)
            _replace(db, draft, self.holder, now)
            return _claim(Decision.send, draft.key, draft.message, draft)

    def mark_sent(self, key: SlotKey, now: datetime, note: str | None = None) -> None:
        self._finish(key, SlotStatus.sent, now, note, sent=True)

    def mark_pending(self, key: SlotKey, now: datetime, error: str) -> None:
        """A transient failure: the slot is claimable again by the next run."""
        self._finish(key, SlotStatus.pending, now, error)

    def mark_failed(self, key: SlotKey, now: datetime, error: str) -> None:
        """A permanent failure: recorded, never retried, shown by `gpuledger status`."""
        self._finish(key, SlotStatus.failed, now, error)

    def _finish(
        self, key: SlotKey, status: SlotStatus, now: datetime, error: str | None, sent: bool = False
    ) -> None:
        with self.state.connect() as db:
            db.execute(
                "UPDATE email_sends SET status=?, last_error=?, updated_at=?, claimed_by=NULL,"
                " sent_at=CASE WHEN ? THEN ? ELSE sent_at END"
                " WHERE team=? AND kind=? AND period=?",
                (status, error, _iso(now), sent, _iso(now), key.team, key.kind, key.period),
            )

    def records(self, status: SlotStatus | None = None) -> list[SendRecord]:
        return send_records(self.state, status)


def send_records(state: StateDB, status: SlotStatus | None = None) -> list[SendRecord]:
    """Every slot (or those in ``status``), newest first."""
    ensure_table(state)
    query = "SELECT * FROM email_sends"
    args: tuple[str, ...] = ()
    if status is not None:
        query += " WHERE status=?"
        args = (status,)
    with state.connect() as db:
        rows = db.execute(query + " ORDER BY updated_at DESC, seq DESC", args).fetchall()
    return [
        SendRecord(
            key=SlotKey(row["team"], row["kind"], row["period"]),
            status=SlotStatus(row["status"]),
            content_hash=row["content_hash"],
            message_id=row["message_id"],
            recipients=json.loads(row["recipients"]),
            attempts=row["attempts"],
            sent_at=row["sent_at"],
            last_error=row["last_error"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]


def ensure_table(state: StateDB) -> None:
    """The send log's table, with the insertion order a log of an older gpuledger lacks."""
    state.ensure(DDL)
    state.add_order_column("email_sends")


def _row(db: StateConnection, key: SlotKey) -> StateRow | None:
    row: StateRow | None = db.execute(
        "SELECT * FROM email_sends WHERE team=? AND kind=? AND period=?",
        (key.team, key.kind, key.period),
    ).fetchone()
    return row


def _insert(db: StateConnection, draft: Draft, holder: str, now: datetime) -> None:
    db.execute(
        "INSERT INTO email_sends (team, kind, period, content_hash, message_id, recipients,"
        " message, status, attempts, claimed_by, claimed_at, created_at, updated_at, seq)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, 'sending', 1, ?, ?, ?, ?, {next_seq('email_sends')})",
        (
            draft.key.team,
            draft.key.kind,
            draft.key.period,
            draft.content_hash,
            draft.message_id,
            json.dumps(list(draft.recipients)),
            draft.message,
            holder,
            _iso(now),
            _iso(now),
            _iso(now),
        ),
    )


def _replace(db: StateConnection, draft: Draft, holder: str, now: datetime) -> None:
    """Claim a pending slot with the current rendering: nothing of it ever reached a mailbox."""
    db.execute(
        "UPDATE email_sends SET content_hash=?, message_id=?, recipients=?, message=?,"
        " status='sending', attempts=attempts+1, claimed_by=?, claimed_at=?, updated_at=?"
        " WHERE team=? AND kind=? AND period=?",
        (
            draft.content_hash,
            draft.message_id,
            json.dumps(list(draft.recipients)),
            draft.message,
            holder,
            _iso(now),
            _iso(now),
            draft.key.team,
            draft.key.kind,
            draft.key.period,
        ),
    )


def _take(db: StateConnection, key: SlotKey, holder: str, now: datetime) -> None:
    """Take over a slot whose holder died mid-delivery; its stored message is kept as it was."""
    db.execute(
        "UPDATE email_sends SET status='sending', attempts=attempts+1, claimed_by=?,"
        " claimed_at=?, updated_at=? WHERE team=? AND kind=? AND period=?",
        (holder, _iso(now), _iso(now), key.team, key.kind, key.period),
    )


def _claim(decision: Decision, key: SlotKey, message: bytes, draft: Draft) -> Claim:
    return Claim(decision, key, message, draft.recipients, draft.message_id)


def _skip(key: SlotKey, reason: str) -> Claim:
    return Claim(Decision.skip, key, b"", (), "", reason)
