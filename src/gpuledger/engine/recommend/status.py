"""Recommendation lifecycle in the ledger's SQLite state: new → acknowledged | dismissed | done.

A status belongs to the stable id, so it follows the finding from month to month. A dismissal
keeps the fingerprint of the finding it dismissed (what the action proposed and on which
instances): while the finding comes back unchanged it stays dismissed; when it changes it is raised
again as new. Marking one done records its estimated saving and the monthly cost at that moment, so
later months can show what was realized.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gpuledger.errors import UsageError
from gpuledger.store.state import StateDB, utc_now

STATUSES = ("new", "acknowledged", "dismissed", "done")
DDL = """
CREATE TABLE IF NOT EXISTS recommendation_status (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,             -- new | acknowledged | dismissed | done
    reason TEXT,
    fingerprint TEXT NOT NULL,        -- of the finding when its status was last set
    first_seen TEXT NOT NULL,         -- period
    last_seen TEXT NOT NULL,          -- period
    status_period TEXT,               -- the period whose finding the status was set on
    estimated_saving TEXT,            -- set when done: the monthly saving then estimated
    baseline_cost TEXT,               -- set when done: the monthly cost then
    resource_ids TEXT NOT NULL,       -- JSON list
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recommendation_events (
    id TEXT NOT NULL,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT
);
"""


@dataclass(frozen=True)
class Seen:
    """A finding as the lifecycle needs it."""

    id: str
    kind: str
    fingerprint: str
    resource_ids: list[str]


def _ready(state: StateDB) -> StateDB:
    state.ensure(DDL)
    return state


def observe(state: StateDB, period: str, seen: list[Seen]) -> None:
    """Record this period's findings: new ids start as new; a changed dismissed one is re-raised."""
    now = utc_now()
    with _ready(state).connect() as db:
        for finding in seen:
            row = db.execute(
                "SELECT status, fingerprint FROM recommendation_status WHERE id=?", (finding.id,)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO recommendation_status (id, kind, status, fingerprint, first_seen,"
                    " last_seen, resource_ids, updated_at) VALUES (?, ?, 'new', ?, ?, ?, ?, ?)",
                    (
                        finding.id,
                        finding.kind,
                        finding.fingerprint,
                        period,
                        period,
                        json.dumps(finding.resource_ids),
                        now,
                    ),
                )
                continue
            reraise = row["status"] == "dismissed" and row["fingerprint"] != finding.fingerprint
            db.execute(
                "UPDATE recommendation_status SET"
                " last_seen=CASE WHEN last_seen > ? THEN last_seen ELSE ? END, status=?,"
                " fingerprint=CASE WHEN ? THEN ? ELSE fingerprint END, updated_at=? WHERE id=?",
                (
                    period,
                    period,
                    "new" if reraise else row["status"],
                    reraise,
                    finding.fingerprint,
                    now,
                    finding.id,
                ),
            )
            if reraise:
                _event(db, finding.id, "new", "finding changed since it was dismissed")


def _event(db: Any, rec_id: str, status: str, reason: str | None) -> None:
    db.execute(
        "INSERT INTO recommendation_events (id, at, status, reason) VALUES (?, ?, ?, ?)",
        (rec_id, utc_now(), status, reason),
    )


def statuses(state: StateDB) -> dict[str, dict[str, Any]]:
    """Every recorded recommendation's lifecycle row, by id."""
    with _ready(state).connect() as db:
        rows = db.execute("SELECT * FROM recommendation_status").fetchall()
    return {row["id"]: dict(row) for row in rows}


def set_status(
    state: StateDB,
    rec_id: str,
    status: str,
    *,
    reason: str | None,
    period: str,
    fingerprint: str,
    monthly_saving: Decimal,
    monthly_cost: Decimal,
) -> None:
    """Acknowledge, dismiss (a reason is required) or mark done one recommendation."""
    if status not in STATUSES:
        raise UsageError(
            f"unknown recommendation status {status!r} (expected {', '.join(STATUSES)})"
        )
    if status == "dismissed" and not (reason and reason.strip()):
        raise UsageError("--dismiss needs --reason: say why, so the next reader knows")
    done = status == "done"
    with _ready(state).connect() as db:
        updated = db.execute(
            "UPDATE recommendation_status SET status=?, reason=?, fingerprint=?, status_period=?,"
            " estimated_saving=?, baseline_cost=?, updated_at=? WHERE id=?",
            (
                status,
                reason,
                fingerprint,
                period,
                str(monthly_saving) if done else None,
                str(monthly_cost) if done else None,
                utc_now(),
                rec_id,
            ),
        ).rowcount
        if not updated:
            raise UsageError(f"no recommendation with id {rec_id!r}; run `gpuledger recommend`")
        _event(db, rec_id, status, reason)
