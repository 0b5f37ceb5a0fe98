"""Spend anomalies and budget alerts: daily series from the allocation, detection, budgets."""
