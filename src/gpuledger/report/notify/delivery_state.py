"""Where each alert stands: its status and what its send logs say, as `gpuledger alerts` and the app show it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gpuledger.engine.alerts.model import Alert
from gpuledger.report.email.digest import FINANCE
from gpuledger.report.email.log import send_records
from gpuledger.report.notify.deliver import ALERT
from gpuledger.report.notify.status import OPEN, statuses
from gpuledger.report.notify.webhook_log import webhook_records
from gpuledger.store.state import StateDB

NOT_SENT = "not sent"


@dataclass(frozen=True)
class AlertState:
    """One alert's status and delivery: e-mail to the lead and finance, and the webhook."""

    status: str  # open | acknowledged | dismissed
    lead_mail: str  # a send-log status (sent, pending, sending, failed) or "not sent"
    finance_mail: str
    webhook: str  # sent, pending, sending, failed, unconfirmed, or "not sent"
    detail: str  # the last error of any channel, for the one reading why


def alert_states(state: StateDB, alerts: Sequence[Alert]) -> dict[str, AlertState]:
    """Status and delivery of each of ``alerts``, by id (an alert never seen is open, unsent)."""
    known = statuses(state)
    mails = {(r.key.team, r.key.period): r for r in send_records(state) if r.key.kind == ALERT}
    hooks = webhook_records(state)
    result = {}
    for alert in alerts:
        lead = mails.get((alert.team or "", alert.id))
        finance = mails.get((FINANCE, alert.id))
        hook = hooks.get(alert.id)
        errors = [r.last_error for r in (lead, finance, hook) if r is not None and r.last_error]
        result[alert.id] = AlertState(
            status=known[alert.id].status if alert.id in known else OPEN,
            lead_mail=lead.status.value if lead else NOT_SENT,
            finance_mail=finance.status.value if finance else NOT_SENT,
            webhook=hook.status.value if hook else NOT_SENT,
            detail="; ".join(errors),
        )
    return result
