"""Read model of the Alerts page: the month's alerts and budgets cut to the viewer, one series with its band, status changes.

Alerts come from :func:`gpuledger.report.notify.detected.month_alerts`, the same the scheduler
delivers and ``gpuledger alerts`` lists; budgets from the engine's budget states. What a viewer
receives is cut here, on the server: a team lead sees their teams' alerts and budgets only;
alerts without a team (a GPU model's series) are for finance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.alerts.band import expected_band
from gpuledger.engine.alerts.budget import BudgetState, budget_states
from gpuledger.engine.alerts.model import Alert
from gpuledger.engine.alerts.series import DETECTED, daily_series
from gpuledger.errors import UsageError
from gpuledger.report.notify import detected
from gpuledger.report.notify.delivery_state import AlertState, alert_states
from gpuledger.report.notify.status import ACKNOWLEDGED, DISMISSED, OPEN, set_status
from gpuledger.report.readmodel.access import Viewer
from gpuledger.schema import MONEY, Daily
from gpuledger.store.delta import Store
from gpuledger.store.state import StateDB

# What the app offers, and the status each sets.
ACTIONS = {"acknowledge": ACKNOWLEDGED, "dismiss": DISMISSED, "reopen": OPEN}
ANOMALOUS = "anomalous"  # chart column: the day belongs to an alert of this series
CHART_SCHEMA = pl.Schema(
    {
        Daily.day: pl.Date(),
        "actual": pl.Float64(),
        "expected": pl.Float64(),
        "lower": pl.Float64(),
        "upper": pl.Float64(),
        ANOMALOUS: pl.Boolean(),
    }
)
ALERT_SCHEMA = pl.Schema(
    {
        **dict.fromkeys(("id", "status", "team", "series", "when"), pl.String()),
        "impact": MONEY,
        **dict.fromkeys(("title", "lead_mail", "finance_mail", "webhook"), pl.String()),
    }
)
BUDGET_SCHEMA = pl.Schema(
    {
        "team": pl.String(),
        "state": pl.String(),
        "budget": MONEY,
        "month_to_date": MONEY,
        "share": pl.Float64(),
        "forecast": MONEY,
    }
)


@dataclass(frozen=True)
class MonthAlerts:
    """Every alert and budget state of a month, for every team: what the page caches."""

    period: str
    currency: str
    alerts: tuple[Alert, ...]
    budgets: tuple[BudgetState, ...]


@dataclass(frozen=True)
class AlertsView:
    """The viewer's part of a month: alerts with status and delivery, budget states."""

    period: str
    currency: str
    alerts: tuple[Alert, ...]
    states: dict[str, AlertState]
    budgets: tuple[BudgetState, ...]

    def by_id(self, alert_id: str) -> Alert | None:
        return next((a for a in self.alerts if a.id == alert_id), None)


def month_alerts(store: Store, settings: Settings, period: str) -> MonthAlerts:
    """The month's alerts (as the scheduler finds them) and every team's budget state."""
    return MonthAlerts(
        period=period,
        currency=settings.reporting.currency,
        alerts=tuple(detected.month_alerts(store, settings, period)),
        budgets=tuple(budget_states(store, settings, period)),
    )


def alerts_view(month: MonthAlerts, state: StateDB, viewer: Viewer) -> AlertsView:
    """The viewer's alerts with their current status and delivery, and their budgets."""
    mine = tuple(a for a in month.alerts if viewer.sees(a.team))
    return AlertsView(
        period=month.period,
        currency=month.currency,
        alerts=mine,
        states=alert_states(state, mine),
        budgets=tuple(b for b in month.budgets if viewer.sees(b.team)),
    )


def alert_frame(view: AlertsView, alerts: Sequence[Alert]) -> pl.DataFrame:
    """The page's list: one row per alert with its status and delivery on each channel."""
    rows = [
        {
            "id": a.id,
            "status": view.states[a.id].status,
            "team": a.team,
            "series": f"{a.dimension} {a.key}",
            "when": a.day.isoformat() if a.day else ("forecast" if a.forecast else "to date"),
            "impact": a.impact,
            "title": a.title,
            "lead_mail": view.states[a.id].lead_mail,
            "finance_mail": view.states[a.id].finance_mail,
            "webhook": view.states[a.id].webhook,
        }
        for a in alerts
    ]
    return pl.DataFrame(rows, schema=ALERT_SCHEMA)


def budget_frame(budgets: Sequence[BudgetState]) -> pl.DataFrame:
    """The page's budget table: one row per team, its state, budget, month to date, forecast."""
    rows = [
        {
            "team": b.team,
            "state": b.state,
            "budget": b.budget,
            "month_to_date": b.month_to_date,
            "share": b.share,
            "forecast": b.forecast,
        }
        for b in budgets
    ]
    return pl.DataFrame(rows, schema=BUDGET_SCHEMA)


def alert_days(alert: Alert) -> list[date]:
    """The days an anomaly covers (its day to its last day); none for a budget alert."""
    if alert.day is None:
        return []
    last = alert.last_day or alert.day
    return [alert.day + timedelta(days=n) for n in range((last - alert.day).days + 1)]


def series_chart(
    store: Store, settings: Settings, alert: Alert, alerts: Sequence[Alert]
) -> pl.DataFrame:
    """The alert's series over the month and its baseline days: spend, expected band, and
    the days any alert of the same series marks (:data:`CHART_SCHEMA`)."""
    same = [
        a
        for a in alerts
        if (a.dimension, a.key, a.team) == (alert.dimension, alert.key, alert.team)
    ]
    marked = sorted({day for a in same for day in alert_days(a)})
    series = daily_series(store, settings, alert.period).filter(
        (pl.col(Daily.dimension) == alert.dimension)
        & (pl.col(Daily.key) == alert.key)
        & pl.col(Daily.team).eq_missing(alert.team)
    )
    band = expected_band(series, settings).select(Daily.day, "expected", "lower", "upper")
    return (
        series.select(Daily.day, pl.col(DETECTED).cast(pl.Float64).alias("actual"))
        .join(band, on=Daily.day, how="left")
        .with_columns(pl.col(Daily.day).is_in(marked).alias(ANOMALOUS))
        .sort(Daily.day)
        .cast(CHART_SCHEMA)
    )


def change_status(
    state: StateDB, view: AlertsView, viewer: Viewer, alert_id: str, action: str
) -> str:
    """Acknowledge, dismiss or re-open one of the viewer's alerts; returns the new status."""
    status = ACTIONS.get(action)
    if status is None:
        raise UsageError(f"unknown action {action!r} (expected {', '.join(ACTIONS)})")
    alert = view.by_id(alert_id)
    if alert is None:
        raise UsageError(f"No alert {alert_id} in {view.period} among the alerts you may see.")
    if alert.team is None:
        viewer.require_finance("an alert without a team")
    else:
        viewer.require_team(alert.team)
    set_status(state, alert, status)
    return status
