"""Spend anomalies and budget alerts: daily series from the allocation, detection, budgets."""

from gpuledger.engine.alerts.budget import BudgetState, budget_alerts, budget_states
from gpuledger.engine.alerts.detect import expected_band, find_anomalies
from gpuledger.engine.alerts.model import Alert, Driver
from gpuledger.engine.alerts.series import daily_series, refresh_daily_series

__all__ = [
    "Alert",
    "BudgetState",
    "Driver",
    "budget_alerts",
    "budget_states",
    "daily_series",
    "expected_band",
    "find_anomalies",
    "refresh_daily_series",
]
