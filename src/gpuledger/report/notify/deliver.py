"""Alerts to people, exactly once per alert and channel: e-mail to the team lead and finance, and the webhook.

For each alert that is not dismissed:

- **e-mail** to the lead of its team (``[teams.X] lead``) and to finance (``[email] finance``),
  each through the e-mail send log (:mod:`gpuledger.report.email.dispatch`) in the slot
  (team or ``(finance)``, ``alert``, alert id): a slot is delivered once, ever, whatever the data
  says on later runs. In the crash window between the server's acceptance and the record, the
  e-mail protocol re-delivers the stored bytes with the same Message-ID, which mail clients fold;
- **webhook** (``[alerts] webhook_url_env``) through :class:`~gpuledger.report.notify.webhook_log.WebhookLog`:
  a chat message has no Message-ID to fold by, so there the crash window is closed the other way,
  at most once, and a post that may or may not have arrived is recorded as ``unconfirmed``.

An alert's id is stable across runs, so every run may hand over every alert of the month: the
ones already delivered are skipped by the logs, and only new ones go out.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gpuledger.config import Settings
from gpuledger.engine.alerts.model import Alert
from gpuledger.errors import DeliveryError
from gpuledger.report.email.delivery import SmtpTransport, Transport
from gpuledger.report.email.digest import FINANCE
from gpuledger.report.email.dispatch import Clock, Outgoing, deliver, utc_now, write_outbox
from gpuledger.report.email.log import SlotKey
from gpuledger.report.notify.message import alert_facts, email_content
from gpuledger.report.notify.payload import body_hash, webhook_body
from gpuledger.report.notify.status import DISMISSED, observe, statuses
from gpuledger.report.notify.webhook import UnconfirmedError, WebhookSender
from gpuledger.report.notify.webhook_log import WebhookClaim, WebhookLog
from gpuledger.store.state import StateDB

ALERT = "alert"  # the e-mail send log's kind for alert messages
LEAD_CHANNEL = "e-mail lead"
FINANCE_CHANNEL = "e-mail finance"
WEBHOOK_CHANNEL = "webhook"


@dataclass(frozen=True)
class Channels:
    """Where alerts go: an SMTP transport (or none) and a webhook sender (or none)."""

    mail: Transport | None
    sender: str
    webhook: WebhookSender | None


@dataclass(frozen=True)
class AlertOutcome:
    alert_id: str
    channel: str  # e-mail lead | e-mail finance | webhook | all
    # sent | resent | skipped | dismissed | failed | retry-later | unconfirmed | written
    result: str
    detail: str = ""


def configured_channels(settings: Settings) -> Channels:
    """SMTP from ``[smtp]``; the webhook when its environment variable holds a URL."""
    url = settings.alerts.webhook_url
    return Channels(
        mail=SmtpTransport(settings.smtp),
        sender=settings.smtp.sender,
        webhook=WebhookSender(url) if url is not None else None,
    )


def summary(outcomes: Sequence[AlertOutcome]) -> str:
    """``2 sent, 4 skipped`` — for logs and scheduler run records."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    return ", ".join(f"{n} {result}" for result, n in sorted(counts.items())) or "nothing to send"


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def alert_mail(settings: Settings, alerts: Sequence[Alert]) -> list[Outgoing]:
    """One message per alert to its team's lead, and one to finance when configured."""
    finance = tuple(settings.email.finance)
    items = []
    for alert in alerts:
        content = email_content(alert_facts(alert, settings))
        team = settings.teams.get(alert.team) if alert.team else None
        if alert.team and team and team.lead:
            items.append(Outgoing(SlotKey(alert.team, ALERT, alert.id), (team.lead,), content))
        if finance:
            items.append(Outgoing(SlotKey(FINANCE, ALERT, alert.id), finance, content))
    return items


def deliverable(state: StateDB, alerts: Sequence[Alert]) -> tuple[list[Alert], list[Alert]]:
    """Record the alerts (new ones as open); return (to deliver, dismissed)."""
    observe(state, alerts)
    known = statuses(state)
    dismissed = [a for a in alerts if known[a.id].status == DISMISSED]
    return [a for a in alerts if known[a.id].status != DISMISSED], dismissed


def deliver_alerts(
    state: StateDB,
    settings: Settings,
    alerts: Sequence[Alert],
    channels: Channels,
    *,
    clock: Clock = utc_now,
) -> list[AlertOutcome]:
    """Deliver every alert not dismissed on every channel it has not been delivered on yet."""
    chosen, dismissed = deliverable(state, alerts)
    outcomes = [AlertOutcome(a.id, "all", "dismissed", "not sent: dismissed") for a in dismissed]
    if channels.mail is not None:
        mail = alert_mail(settings, chosen)
        for sent in deliver(state, mail, channels.mail, channels.sender, clock=clock):
            outcomes.append(
                AlertOutcome(sent.key.period, _mail_channel(sent.key), sent.result, sent.detail)
            )
    if channels.webhook is not None:
        outcomes += post_all(state, settings, chosen, channels.webhook, clock)
    return outcomes


def post_all(
    state: StateDB, settings: Settings, alerts: Sequence[Alert], sender: WebhookSender, clock: Clock
) -> list[AlertOutcome]:
    """Each alert to the webhook once. Once a post has used up its retries on a transient
    failure, the rest are left for the next run untried: the chat is down or limiting us, and
    waiting out every alert's retries would only hold up the run."""
    log = WebhookLog(state, holder=holder())
    outcomes: list[AlertOutcome] = []
    down: str | None = None
    for alert in alerts:
        if down is not None:
            outcomes.append(AlertOutcome(alert.id, WEBHOOK_CHANNEL, "retry-later", down))
            continue
        body = webhook_body(alert_facts(alert, settings))
        outcome = post_once(log, sender, alert.id, body, clock)
        if outcome.result == "retry-later":
            down = f"not tried after: {outcome.detail}"
        outcomes.append(outcome)
    return outcomes


def _mail_channel(key: SlotKey) -> str:
    return FINANCE_CHANNEL if key.team == FINANCE else LEAD_CHANNEL


def post_once(
    log: WebhookLog, sender: WebhookSender, alert_id: str, body: bytes, clock: Clock
) -> AlertOutcome:
    """Claim the alert's webhook row, POST, record the outcome (protocol in webhook_log)."""
    claim = log.claim(alert_id, body_hash(body), clock())
    if not claim.granted:
        return AlertOutcome(alert_id, WEBHOOK_CHANNEL, "skipped", claim.reason)
    try:
        sender.post(body)
    except UnconfirmedError as exc:
        log.mark_unconfirmed(claim, clock(), str(exc))
        return AlertOutcome(alert_id, WEBHOOK_CHANNEL, "unconfirmed", str(exc))
    except DeliveryError as exc:
        return _record_failure(log, claim, exc, clock())
    log.mark_sent(claim, clock())
    return AlertOutcome(alert_id, WEBHOOK_CHANNEL, "sent", sender.where)


def _record_failure(
    log: WebhookLog, claim: WebhookClaim, exc: DeliveryError, now: datetime
) -> AlertOutcome:
    if exc.transient:
        log.mark_pending(claim, now, str(exc))
        return AlertOutcome(claim.alert_id, WEBHOOK_CHANNEL, "retry-later", str(exc))
    log.mark_failed(claim, now, str(exc))
    return AlertOutcome(claim.alert_id, WEBHOOK_CHANNEL, "failed", str(exc))


def write_alert_outbox(
    state: StateDB, settings: Settings, alerts: Sequence[Alert], folder: Path
) -> list[AlertOutcome]:
    """--dry-run: what a send would deliver, as ``.eml`` files and (with a webhook configured)
    the webhook bodies as ``.json``; no send log is touched."""
    known = statuses(state)
    chosen = [a for a in alerts if a.id not in known or known[a.id].status != DISMISSED]
    outcomes = [
        AlertOutcome(item.key.period, _mail_channel(item.key), item.result, item.detail)
        for item in write_outbox(alert_mail(settings, chosen), folder, settings.smtp.sender)
    ]
    if settings.alerts.webhook_url is None:
        return outcomes
    folder.mkdir(parents=True, exist_ok=True)
    for alert in chosen:
        path = folder / f"{_file_safe(alert.id)}-{ALERT}-{WEBHOOK_CHANNEL}.json"
        body = json.loads(webhook_body(alert_facts(alert, settings)))
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        outcomes.append(AlertOutcome(alert.id, WEBHOOK_CHANNEL, "written", str(path)))
    return outcomes


def _file_safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
