"""Alerts built by hand for the delivery tests, and the settings that address them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gpuledger.config import AppConfig, EmailConfig, Settings, TeamConfig
from gpuledger.engine.alerts.model import Alert, Driver, alert_id

NLP_LEAD = "lead-nlp@example.com"
CFO = "cfo@example.com"
APP_URL = "https://gpuledger.example.com"


def settings(*, finance: bool = True) -> Settings:
    return Settings(
        teams={"nlp": TeamConfig(lead=NLP_LEAD), "vision": TeamConfig()},
        email=EmailConfig(finance=[CFO] if finance else []),
        app=AppConfig(base_url=APP_URL),
    )


def anomaly(team: str = "nlp", day: int = 14, model: str = "llama-70b") -> Alert:
    return Alert(
        id=alert_id("anomaly", "2026-10", "model", model, team, date(2026, 10, day)),
        kind="anomaly",
        period="2026-10",
        team=team,
        dimension="model",
        key=model,
        day=date(2026, 10, day),
        expected=Decimal("410.00"),
        actual=Decimal("2930.50"),
        impact=Decimal("2520.50"),
        title=f"model {model} spent 7.1× its usual Wednesday",
        explanation="i-0abc 8×H100 busy at 3 % SM for 31 h",
        drivers=(Driver("i-0abc 8×H100", "busy at 3 % SM for 31 h", Decimal("2480.00")),),
    )


def budget(team: str = "nlp", threshold: float = 0.8) -> Alert:
    return Alert(
        id=alert_id("budget", "2026-10", team, threshold),
        kind="budget",
        period="2026-10",
        team=team,
        dimension="team",
        key=team,
        day=None,
        expected=Decimal("50000"),
        actual=Decimal("41200.00"),
        impact=Decimal("1200.00"),
        title=f"team {team} passed {threshold:.0%} of its monthly budget",
        explanation="Month to date $41,200.00 of $50,000.00.",
        threshold=threshold,
    )
