"""One alert as words: the facts every channel shows, and the e-mail rendered from them.

The e-mail follows the rules of :mod:`gpuledger.report.email.message`: the subject is fixed text
plus a period or a day gpuledger formats itself, never data (team, model or instance names), and
the HTML part is autoescaped. Its layout is the e-mail package's ``_layout.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from gpuledger.config import Settings
from gpuledger.engine.alerts.model import Alert, Driver
from gpuledger.report.email.digest import app_link
from gpuledger.report.email.message import (
    Rendered,
    checked_label,
    template_environment,
)

ALERTS_PAGE = "alerts"
MAX_DRIVERS = 5  # the largest ones; the app shows every driver
_DIMENSIONS = {"team": "team", "model": "model", "gpu": "GPU model", "instance": "instance"}


@dataclass(frozen=True)
class AlertFacts:
    """What a message says about one alert, in the reporting currency."""

    id: str
    kind: str
    period: str
    day: date | None
    heading: str  # "GPU spend anomaly" | "GPU budget alert"
    scope: str  # "team nlp" | "model llama-70b (team nlp)"
    when: str  # "2026-10-14", "2026-10-14 to 2026-10-16", "2026-10, month to date"
    title: str
    explanation: str
    expected_label: str
    expected: Decimal
    actual_label: str
    actual: Decimal
    impact_label: str
    impact: Decimal
    drivers: tuple[Driver, ...]
    currency: str
    app_url: str


def alert_link(settings: Settings, alert: Alert) -> str:
    """The app's view of this alert: the alerts page of its month, opened on it."""
    return app_link(settings, ALERTS_PAGE, period=alert.period, id=alert.id)


def alert_facts(alert: Alert, settings: Settings) -> AlertFacts:
    anomaly = alert.kind == "anomaly"
    drivers = tuple(sorted(alert.drivers, key=lambda d: d.cost, reverse=True)[:MAX_DRIVERS])
    return AlertFacts(
        id=alert.id,
        kind=alert.kind,
        period=checked_label(alert.period),
        day=alert.day,
        heading="GPU spend anomaly" if anomaly else "GPU budget alert",
        scope=_scope(alert),
        when=_when(alert),
        title=alert.title,
        explanation=alert.explanation,
        expected_label="Expected" if anomaly else "Budget",
        expected=alert.expected,
        actual_label="Actual" if anomaly else "Forecast" if alert.forecast else "To date",
        actual=alert.actual,
        impact_label="Above" if anomaly else "Over",
        impact=alert.impact,
        drivers=drivers,
        currency=settings.reporting.currency,
        app_url=alert_link(settings, alert),
    )


def _when(alert: Alert) -> str:
    """The anomalous day (or days), or the month for a budget alert."""
    if alert.kind != "anomaly" or alert.day is None:
        return f"{alert.period}, {'forecast' if alert.forecast else 'month to date'}"
    if alert.last_day is not None and alert.last_day != alert.day:
        return f"{alert.day.isoformat()} to {alert.last_day.isoformat()}"
    return alert.day.isoformat()


def _scope(alert: Alert) -> str:
    scope = f"{_DIMENSIONS.get(alert.dimension, alert.dimension)} {alert.key}"
    if alert.team and not (alert.dimension == "team" and alert.key == alert.team):
        scope += f" (team {alert.team})"
    return scope


def subject(facts: AlertFacts) -> str:
    """Fixed text and a date gpuledger formats: nothing from the data reaches a header."""
    if facts.day is not None and facts.kind == "anomaly":
        return f"{facts.heading} on {facts.day.isoformat()}"
    return f"{facts.heading}, {facts.period}"


_ENV = template_environment("gpuledger.report.notify")


def email_content(facts: AlertFacts) -> Rendered:
    """The alert's e-mail: the same content for the team lead and for finance."""
    context = {"a": facts}
    return Rendered(
        subject=subject(facts),
        text=_ENV.get_template("alert.txt").render(context),
        html=_ENV.get_template("alert.html").render(context),
    )
