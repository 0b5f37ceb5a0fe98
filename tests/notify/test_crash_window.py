"""A process killed between the chat's 200 and the send-log record: never a second POST.

One real crash per module (a subprocess that dies with ``os._exit`` where ``mark_sent`` would
commit); each test restarts from a copy of the state it left behind.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from gpuledger.report.notify.deliver import Channels, deliver_alerts
from gpuledger.report.notify.webhook import WebhookRetry, WebhookSender
from gpuledger.report.notify.webhook_log import (
    DEFAULT_LEASE,
    WebhookRecord,
    WebhookStatus,
    webhook_records,
)
from gpuledger.store.state import StateDB
from tests.conftest import REPO
from tests.notify.alert_factories import anomaly, settings
from tests.notify.crash_post import CRASH_STATUS
from tests.notify.webhook_server import Hook, webhook_server

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Crashed:
    state: Path
    posted: int  # POSTs the chat received before the process died
    record: WebhookRecord  # the row as the crash left it


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Crashed:
    path = tmp_path_factory.mktemp("crashed") / "state.sqlite"
    StateDB(path)
    with webhook_server() as hook:
        result = subprocess.run(
            [sys.executable, "-m", "tests.notify.crash_post", str(path), hook.url],
            cwd=REPO,
            capture_output=True,
            timeout=180,
            check=False,
        )
        posted = len(hook.received)
    assert result.returncode == CRASH_STATUS, result.stderr.decode()
    (record,) = webhook_records(StateDB(path)).values()
    return Crashed(path, posted, record)


@pytest.fixture
def restarted(crashed: Crashed, tmp_path: Path) -> StateDB:
    """The state as the crashed process left it, for one test to restart from."""
    shutil.copy(crashed.state, tmp_path / "state.sqlite")
    return StateDB(tmp_path / "state.sqlite")


def rerun(crashed: Crashed, state: StateDB, hook: Hook, after: timedelta) -> list[str]:
    """Run delivery again, ``after`` the crashed process claimed the alert."""
    claimed = datetime.fromisoformat(crashed.record.updated_at).astimezone(UTC)
    sender = WebhookSender(SecretStr(hook.url), WebhookRetry(sleep=lambda _: None))
    channels = Channels(mail=None, sender="gpuledger@example.com", webhook=sender)
    outcomes = deliver_alerts(
        state, settings(), [anomaly()], channels, clock=lambda: claimed + after
    )
    return [o.result for o in outcomes]


def status(state: StateDB) -> WebhookStatus:
    return webhook_records(state)[anomaly().id].status


def test_crash_leaves_the_row_claimed_and_the_message_posted(crashed: Crashed) -> None:
    assert crashed.posted == 1
    assert (crashed.record.status, crashed.record.attempts) == (WebhookStatus.sending, 1)


def test_restart_never_posts_a_second_time(
    crashed: Crashed, restarted: StateDB, hook: Hook
) -> None:
    assert rerun(crashed, restarted, hook, timedelta(minutes=1)) == ["skipped"]
    assert status(restarted) is WebhookStatus.sending  # the lease may still be live
    expired = DEFAULT_LEASE + timedelta(seconds=1)
    assert rerun(crashed, restarted, hook, expired) == ["skipped"]
    assert status(restarted) is WebhookStatus.unconfirmed
    assert rerun(crashed, restarted, hook, expired + DEFAULT_LEASE) == ["skipped"]
    assert hook.requests == []
    record = webhook_records(restarted)[anomaly().id]
    assert record.last_error is not None
    assert "may have posted it" in record.last_error
