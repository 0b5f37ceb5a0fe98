"""`gpuledger budgets`: each team's budget, month to date, forecast, state and thresholds crossed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from gpuledger.commands.anomalies import attributed_month
from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, terminal
from gpuledger.engine.alerts.budget import BudgetState, budget_states
from gpuledger.report.export.json_rule import json_bytes, money
from gpuledger.report.export.tabular import Column, Tabular, tabular_csv
from gpuledger.report.export.terminal import terminal_table

COLUMNS = (
    Column("team", "team"),
    Column("budget", "budget", "money"),
    Column("month_to_date", "month to date", "money"),
    Column("share", "used", "fraction", drop=2),
    Column("forecast", "forecast", "money", drop=1),
    Column("state", "state"),
    Column("crossed", "thresholds crossed", drop=3),
)


def run(ctx: Context, *, period: str | None, format: str, out: Path | None = None) -> None:
    store, period = attributed_month(ctx, period, format, out)
    currency = ctx.settings.reporting.currency
    document = as_json(budget_states(store, ctx.settings, period), period, currency)
    if format == "table":
        print_table(terminal(), document)
    elif format == "json":
        emit(json_bytes(document), out)
    else:
        emit(tabular_csv(budget_tabular(document)), out)


def state_json(state: BudgetState, currency: str) -> dict[str, Any]:
    """One team's budget state: money as decimal text, shares as fractions of 1."""
    return {
        "team": state.team,
        "budget": money(state.budget, currency),
        "month_to_date": money(state.month_to_date, currency),
        "share": None if state.share is None else round(state.share, 4),
        "forecast": money(state.forecast, currency),
        "forecast_over": state.forecast_over,
        "state": state.state,
        "crossed": list(state.crossed),
    }


def as_json(states: list[BudgetState], period: str, currency: str) -> dict[str, Any]:
    return {
        "period": period,
        "currency": currency,
        "teams": [state_json(state, currency) for state in states],
    }


def budget_tabular(document: dict[str, Any]) -> Tabular:
    rows = [
        {**team, "crossed": " ".join(f"{share:.0%}" for share in team["crossed"])}
        for team in document["teams"]
    ]
    return Tabular("Budgets", COLUMNS, rows, document["currency"])


def print_table(console: Console, document: dict[str, Any]) -> None:
    console.print(f"Budgets {document['period']} ({document['currency']})", highlight=False)
    console.print(terminal_table(budget_tabular(document), console.width))
