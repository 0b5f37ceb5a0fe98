"""The send log's claim decisions, state by state, on a real state database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpuledger.report.email.log import Decision, Draft, SendLog, SlotKey, SlotStatus, send_records
from gpuledger.store.delta import Store

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
KEY = SlotKey("nlp", "savings", "2026-W45")
LEASE = timedelta(minutes=15)


def draft(body: bytes) -> Draft:
    return Draft(KEY, f"hash-{body.decode()}", f"<{body.decode()}@x>", ("lead@example.com",), body)


def prepare(log: SendLog, state: str) -> None:
    """Bring the slot into ``state`` the way a real run would."""
    if state == "none":
        return
    log.claim(draft(b"first"), T0)
    if state == "sent":
        log.mark_sent(KEY, T0)
    elif state == "failed":
        log.mark_failed(KEY, T0, "SMTP 550 no such user")
    elif state == "pending":
        log.mark_pending(KEY, T0, "SMTP 451 busy")


@pytest.mark.parametrize(
    ("state", "after", "decision", "message", "attempts"),
    [
        ("none", timedelta(0), Decision.send, b"second", 1),
        ("sent", timedelta(days=30), Decision.skip, b"", 1),
        ("failed", timedelta(days=30), Decision.skip, b"", 1),
        ("pending", timedelta(minutes=1), Decision.send, b"second", 2),
        ("sending", LEASE - timedelta(seconds=1), Decision.skip, b"", 1),
        ("sending", LEASE, Decision.resend, b"first", 2),
    ],
    ids=[
        "fresh-slot",
        "sent-is-final",
        "failed-is-final",
        "pending-takes-new-rendering",
        "live-lease-belongs-to-other",
        "expired-lease-resends-stored-bytes",
    ],
)
def test_claim(
    store: Store,
    state: str,
    after: timedelta,
    decision: Decision,
    message: bytes,
    attempts: int,
) -> None:
    first = SendLog(store.state, holder="host:1", lease=LEASE)
    prepare(first, state)
    second = SendLog(store.state, holder="host:2", lease=LEASE)

    claim = second.claim(draft(b"second"), T0 + after)

    assert (claim.decision, claim.message) == (decision, message)
    (record,) = send_records(store.state)
    assert record.attempts == attempts


def test_skip_reasons_say_why(store: Store) -> None:
    log = SendLog(store.state, holder="host:1")
    prepare(log, "failed")
    assert log.claim(draft(b"x"), T0).reason == "failed permanently: SMTP 550 no such user"


@pytest.mark.parametrize(
    ("finish", "status", "sent_at"),
    [
        ("mark_sent", SlotStatus.sent, True),
        ("mark_failed", SlotStatus.failed, False),
        ("mark_pending", SlotStatus.pending, False),
    ],
    ids=["sent", "failed", "pending"],
)
def test_outcomes_are_recorded(
    store: Store, finish: str, status: SlotStatus, sent_at: bool
) -> None:
    log = SendLog(store.state, holder="host:1")
    log.claim(draft(b"first"), T0)
    getattr(log, finish)(KEY, T0 + timedelta(seconds=2), "note")

    (record,) = send_records(store.state)
    assert record.status is status
    assert (record.sent_at is not None) is sent_at
    assert record.last_error == "note"
    assert send_records(store.state, status) == [record]
