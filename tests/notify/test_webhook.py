"""Webhook delivery against a real HTTP server: retries, permanent refusals, no answer, no secret shown."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from gpuledger.report.notify.deliver import Channels, deliver_alerts
from gpuledger.report.notify.webhook import WebhookRetry, WebhookSender
from gpuledger.report.notify.webhook_log import WebhookStatus, webhook_records
from gpuledger.store.state import StateDB
from tests.notify.alert_factories import anomaly, budget, settings
from tests.notify.webhook_server import SECRET_PATH, Hook, Reply

NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)


def sender(hook: Hook, waits: list[float], **retry: float) -> WebhookSender:
    policy = WebhookRetry(sleep=waits.append, **retry)  # type: ignore[arg-type]
    return WebhookSender(SecretStr(hook.url), policy)


def post(state: StateDB, hook: Hook, waits: list[float], **retry: float) -> list[str]:
    channels = Channels(
        mail=None, sender="gpuledger@example.com", webhook=sender(hook, waits, **retry)
    )
    outcomes = deliver_alerts(state, settings(), [anomaly()], channels, clock=lambda: NOW)
    return [outcome.result for outcome in outcomes]


def test_two_server_errors_then_success_post_one_message(state: StateDB, hook: Hook) -> None:
    hook.replies.extend([Reply(500), Reply(503)])
    waits: list[float] = []
    assert post(state, hook, waits) == ["sent"]
    assert [status for _, _, status in hook.requests] == [500, 503, 200]
    assert len(hook.received) == 1
    assert waits == [2.0, 4.0]  # exponential backoff between the attempts
    (record,) = webhook_records(state).values()
    assert (record.status, record.attempts) == (WebhookStatus.sent, 1)


def test_rate_limit_waits_what_the_server_asks(state: StateDB, hook: Hook) -> None:
    hook.replies.append(Reply(429, headers=(("Retry-After", "30"),)))
    waits: list[float] = []
    assert post(state, hook, waits) == ["sent"]
    assert waits == [30.0]


def test_client_error_is_permanent_and_not_retried(state: StateDB, hook: Hook) -> None:
    hook.replies.append(Reply(400))
    waits: list[float] = []
    assert post(state, hook, waits) == ["failed"]
    assert len(hook.requests) == 1
    assert waits == []
    (record,) = webhook_records(state).values()
    assert record.status is WebhookStatus.failed
    assert record.last_error == "webhook http://127.0.0.1/… answered HTTP 400"
    assert post(state, hook, waits) == ["skipped"]  # a failed alert is not posted again
    assert len(hook.requests) == 1


def test_errors_outlasting_the_retries_leave_it_for_the_next_run(
    state: StateDB, hook: Hook
) -> None:
    hook.replies.extend([Reply(502)] * 4)
    waits: list[float] = []
    assert post(state, hook, waits) == ["retry-later"]
    assert webhook_records(state)[anomaly().id].status is WebhookStatus.pending
    assert post(state, hook, waits) == ["sent"]
    assert len(hook.requests) == 5
    assert len(hook.received) == 1
    assert webhook_records(state)[anomaly().id].attempts == 2


def test_a_chat_that_stays_down_is_not_tried_for_every_alert(state: StateDB, hook: Hook) -> None:
    hook.replies.extend([Reply(503)] * 4)
    waits: list[float] = []
    channels = Channels(mail=None, sender="gpuledger@example.com", webhook=sender(hook, waits))
    outcomes = deliver_alerts(state, settings(), [anomaly(), budget()], channels)
    assert [(o.alert_id, o.result) for o in outcomes] == [
        (anomaly().id, "retry-later"),
        (budget().id, "retry-later"),
    ]
    assert outcomes[1].detail.startswith("not tried after: webhook http://127.0.0.1/… answered")
    assert len(hook.requests) == 4  # the first alert's attempts only
    assert set(webhook_records(state)) == {anomaly().id}  # the second one was never claimed
    assert [
        o.result for o in deliver_alerts(state, settings(), [anomaly(), budget()], channels)
    ] == [
        "sent",
        "sent",
    ]


def test_no_answer_is_unconfirmed_and_never_posted_again(state: StateDB, hook: Hook) -> None:
    hook.replies.append(Reply(200, delay=2.0))
    waits: list[float] = []
    assert post(state, hook, waits, timeout=0.3) == ["unconfirmed"]
    assert post(state, hook, waits, timeout=0.3) == ["skipped"]
    assert len(hook.requests) == 1
    assert waits == []
    assert webhook_records(state)[anomaly().id].status is WebhookStatus.unconfirmed


def test_refused_connection_is_retried_then_left_pending(state: StateDB) -> None:
    dead = Hook(port=1)  # nothing listens on port 1
    waits: list[float] = []
    assert post(state, dead, waits, attempts=2) == ["retry-later"]
    assert waits == [2.0]
    assert webhook_records(state)[anomaly().id].status is WebhookStatus.pending


def test_each_alert_is_posted_once_across_runs(state: StateDB, hook: Hook) -> None:
    alerts = [anomaly(), budget(), budget(threshold=1.0)]
    channels = Channels(mail=None, sender="gpuledger@example.com", webhook=sender(hook, []))
    first = deliver_alerts(state, settings(), alerts, channels, clock=lambda: NOW)
    again = deliver_alerts(state, settings(), alerts, channels, clock=lambda: NOW)
    assert [o.result for o in first] == ["sent"] * 3
    assert [o.result for o in again] == ["skipped"] * 3
    assert len(hook.received) == 3


def test_the_url_is_never_logged_printed_or_stored(
    state: StateDB,
    hook: Hook,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    hook.replies.extend([Reply(500), Reply(404)])
    outcomes = deliver_alerts(
        state,
        settings(),
        [anomaly()],
        Channels(mail=None, sender="gpuledger@example.com", webhook=sender(hook, [])),
        clock=lambda: NOW,
    )
    shown = caplog.text + "".join(capsys.readouterr()) + repr(outcomes)
    shown += repr(webhook_records(state))
    assert "POST" in caplog.text  # httpx did log its requests, redacted
    assert "SeCrEtToKeN42" not in shown
    assert SECRET_PATH not in shown
