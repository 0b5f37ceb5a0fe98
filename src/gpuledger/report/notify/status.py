"""Alert lifecycle in the state database: open → acknowledged | dismissed, per stable alert id.

Detection runs again and again over the same month; an alert's id stays the same, so its status
does too. The first run that sees an alert records it as ``open``; a person acknowledges it (seen,
being looked at) or dismisses it (not worth a message). A dismissed alert is never delivered;
an acknowledged one still is, to whoever has not been told yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gpuledger.engine.alerts.model import Alert
from gpuledger.errors import UsageError
from gpuledger.store.state import StateDB, utc_now

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
DISMISSED = "dismissed"
STATUSES = (OPEN, ACKNOWLEDGED, DISMISSED)

DDL = """
CREATE TABLE IF NOT EXISTS alert_status (
    id TEXT PRIMARY KEY,             -- the alert's stable id
    kind TEXT NOT NULL,              -- anomaly | budget
    period TEXT NOT NULL,            -- YYYY-MM
    team TEXT,                       -- NULL: a finance-only alert
    status TEXT NOT NULL,            -- open | acknowledged | dismissed
    reason TEXT,
    first_seen TEXT NOT NULL,        -- ISO-8601 UTC
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class AlertStatus:
    id: str
    status: str
    reason: str | None
    first_seen: str
    updated_at: str


def _ready(state: StateDB) -> StateDB:
    state.ensure(DDL)
    return state


def observe(state: StateDB, alerts: Iterable[Alert]) -> None:
    """Record alerts not seen before as ``open``; known ones keep their status."""
    now = utc_now()
    with _ready(state).connect() as db:
        for alert in alerts:
            db.execute(
                "INSERT INTO alert_status (id, kind, period, team, status, first_seen, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (alert.id, alert.kind, alert.period, alert.team, OPEN, now, now),
            )


def statuses(state: StateDB) -> dict[str, AlertStatus]:
    """Every recorded alert's status, by id."""
    with _ready(state).connect() as db:
        rows = db.execute(
            "SELECT id, status, reason, first_seen, updated_at FROM alert_status"
        ).fetchall()
    return {row["id"]: _status(row) for row in rows}


def _status(row: Any) -> AlertStatus:
    return AlertStatus(
        row["id"], row["status"], row["reason"], row["first_seen"], row["updated_at"]
    )


def set_status(state: StateDB, alert: Alert, status: str, reason: str | None = None) -> None:
    """Acknowledge, dismiss or re-open one alert (recorded as open first if it is new)."""
    if status not in STATUSES:
        raise UsageError(f"unknown alert status {status!r} (expected {', '.join(STATUSES)})")
    observe(state, [alert])
    with _ready(state).connect() as db:
        db.execute(
            "UPDATE alert_status SET status=?, reason=?, updated_at=? WHERE id=?",
            (status, (reason or "").strip() or None, utc_now(), alert.id),
        )
