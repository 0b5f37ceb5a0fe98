"""What an alert is: one anomaly on a daily spend series, or one budget threshold crossed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

AlertKind = Literal["anomaly", "budget"]
Dimension = Literal["team", "model", "gpu", "instance"]


@dataclass(frozen=True)
class Driver:
    """A row behind an alert: the instance, model or workload whose spend moved, and by how much."""

    label: str  # e.g. "i-0abc… 8×H100" or "model llama-70b"
    detail: str  # e.g. "busy at 3 % SM for 31 h"
    cost: Decimal  # its spend on the alert's day (anomaly) or month to date (budget)


@dataclass(frozen=True)
class Alert:
    """One alert, with an id that stays the same however often detection runs."""

    id: str  # stable: derived from kind, period, series and day or threshold
    kind: AlertKind
    period: str  # YYYY-MM
    team: str | None  # who is told (and whose lead is mailed); None: finance only
    dimension: Dimension
    key: str  # the series' value on that dimension: a team, model, GPU model or instance
    day: date | None  # the anomalous day; None for a budget alert
    expected: Decimal  # baseline (anomaly) or budget (budget alert)
    actual: Decimal  # the day's spend (anomaly) or month-to-date / forecast spend (budget)
    impact: Decimal  # dollars above expected (anomaly) or over the threshold (budget)
    title: str  # one line: what happened
    explanation: str  # GPU-aware sentences drawn from the data
    drivers: tuple[Driver, ...] = field(default_factory=tuple)
    threshold: float | None = None  # budget alerts: the share of the budget crossed (1.0 = 100 %)
    forecast: bool = False  # budget alerts: crossed by the month's forecast, not month to date
    last_day: date | None = None  # anomalies: the episode's last day (consecutive anomalous days)


def alert_id(kind: AlertKind, period: str, *parts: object) -> str:
    """The stable id of an alert: a digest of its kind, period and what names it (series and
    day, or team and threshold), so detection run twice yields the same ids."""
    text = "|".join([kind, period, *("" if part is None else str(part) for part in parts)])
    return f"{kind[:3]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
