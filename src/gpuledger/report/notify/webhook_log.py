"""The webhook send log: one row per alert in ``webhook_sends``, so that no alert is posted twice.

A webhook has no Message-ID a chat could fold duplicates by, so the e-mail log's answer to the
crash window (deliver the stored bytes again) would show the alert twice. Here the crash window
is closed the other way, **at most once**::

    (no row) ──claim──► sending ──2xx──► sent                       (final)
                           │
                           ├──not delivered, transient──► pending    (the next run claims it again)
                           ├──not delivered, permanent──► failed     (final, shown by status)
                           ├──sent, no answer──► unconfirmed         (final, shown by status)
                           └──process died──► sending, lease expired ──next run──► unconfirmed

A process that died while holding the claim may have died after its POST reached the chat and
before ``sent`` was recorded; nothing local can tell, so the row becomes ``unconfirmed``: shown by
``gpuledger alerts`` and never posted again. The alert is still in the app and in the e-mails.

Every transition is a conditional write (``INSERT … ON CONFLICT DO NOTHING``, ``UPDATE … WHERE
status = … AND claimed_at = …``) whose row count says whether this process won it, so two
schedulers racing for one alert post it once on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from gpuledger.store.state import StateDB

DDL = """
CREATE TABLE IF NOT EXISTS webhook_sends (
    alert_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,            -- pending | sending | sent | failed | unconfirmed
    attempts INTEGER NOT NULL DEFAULT 0,
    payload_hash TEXT NOT NULL,      -- sha256 of the body last claimed for posting
    claimed_by TEXT,                 -- the lease: which process, since when
    claimed_at TEXT,
    sent_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

DEFAULT_LEASE = timedelta(minutes=15)  # longer than a POST with all its retries can take


class WebhookStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    unconfirmed = "unconfirmed"


@dataclass(frozen=True)
class WebhookClaim:
    """Whether this process posts the alert now, and if not, why."""

    alert_id: str
    granted: bool
    reason: str = ""
    claimed_at: str = ""


@dataclass(frozen=True)
class WebhookRecord:
    alert_id: str
    status: WebhookStatus
    attempts: int
    payload_hash: str
    sent_at: str | None
    last_error: str | None
    updated_at: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class WebhookLog:
    """Claims and outcomes of webhook posts, one row per alert."""

    def __init__(self, state: StateDB, *, holder: str, lease: timedelta = DEFAULT_LEASE) -> None:
        state.ensure(DDL)
        self.state = state
        self.holder = holder
        self.lease = lease

    def claim(self, alert_id: str, payload_hash: str, now: datetime) -> WebhookClaim:
        """Decide whether this process posts ``alert_id`` now (see the module doc)."""
        stamp = _iso(now)
        with self.state.connect() as db:
            inserted = db.execute(
                "INSERT INTO webhook_sends (alert_id, status, attempts, payload_hash, claimed_by,"
                " claimed_at, created_at, updated_at) VALUES (?, 'sending', 1, ?, ?, ?, ?, ?)"
                " ON CONFLICT (alert_id) DO NOTHING",
                (alert_id, payload_hash, self.holder, stamp, stamp, stamp),
            ).rowcount
            if inserted:
                return WebhookClaim(alert_id, True, claimed_at=stamp)
            row = _row(db, alert_id)
            status = WebhookStatus(row["status"])
            if status is WebhookStatus.pending:
                return self._reclaim(db, row, payload_hash, stamp)
            if status is WebhookStatus.sending:
                return self._expire(db, row, now)
        return WebhookClaim(alert_id, False, _final_reason(row))

    def _reclaim(self, db: Any, row: Any, payload_hash: str, stamp: str) -> WebhookClaim:
        """A pending row: earlier runs' POSTs were all refused, so nothing was posted."""
        won = db.execute(
            "UPDATE webhook_sends SET status='sending', attempts=attempts+1, payload_hash=?,"
            " claimed_by=?, claimed_at=?, updated_at=? WHERE alert_id=? AND status='pending'",
            (payload_hash, self.holder, stamp, stamp, row["alert_id"]),
        ).rowcount
        if won:
            return WebhookClaim(row["alert_id"], True, claimed_at=stamp)
        return WebhookClaim(row["alert_id"], False, "claimed by another process just now")

    def _expire(self, db: Any, row: Any, now: datetime) -> WebhookClaim:
        """A sending row: held by a live process, or left by one that died (→ unconfirmed)."""
        claimed_at = datetime.fromisoformat(row["claimed_at"])
        if claimed_at + self.lease > now:
            return WebhookClaim(row["alert_id"], False, f"being posted by {row['claimed_by']}")
        error = (
            f"the process that claimed it ({row['claimed_by']}) stopped at"
            f" {row['claimed_at']} before recording the outcome; it may have posted it"
        )
        db.execute(
            "UPDATE webhook_sends SET status='unconfirmed', last_error=?, claimed_by=NULL,"
            " updated_at=? WHERE alert_id=? AND status='sending' AND claimed_at=?",
            (error, _iso(now), row["alert_id"], row["claimed_at"]),
        )
        return WebhookClaim(row["alert_id"], False, f"unconfirmed: {error}")

    def mark_sent(self, claim: WebhookClaim, now: datetime) -> None:
        self._finish(claim, WebhookStatus.sent, now, None)

    def mark_pending(self, claim: WebhookClaim, now: datetime, error: str) -> None:
        """Not delivered, transiently: the next run claims it again."""
        self._finish(claim, WebhookStatus.pending, now, error)

    def mark_failed(self, claim: WebhookClaim, now: datetime, error: str) -> None:
        """Refused for good: recorded, never retried."""
        self._finish(claim, WebhookStatus.failed, now, error)

    def mark_unconfirmed(self, claim: WebhookClaim, now: datetime, error: str) -> None:
        """Sent without an answer: it may have been posted, so it is never posted again."""
        self._finish(claim, WebhookStatus.unconfirmed, now, error)

    def _finish(
        self, claim: WebhookClaim, status: WebhookStatus, now: datetime, error: str | None
    ) -> None:
        """Record the outcome of this process's own claim (and nothing if it lost the lease)."""
        stamp = _iso(now)
        with self.state.connect() as db:
            db.execute(
                "UPDATE webhook_sends SET status=?, last_error=?, updated_at=?, claimed_by=NULL,"
                " sent_at=CASE WHEN ? = 1 THEN ? ELSE sent_at END"
                " WHERE alert_id=? AND status='sending' AND claimed_by=? AND claimed_at=?",
                (
                    status.value,
                    error,
                    stamp,
                    1 if status is WebhookStatus.sent else 0,
                    stamp,
                    claim.alert_id,
                    self.holder,
                    claim.claimed_at,
                ),
            )


def _row(db: Any, alert_id: str) -> Any:
    return db.execute("SELECT * FROM webhook_sends WHERE alert_id=?", (alert_id,)).fetchone()


def _final_reason(row: Any) -> str:
    status = row["status"]
    if status == WebhookStatus.sent:
        return f"already posted at {row['sent_at']}"
    if status == WebhookStatus.failed:
        return f"failed permanently: {row['last_error']}"
    return f"unconfirmed: {row['last_error']}"


def webhook_records(state: StateDB) -> dict[str, WebhookRecord]:
    """Every alert's webhook row, by alert id."""
    state.ensure(DDL)
    with state.connect() as db:
        rows = db.execute("SELECT * FROM webhook_sends").fetchall()
    return {
        row["alert_id"]: WebhookRecord(
            alert_id=row["alert_id"],
            status=WebhookStatus(row["status"]),
            attempts=row["attempts"],
            payload_hash=row["payload_hash"],
            sent_at=row["sent_at"],
            last_error=row["last_error"],
            updated_at=row["updated_at"],
        )
        for row in rows
    }


UNDELIVERED = (WebhookStatus.failed, WebhookStatus.pending, WebhookStatus.unconfirmed)


def undelivered_webhooks(state: StateDB) -> list[WebhookRecord]:
    """Alerts whose webhook post failed, waits for a retry, or may or may not have been posted:
    what `gpuledger status` shows, oldest first."""
    records = webhook_records(state).values()
    return sorted((r for r in records if r.status in UNDELIVERED), key=lambda r: r.updated_at)
