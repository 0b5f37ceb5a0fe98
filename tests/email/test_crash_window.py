"""A process killed between the server's 250 and the send-log record: at-least-once, same bytes.

One real crash per module (a subprocess that dies with ``os._exit`` where ``mark_sent`` would
commit); each test restarts from a copy of the ledger home it left behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gpuledger.report.email.delivery import RetryPolicy, SmtpTransport
from gpuledger.report.email.dispatch import deliver
from gpuledger.report.email.log import DEFAULT_LEASE, SendRecord, SlotStatus, send_records
from gpuledger.store.delta import Store
from tests.conftest import REPO
from tests.email.crash_send import CRASH_STATUS
from tests.email.email_factories import savings
from tests.email.smtp_testserver import SmtpServer, start_server

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Crashed:
    home: Path
    delivered: list[bytes]  # what the server accepted before the process died
    record: SendRecord  # the slot as the crash left it


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Crashed:
    home = tmp_path_factory.mktemp("crashed") / "home"
    Store(home)
    controller, server = start_server()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "tests.email.crash_send", str(home), str(server.port)],
            cwd=REPO,
            capture_output=True,
            timeout=180,
            check=False,
        )
    finally:
        controller.stop()
    assert result.returncode == CRASH_STATUS, result.stderr.decode()
    (record,) = send_records(Store(home).state)
    return Crashed(home, [r.content for r in server.handler.received], record)


@pytest.fixture
def restarted(crashed: Crashed, tmp_path: Path) -> Store:
    """The ledger home as the crashed process left it, for one test to restart from."""
    shutil.copytree(crashed.home, tmp_path / "home")
    return Store(tmp_path / "home")


def rerun(store: Store, server: SmtpServer, now: datetime) -> list[str]:
    transport = SmtpTransport(server.config, RetryPolicy(attempts=1))
    item = savings("nlp", "lead-nlp@example.com", spend=99)  # the data changed meanwhile
    outcomes = deliver(store.state, [item], transport, server.config.sender, clock=lambda: now)
    return [o.result for o in outcomes]


def test_crash_leaves_the_slot_claimed_and_the_message_delivered(crashed: Crashed) -> None:
    assert len(crashed.delivered) == 1
    assert crashed.record.status is SlotStatus.sending
    assert crashed.record.attempts == 1


@pytest.mark.parametrize(
    ("after", "results", "status"),
    [
        (timedelta(minutes=1), ["skipped"], SlotStatus.sending),
        (DEFAULT_LEASE - timedelta(seconds=5), ["skipped"], SlotStatus.sending),
        (DEFAULT_LEASE + timedelta(seconds=5), ["resent"], SlotStatus.sent),
    ],
    ids=["restart-within-lease", "just-before-lease-ends", "after-lease-expired"],
)
def test_restart_after_crash_redelivers_the_stored_bytes_once_the_lease_expires(
    crashed: Crashed,
    restarted: Store,
    smtp_server: SmtpServer,
    after: timedelta,
    results: list[str],
    status: SlotStatus,
) -> None:
    claimed_at = datetime.fromisoformat(crashed.record.updated_at)

    assert rerun(restarted, smtp_server, claimed_at + after) == results
    assert rerun(restarted, smtp_server, claimed_at + after + timedelta(seconds=1)) == ["skipped"]

    redelivered = [r.content for r in smtp_server.handler.received]
    assert redelivered == (crashed.delivered if results == ["resent"] else [])  # same bytes
    (record,) = send_records(restarted.state)
    assert record.status is status
    assert record.content_hash == crashed.record.content_hash


def test_after_the_crash_is_recovered_no_run_sends_again(
    crashed: Crashed, restarted: Store, smtp_server: SmtpServer
) -> None:
    later = datetime.fromisoformat(crashed.record.updated_at) + DEFAULT_LEASE + timedelta(minutes=1)

    results = [rerun(restarted, smtp_server, later + timedelta(days=d)) for d in (0, 1, 7)]

    assert results == [["resent"], ["skipped"], ["skipped"]]
    assert len(smtp_server.handler.received) == 1
