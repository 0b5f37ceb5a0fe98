"""`gpuledger status` names every alert whose webhook post failed or may not have arrived."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from gpuledger.commands import status
from gpuledger.commands.context import Context
from gpuledger.report.health import store_health
from gpuledger.report.notify.deliver import Channels, deliver_alerts
from gpuledger.report.notify.webhook import WebhookRetry, WebhookSender
from gpuledger.store.delta import Store
from tests.notify.alert_factories import anomaly, settings
from tests.notify.webhook_server import Hook, Reply

NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)


def test_a_refused_post_is_listed_by_status(tmp_path: Path, hook: Hook, capsys: object) -> None:
    store = Store(tmp_path / "home")
    hook.replies.append(Reply(400))
    sender = WebhookSender(SecretStr(hook.url), WebhookRetry(sleep=lambda _: None))
    channels = Channels(mail=None, sender="gpuledger@example.com", webhook=sender)
    alert = anomaly()
    deliver_alerts(store.state, settings(), [alert], channels, clock=lambda: NOW)

    (post,) = store_health(store, settings()).undelivered_webhooks
    assert (post["alert_id"], post["status"], post["attempts"]) == (alert.id, "failed", 1)
    assert "HTTP 400" in post["error"]

    status.run(Context(home=str(store.home), config=None, _settings=settings()), format="table")
    printed = capsys.readouterr().out  # type: ignore[attr-defined]
    assert f"webhook failed alert {alert.id} after 1 attempt(s)" in printed
    assert hook.url not in printed
