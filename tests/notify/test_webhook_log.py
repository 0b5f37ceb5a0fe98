"""The webhook send log's transitions: who may post, and what a lost or expired claim leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gpuledger.report.notify.webhook_log import (
    DEFAULT_LEASE,
    WebhookLog,
    WebhookStatus,
    undelivered_webhooks,
    webhook_records,
)
from gpuledger.store.state import StateDB

NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
ALERT = "ano-0123456789abcdef"


def test_two_processes_claiming_at_once_post_once(any_state: StateDB) -> None:
    a, b = WebhookLog(any_state, holder="host-a:1"), WebhookLog(any_state, holder="host-b:2")
    assert a.claim(ALERT, "h1", NOW).granted
    lost = b.claim(ALERT, "h1", NOW)
    assert (lost.granted, lost.reason) == (False, "being posted by host-a:1")


@pytest.mark.parametrize(
    ("outcome", "granted_again", "status"),
    [
        ("sent", False, WebhookStatus.sent),
        ("failed", False, WebhookStatus.failed),
        ("unconfirmed", False, WebhookStatus.unconfirmed),
        ("pending", True, WebhookStatus.sending),
    ],
    ids=["sent-final", "failed-final", "unconfirmed-final", "pending-claimed-again"],
)
def test_only_a_pending_row_is_claimed_again(
    any_state: StateDB, outcome: str, granted_again: bool, status: WebhookStatus
) -> None:
    log = WebhookLog(any_state, holder="host-a:1")
    claim = log.claim(ALERT, "h1", NOW)
    if outcome == "sent":
        log.mark_sent(claim, NOW)
    else:
        getattr(log, f"mark_{outcome}")(claim, NOW, "why")
    later = NOW + 2 * DEFAULT_LEASE
    assert log.claim(ALERT, "h2", later).granted is granted_again
    record = webhook_records(any_state)[ALERT]
    assert record.status is status
    assert record.attempts == (2 if granted_again else 1)


def test_an_expired_claim_becomes_unconfirmed_and_its_late_outcome_is_ignored(
    any_state: StateDB,
) -> None:
    slow, other = WebhookLog(any_state, holder="host-a:1"), WebhookLog(any_state, holder="host-b:2")
    claim = slow.claim(ALERT, "h1", NOW)
    expired = other.claim(ALERT, "h1", NOW + DEFAULT_LEASE + timedelta(seconds=1))
    assert not expired.granted
    assert expired.reason.startswith("unconfirmed: the process that claimed it (host-a:1)")
    slow.mark_pending(claim, NOW + DEFAULT_LEASE + timedelta(seconds=2), "HTTP 503")
    assert webhook_records(any_state)[ALERT].status is WebhookStatus.unconfirmed


def test_undelivered_lists_what_status_must_show(any_state: StateDB) -> None:
    log = WebhookLog(any_state, holder="host-a:1")
    for alert_id, mark in (("a-sent", "sent"), ("b-failed", "failed"), ("c-later", "pending")):
        claim = log.claim(alert_id, "h", NOW)
        if mark == "sent":
            log.mark_sent(claim, NOW)
        else:
            getattr(log, f"mark_{mark}")(claim, NOW, "HTTP 4xx/5xx")
    log.claim("d-crashed", "h", NOW)
    log.claim("d-crashed", "h", NOW + DEFAULT_LEASE + timedelta(seconds=1))
    found = {r.alert_id: r.status for r in undelivered_webhooks(any_state)}
    assert found == {
        "b-failed": WebhookStatus.failed,
        "c-later": WebhookStatus.pending,
        "d-crashed": WebhookStatus.unconfirmed,
    }
