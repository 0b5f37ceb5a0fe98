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
from gpuledger.report.export.printable import markup_text, printable
from gpuledger.report.export.tabular import Column, Tabular
from gpuledger.report.export.terminal import fitted_columns, natural_widths

WIDTH = 150
# Below this width a team's table leaves out the line id and previous-month columns (the line's
# number on the statement is what `gpuledger explain --line` takes as well).
NARROW = 110
# Summary columns a narrow terminal leaves out first (highest first).
SUMMARY_DROP = {"forecast": 5, "previous": 4, "change": 3, "budget": 2, "variance": 1}


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,}"


def _signed(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+,}"


def render_table(statements: Statements, width: int = WIDTH) -> bytes:
    """Plain text (no colour codes), ``width`` characters wide; at the default width the same on
    every terminal and in a file."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
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
    console.print(_summary(statements, width))
    for team in statements.teams:
        console.print(_team_table(statements, team, wide=width >= NARROW))
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


def _summary(statements: Statements, width: int) -> Table:
    """One row per team; columns that are empty for every team (no budgets, no adjustments,
    no previous month) are left out, and on a narrow terminal the least needed ones too, so the
    table fits without cutting an amount."""
    rows = {team.team: _summary_columns(team) for team in statements.teams}
    names = [
        name
        for name in ("total", "previous", "change", "budget", "variance", "forecast", "adjustments")
        if name == "total" or any(row[name] for row in rows.values())
    ]
    names = _fitting(statements, rows, names, width)
    table = Table(title="Teams", title_justify="left")
    table.add_column("team", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column(wording(statements).amount.lower(), justify="right", no_wrap=True)
    for team, row in rows.items():
        table.add_row(Text(printable(team)), *(row[name] for name in names), row["due"])
    table.add_section()
    invoice = {"total": _amount(statements.invoice_total)}
    table.add_row(
        Text("invoice"),
        *(invoice.get(name, "") for name in names),
        _amount(statements.invoice_total + statements.adjustment_total),
    )
    return table


def _fitting(
    statements: Statements, rows: dict[str, dict[str, str]], names: list[str], width: int
) -> list[str]:
    """The summary's optional columns that fit ``width``, dropping forecast, previous, change,
    budget, variance in that order; team, total, adjustments and the amount due always show."""
    due = wording(statements).amount.lower()
    total = _amount(statements.invoice_total + statements.adjustment_total)
    columns = [Column("team", "team"), *(Column(n, n, drop=SUMMARY_DROP.get(n, 0)) for n in names)]
    columns.append(Column("due", due))
    cells = [[printable(team), *(row[n] for n in names), row["due"]] for team, row in rows.items()]
    cells.append(["invoice", _amount(statements.invoice_total), *[""] * len(names[1:]), total])
    table = Tabular("", tuple(columns), [], statements.currency)
    shown = fitted_columns(table, natural_widths(table, cells), width)
    return [name for index, name in enumerate(names, start=1) if index in shown]


def _team_table(statements: Statements, team: TeamStatement, *, wide: bool) -> Table:
    table = Table(
        title=f"{markup_text(team.team)} — {_amount(team.amount_due)} {statements.currency}",
        title_justify="left",
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("model", no_wrap=True)
    for name in ("GPU", "cost type"):
        table.add_column(name, no_wrap=wide, overflow="fold")
    table.add_column("GPU-hours", justify="right")
    table.add_column("cost", justify="right", no_wrap=True)
    if wide:
        table.add_column("previous", justify="right")
        table.add_column("line id", no_wrap=True)
    period = statements.period
    rows: list[list[str | Text]] = []
    for number, line in enumerate(team.lines, start=1):
        rows.append(
            [
                str(number),
                Text(printable(line.model)),
                Text(printable(line.gpu_model or "")),
                Text(printable(line.cost_type)),
                f"{line.gpu_hours:,.1f}",
                _amount(line.cost),
                _amount(line.previous),
                line_id(period, team.team, line),
            ]
        )
    for line in team.adjustments:
        rows.append(
            [
                "",
                Text(printable(line.model)),
                Text(printable(line.gpu_model or "")),
                Text(printable(f"adjustment of {line.corrects_period}: {line.cost_type}")),
                f"{line.gpu_hours:+,.1f}",
                _signed(line.cost),
                "",
                line_id(period, team.team, line),
            ]
        )
    total: list[str | Text] = ["", Text("total"), "", "", ""]
    total += [_amount(team.amount_due), _amount(team.previous_total), ""]
    shown = len(table.columns)
    for row in rows:
        table.add_row(*row[:shown])
    table.add_section()
    table.add_row(*total[:shown])
    return table
