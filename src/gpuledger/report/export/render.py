"""Statement exports: :func:`render` turns built statements into the bytes a format calls for.

The CLI, the app and the e-mails all call ``render(build_statements(...), format)``, so the
same month gives the same bytes wherever it is read. Every writer is deterministic (no clock,
no random ids), which is what lets a closed month export byte-identically for ever.

Formats: ``table`` (text for a terminal), ``json`` (DESIGN's shape plus budgets, forecast,
comparison and adjustments; amounts under :mod:`~gpuledger.report.export.json_rule`), ``csv`` (one row per statement line, for an ERP), ``xlsx`` (a
workbook for finance); each of these carries every line's stable id
(:mod:`gpuledger.engine.chargeback.line_id`), which ``gpuledger explain --line`` accepts; ``focus`` (Parquet: the cost rows split by allocation, FOCUS columns
plus FOCUS 1.3's allocation columns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.statements import Line, Statements, TeamStatement
from gpuledger.errors import UsageError
from gpuledger.report.export.cells import wording
from gpuledger.report.export.csv import render_csv
from gpuledger.report.export.focus import render_focus
from gpuledger.report.export.json_rule import json_bytes, money
from gpuledger.report.export.table import render_table
from gpuledger.report.export.xlsx import render_xlsx

BINARY_FORMATS: Final = frozenset({"xlsx", "focus"})


def render(statements: Statements, format: str) -> bytes:
    """The statements in ``format`` (table, json, csv, xlsx, focus) as bytes.

    Text formats are UTF-8. ``focus`` needs the statements' FOCUS rows, which
    :func:`gpuledger.engine.chargeback.build.build_statements` always attaches.
    """
    writer = _WRITERS.get(format)
    if writer is None:
        raise UsageError(f"unknown format {format!r} (expected one of {', '.join(_WRITERS)})")
    return writer(statements)


def _line_json(period: str, team: str, line: Line, currency: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "line_id": line_id(period, team, line),
        "model": line.model,
        "gpu_model": line.gpu_model,
        "cost_type": line.cost_type,
        "gpu_hours": line.gpu_hours,
        "cost": money(line.cost, currency),
        "previous": money(line.previous, currency),
    }
    if line.corrects_period is not None:
        data["corrects_period"] = line.corrects_period
    return data


def _team_json(period: str, team: TeamStatement, currency: str) -> dict[str, Any]:
    return {
        "team": team.team,
        "total": money(team.total, currency),
        "lines": [_line_json(period, team.team, line, currency) for line in team.lines],
        "adjustments": [_line_json(period, team.team, line, currency) for line in team.adjustments],
        "adjustments_total": money(team.adjustment_total, currency),
        "amount_due": money(team.amount_due, currency),
        "previous_total": money(team.previous_total, currency),
        "budget": money(team.budget, currency),
        "variance": money(team.variance, currency),
        "forecast": money(team.forecast, currency),
        "forecast_variance": money(team.forecast_variance, currency),
    }


def statements_json(statements: Statements) -> dict[str, Any]:
    """DESIGN's ``chargeback --format json`` object, with the extra keys finance reads."""
    return {
        "period": statements.period,
        "currency": statements.currency,
        "cost_basis": statements.cost_basis,
        "invoice_total": money(statements.invoice_total, statements.currency),
        "allocated_total": money(statements.allocated_total, statements.currency),
        "unallocated_total": money(statements.unallocated_total, statements.currency),
        "closed": statements.closed,
        "closed_at": statements.closed_at,
        "final": statements.complete,
        "mode": statements.mode,
        "title": wording(statements).title,
        "adjustments_total": money(statements.adjustment_total, statements.currency),
        "invoice_by_currency": {
            currency: money(amount, currency)
            for currency, amount in statements.invoice_by_currency.items()
        },
        "fx_rates": statements.fx_rates,
        "days_with_data": statements.days_with_data,
        "days_in_period": statements.days_in_period,
        "teams": [
            _team_json(statements.period, team, statements.currency) for team in statements.teams
        ],
    }


def render_json(statements: Statements) -> bytes:
    return json_bytes(statements_json(statements))


_WRITERS: Final[dict[str, Callable[[Statements], bytes]]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "xlsx": render_xlsx,
    "focus": render_focus,
}
