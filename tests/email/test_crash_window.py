"""A process killed between the server's 250 and the send-log record: at-least-once, same bytes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from gpuledger.report.email import deliver
from gpuledger.report.email_delivery import RetryPolicy, SmtpTransport
from gpuledger.report.email_log import DEFAULT_LEASE, SlotStatus, send_records
from gpuledger.store import Store
from tests.conftest import REPO
from tests.email.crash_send import CRASH_STATUS
from tests.email.email_factories import savings
from tests.email.smtp_testserver import SmtpServer

pytestmark = pytest.mark.slow


def crash_after_send(store: Store, server: SmtpServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.email.crash_send", store.home, str(server.port)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == CRASH_STATUS, result.stderr.decode()


def rerun(store: Store, server: SmtpServer, now: datetime) -> list[str]:
    transport = SmtpTransport(server.config, RetryPolicy(attempts=1))
    item = savings("nlp", "lead-nlp@example.com", spend=99)  # the data changed meanwhile
    outcomes = deliver(store.state, [item], transport, server.config.sender, clock=lambda: now)
    return [o.result for o in outcomes]


def test_crash_leaves_the_slot_claimed_and_the_message_delivered(
    store: Store, smtp_server: SmtpServer
) -> None:
    crash_after_send(store, smtp_server)

    assert len(smtp_server.handler.received) == 1
    (record,) = send_records(store.state)
    assert record.status is SlotStatus.sending


@pytest.mark.parametrize(
    ("after", "results", "deliveries"),
    [
        (timedelta(minutes=1), ["skipped"], 1),
        (DEFAULT_LEASE - timedelta(seconds=5), ["skipped"], 1),
        (DEFAULT_LEASE + timedelta(seconds=5), ["resent"], 2),
    ],
    ids=["restart-within-lease", "just-before-lease-ends", "after-lease-expired"],
)
def test_restart_after_crash_redelivers_the_stored_bytes_once_the_lease_expires(
    store: Store, smtp_server: SmtpServer, after: timedelta, results: list[str], deliveries: int
) -> None:
    crash_after_send(store, smtp_server)
    (crashed,) = send_records(store.state)
    claimed_at = datetime.fromisoformat(crashed.updated_at)

    assert rerun(store, smtp_server, claimed_at + after) == results
    assert rerun(store, smtp_server, claimed_at + after + timedelta(seconds=1)) == ["skipped"]

    received = smtp_server.handler.received
    assert len(received) == deliveries
    assert all(r.content == received[0].content for r in received)  # same bytes, same Message-ID
    (record,) = send_records(store.state)
    expected = SlotStatus.sent if deliveries == 2 else SlotStatus.sending
    assert record.status is expected
    assert record.content_hash == crashed.content_hash


def test_after_the_crash_is_recovered_no_run_sends_again(
    store: Store, smtp_server: SmtpServer
) -> None:
    crash_after_send(store, smtp_server)
    later = datetime.now(UTC) + DEFAULT_LEASE + timedelta(minutes=1)
    rerun(store, smtp_server, later)

    assert [rerun(store, smtp_server, later + timedelta(days=d)) for d in (1, 7)] == [
        ["skipped"],
        ["skipped"],
    ]
    assert len(smtp_server.handler.received) == 2
