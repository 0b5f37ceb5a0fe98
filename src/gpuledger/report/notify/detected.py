"""A month's alerts as the engine finds them: spend anomalies, then budget thresholds crossed.

The one place the scheduler job, ``gpuledger alerts`` and the app's Alerts page ask the engine
for alerts, so all three list, deliver and show the same ones.
"""

from __future__ import annotations

from datetime import date

from gpuledger.config import Settings
from gpuledger.engine.alerts.budget import budget_alerts
from gpuledger.engine.alerts.detect import find_anomalies
from gpuledger.engine.alerts.model import Alert
from gpuledger.store.delta import Store


def month_alerts(
    store: Store, settings: Settings, period: str, *, today: date | None = None
) -> list[Alert]:
    """Every alert of ``period``: anomalies by day, then budget alerts by team and threshold."""
    anomalies = find_anomalies(store, settings, period)
    budgets = budget_alerts(store, settings, period, today=today)
    return [*anomalies, *budgets]
