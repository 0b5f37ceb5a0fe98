"""Statements as text tables for a terminal (rich), one summary and one table per team.

Each line shows its number on the team's statement and its stable line id: either is what
``gpuledger explain --line`` takes.
"""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.statements import Statements, TeamStatement
from gpuledger.report.export.cells import wording

WIDTH = 150


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,}"


def _signed(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+,}"


def render_table(statements: Statements) -> bytes:
    """Plain text (no colour codes), the same on every terminal and in a file."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, color_system=None, force_terminal=False)
    words = wording(statements)
    state = (
        f"closed {statements.closed_at}"
        if statements.closed
        else "final"
        if statements.complete
        else "open"
    )
    console.print(
        Text(
            f"{words.title} {statements.period} — {statements.currency},"
            f" {statements.cost_basis}, {state}"
        )
    )
    console.print(Text(words.note))
    console.print(_summary(statements))
    for team in statements.teams:
        console.print(_team_table(statements, team))
    console.print(
        Text(
            f"invoice {_amount(statements.invoice_total)} = allocated"
            f" {_amount(statements.allocated_total)} + (unallocated)"
            f" {_amount(statements.unallocated_total)} {statements.currency}"
            + (
                f"; adjustments of closed months {_signed(statements.adjustment_total)}"
                if statements.adjustment_total
                else ""
            )
        )
    )
    return buffer.getvalue().encode("utf-8")


def _summary_columns(team: TeamStatement) -> dict[str, str]:
    """A team's row of the summary, by column name."""
    change = None if team.previous_total is None else team.total - team.previous_total
    return {
        "total": _amount(team.total),
        "previous": _amount(team.previous_total),
        "change": _signed(change),
        "budget": _amount(team.budget),
        "variance": _signed(team.variance),
        "forecast": _amount(team.forecast),
        "adjustments": _signed(team.adjustment_total) if team.adjustments else "",
        "due": _amount(team.amount_due),
    }


def _summary(statements: Statements) -> Table:
    """One row per team; columns that are empty for every team (no budgets, no adjustments,
    no previous month) are left out so the table fits a terminal."""
    rows = {team.team: _summary_columns(team) for team in statements.teams}
    names = [
        name
        for name in ("total", "previous", "change", "budget", "variance", "forecast", "adjustments")
        if name == "total" or any(row[name] for row in rows.values())
    ]
    table = Table(title="Teams", title_justify="left")
    table.add_column("team", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column(wording(statements).amount.lower(), justify="right", no_wrap=True)
    for team, row in rows.items():
        table.add_row(Text(team), *(row[name] for name in names), row["due"])
    table.add_section()
    invoice = {"total": _amount(statements.invoice_total)}
    table.add_row(
        Text("invoice"),
        *(invoice.get(name, "") for name in names),
        _amount(statements.invoice_total + statements.adjustment_total),
    )
    return table


def _team_table(statements: Statements, team: TeamStatement) -> Table:
    table = Table(
        title=f"{team.team} — {_amount(team.amount_due)} {statements.currency}",
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    for name in ("model", "GPU", "cost type"):
        table.add_column(name, no_wrap=True)
    for name in ("GPU-hours", "cost", "previous"):
        table.add_column(name, justify="right")
    table.add_column("line id", no_wrap=True)
    period = statements.period
    for number, line in enumerate(team.lines, start=1):
        table.add_row(
            str(number),
            Text(line.model),
            Text(line.gpu_model or ""),
            Text(line.cost_type),
            f"{line.gpu_hours:,.1f}",
            _amount(line.cost),
            _amount(line.previous),
            line_id(period, team.team, line),
        )
    for line in team.adjustments:
        table.add_row(
            "",
            Text(line.model),
            Text(line.gpu_model or ""),
            Text(f"adjustment of {line.corrects_period}: {line.cost_type}"),
            f"{line.gpu_hours:+,.1f}",
            _signed(line.cost),
            "",
            line_id(period, team.team, line),
        )
    table.add_section()
    table.add_row(
        "", Text("total"), "", "", "", _amount(team.amount_due), _amount(team.previous_total), ""
    )
    return table
