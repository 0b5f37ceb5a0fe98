"""Statement exports: :func:`render` turns built statements into the bytes a format calls for.

The CLI, the app and the e-mails all call ``render(build_statements(...), format)``, so the
same month gives the same bytes wherever it is read. Every writer is deterministic (no clock,
no random ids), which is what lets a closed month export byte-identically for ever.

Formats: ``table`` (text for a terminal), ``json`` (DESIGN's shape plus budgets, forecast,
comparison and adjustments), ``csv`` (one row per statement line, for an ERP), ``xlsx`` (a
workbook for finance); each of these carries every line's stable id
(:mod:`gpuledger.engine.chargeback.line_id`), which ``gpuledger explain --line`` accepts; ``focus`` (Parquet: the cost rows split by allocation, FOCUS columns
plus FOCUS 1.3's allocation columns).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.statements import Line, Statements, TeamStatement
from gpuledger.errors import UsageError
from gpuledger.report.export.cells import wording
from gpuledger.report.export.csv import render_csv
from gpuledger.report.export.focus import render_focus
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


def _number(value: Decimal | None) -> float | None:
    """A JSON number: amounts have at most a few decimals, so the float prints exactly."""
    return None if value is None else float(value)


def _line_json(period: str, team: str, line: Line) -> dict[str, Any]:
    data: dict[str, Any] = {
        "line_id": line_id(period, team, line),
        "model": line.model,
        "gpu_model": line.gpu_model,
        "cost_type": line.cost_type,
        "gpu_hours": line.gpu_hours,
        "cost": _number(line.cost),
        "previous": _number(line.previous),
    }
    if line.corrects_period is not None:
        data["corrects_period"] = line.corrects_period
    return data


def _team_json(period: str, team: TeamStatement) -> dict[str, Any]:
    return {
        "team": team.team,
        "total": _number(team.total),
        "lines": [_line_json(period, team.team, line) for line in team.lines],
        "adjustments": [_line_json(period, team.team, line) for line in team.adjustments],
        "adjustments_total": _number(team.adjustment_total),
        "amount_due": _number(team.amount_due),
        "previous_total": _number(team.previous_total),
        "budget": _number(team.budget),
        "variance": _number(team.variance),
        "forecast": _number(team.forecast),
        "forecast_variance": _number(team.forecast_variance),
    }


def statements_json(statements: Statements) -> dict[str, Any]:
    """DESIGN's ``chargeback --format json`` object, with the extra keys finance reads."""
    return {
        "period": statements.period,
        "currency": statements.currency,
        "cost_basis": statements.cost_basis,
        "invoice_total": _number(statements.invoice_total),
        "allocated_total": _number(statements.allocated_total),
        "unallocated_total": _number(statements.unallocated_total),
        "closed": statements.closed,
        "closed_at": statements.closed_at,
        "final": statements.complete,
        "mode": statements.mode,
        "title": wording(statements).title,
        "adjustments_total": _number(statements.adjustment_total),
        "invoice_by_currency": statements.invoice_by_currency,
        "fx_rates": statements.fx_rates,
        "days_with_data": statements.days_with_data,
        "days_in_period": statements.days_in_period,
        "teams": [_team_json(statements.period, team) for team in statements.teams],
    }


def render_json(statements: Statements) -> bytes:
    return (json.dumps(statements_json(statements), indent=2) + "\n").encode("utf-8")


_WRITERS: Final[dict[str, Callable[[Statements], bytes]]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "xlsx": render_xlsx,
    "focus": render_focus,
}
