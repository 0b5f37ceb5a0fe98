"""`gpuledger alerts --period YYYY-MM [--send] [--dry-run]`: the month's alerts, their status and delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuledger.commands.anomalies import alert_json
from gpuledger.commands.context import Context
from gpuledger.commands.email import default_outbox
from gpuledger.commands.output import emit, terminal
from gpuledger.commands.period_choice import chosen_period, require_billing_data
from gpuledger.engine.alerts.model import Alert
from gpuledger.errors import DeliveryError, UsageError
from gpuledger.report.export.json_rule import json_bytes
from gpuledger.report.export.tabular import Column, Tabular
from gpuledger.report.export.terminal import terminal_table
from gpuledger.report.notify import detected
from gpuledger.report.notify.deliver import (
    AlertOutcome,
    configured_channels,
    deliver_alerts,
    write_alert_outbox,
)
from gpuledger.report.notify.delivery_state import AlertState, alert_states
from gpuledger.report.notify.status import ACKNOWLEDGED, DISMISSED, set_status
from gpuledger.store.delta import Store

COLUMNS = (
    Column("id", "id"),
    Column("kind", "kind"),
    Column("status", "status"),
    Column("team", "team", drop=3),
    Column("series", "series", drop=4),
    Column("when", "day", drop=2),
    Column("impact", "impact", "money"),
    Column("lead_mail", "lead", drop=5),
    Column("finance_mail", "finance", drop=5),
    Column("webhook", "webhook", drop=5),
    Column("title", "what", drop=1, wrap=True),
)
OUTCOME_COLUMNS = (
    Column("alert_id", "alert"),
    Column("channel", "channel"),
    Column("result", "result"),
    Column("detail", "detail", drop=1, wrap=True),
)
NOT_DELIVERED = ("failed", "retry-later", "unconfirmed")


def run(
    ctx: Context,
    *,
    period: str | None,
    send: bool = False,
    dry_run: bool = False,
    outbox: Path | None = None,
    format: str = "table",
    acknowledge: str | None = None,
    dismiss: str | None = None,
    reason: str | None = None,
) -> None:
    if dry_run and not send:
        raise UsageError("--dry-run goes with --send: it writes what --send would deliver")
    if outbox is not None and not dry_run:
        raise UsageError("--outbox only goes with --dry-run")
    if acknowledge and dismiss:
        raise UsageError("give one of --acknowledge, --dismiss at a time")
    store, settings = ctx.read_store, ctx.settings
    period = chosen_period(store, period)
    require_billing_data(store, period)
    alerts = detected.month_alerts(store, settings, period)
    if acknowledge or dismiss:
        _change_status(store, alerts, acknowledge, dismiss, reason)
    if send:
        _send(ctx, store, alerts, dry_run, outbox)
    states = alert_states(store.state, alerts)
    if format == "json":
        emit(json_bytes(as_json(alerts, states, period, settings.reporting.currency)), None)
        return
    if format != "table":
        raise UsageError(f"--format {format}: expected table or json")
    rows = [_row(alert, states[alert.id]) for alert in alerts]
    table = Tabular(f"Alerts {period}", COLUMNS, rows, settings.reporting.currency)
    console = terminal()
    console.print(terminal_table(table, console.width))
    if not alerts:
        console.print(f"no anomalies and no budget thresholds crossed in {period}")


def _change_status(
    store: Store,
    alerts: list[Alert],
    acknowledge: str | None,
    dismiss: str | None,
    reason: str | None,
) -> None:
    wanted = acknowledge or dismiss
    by_id = {alert.id: alert for alert in alerts}
    if wanted not in by_id:
        raise UsageError(f"no alert {wanted!r} in this month; `gpuledger alerts` lists them")
    set_status(store.state, by_id[wanted], ACKNOWLEDGED if acknowledge else DISMISSED, reason)


def _send(ctx: Context, store: Store, alerts: list[Alert], dry_run: bool, out: Path | None) -> None:
    settings = ctx.settings
    if dry_run:
        folder = out or default_outbox(store.home)
        outcomes = write_alert_outbox(store.state, settings, alerts, folder)
    else:
        outcomes = deliver_alerts(store.state, settings, alerts, configured_channels(settings))
    _print_outcomes(outcomes, settings.reporting.currency)
    failed = [o for o in outcomes if o.result in NOT_DELIVERED]
    if failed:
        raise DeliveryError(f"{len(failed)} of {len(outcomes)} alert message(s) not delivered")


def _print_outcomes(outcomes: list[AlertOutcome], currency: str) -> None:
    rows = [o.__dict__ for o in outcomes]
    console = terminal()
    console.print(
        terminal_table(Tabular("Delivery", OUTCOME_COLUMNS, rows, currency), console.width)
    )


def _series(alert: Alert) -> str:
    return f"{alert.dimension} {alert.key}"


def _when(alert: Alert) -> str:
    if alert.day is None:
        return "forecast" if alert.forecast else "to date"
    return alert.day.isoformat()


def _row(alert: Alert, state: AlertState) -> dict[str, object]:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "status": state.status,
        "team": alert.team,
        "series": _series(alert),
        "when": _when(alert),
        "impact": alert.impact,
        "lead_mail": state.lead_mail,
        "finance_mail": state.finance_mail,
        "webhook": state.webhook,
        "title": alert.title,
    }


def as_json(
    alerts: list[Alert], states: dict[str, AlertState], period: str, currency: str
) -> dict[str, Any]:
    """``{"period", "currency", "alerts": [...]}``: every alert with its status and delivery."""
    return {
        "period": period,
        "currency": currency,
        "alerts": [_json_alert(alert, states[alert.id], currency) for alert in alerts],
    }


def _json_alert(alert: Alert, state: AlertState, currency: str) -> dict[str, Any]:
    """The alert as `gpuledger anomalies` writes it, with its status and delivery."""
    return {
        **alert_json(alert, currency),
        "status": state.status,
        "threshold": alert.threshold,
        "forecast": alert.forecast,
        "delivery": {
            "lead_mail": state.lead_mail,
            "finance_mail": state.finance_mail,
            "webhook": state.webhook,
            "detail": state.detail or None,
        },
    }
