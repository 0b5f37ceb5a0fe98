"""Statements as an Excel workbook for finance: a summary sheet and one sheet per team.

Values only, no formulas: the totals are the engine's reconciled amounts, and a workbook
without formulas reads the same in every tool (openpyxl, pandas, an ERP import). Text that a
spreadsheet would take for a formula is written as a string cell with Excel's quote prefix, and
control characters that XML forbids are written as their escapes (:mod:`.printable`).
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import xlsxwriter

from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.rounding import minor_unit
from gpuledger.engine.chargeback.statements import Statements, TeamStatement
from gpuledger.period import Period
from gpuledger.report.export.cells import flat_lines, is_formula_like, wording
from gpuledger.report.export.printable import cell_safe, printable

SUMMARY_SHEET = "Summary"
TEAM_COLUMNS = ("Team", "Total", "Previous month", "Change", "Budget", "Variance", "Forecast")
LINE_COLUMNS = ("Line", "Corrects", "Model", "GPU model", "Cost type", "GPU-hours", "Cost")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_NAME_LENGTH = 31
_RESERVED_SHEETS = frozenset({SUMMARY_SHEET.casefold(), "history"})


class Sheet:
    """A worksheet with the workbook's formats and a writer that never writes a formula."""

    def __init__(self, book: Any, sheet: Any, formats: dict[str, Any]) -> None:
        self.book, self.sheet, self.formats = book, sheet, formats

    def text(self, row: int, col: int, value: str | None, style: str = "text") -> None:
        if value is None:
            return
        fmt = self.formats["quoted" if is_formula_like(value) else style]
        self.sheet.write_string(row, col, cell_safe(value), fmt)

    def money(self, row: int, col: int, value: Decimal | None, style: str = "money") -> None:
        if value is not None:
            self.sheet.write_number(row, col, float(value), self.formats[style])

    def header(self, row: int, names: tuple[str, ...]) -> None:
        for col, name in enumerate(names):
            self.sheet.write_string(row, col, name, self.formats["header"])


def render_xlsx(statements: Statements) -> bytes:
    """The workbook's bytes. Deterministic: fixed document dates, so a closed month's workbook
    is byte-identical whenever it is exported."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    words = wording(statements)
    stamp = Period.parse(statements.period).start.replace(tzinfo=None)
    book.set_properties(
        {"title": f"{words.title} {statements.period}", "created": stamp, "company": "gpuledger"}
    )
    styles = workbook_formats(book, statements.currency)
    names = sheet_names([team.team for team in statements.teams])
    _summary_sheet(Sheet(book, book.add_worksheet(SUMMARY_SHEET), styles), statements)
    for team in statements.teams:
        sheet = Sheet(book, book.add_worksheet(names[team.team]), styles)
        _team_sheet(sheet, statements, team)
    book.close()
    return buffer.getvalue()


def workbook_formats(book: Any, currency: str) -> dict[str, Any]:
    decimals = max(0, -minor_unit(currency).as_tuple().exponent)  # type: ignore[operator]
    money = "#,##0" + ("." + "0" * decimals if decimals else "")
    money_format = f"{money};[Red]-{money}"
    return {
        "title": book.add_format({"bold": True, "font_size": 14}),
        "text": book.add_format({}),
        "quoted": book.add_format({"quote_prefix": True}),
        "bold": book.add_format({"bold": True}),
        "header": book.add_format({"bold": True, "bottom": 1, "bg_color": "#DDEBF7"}),
        "money": book.add_format({"num_format": money_format}),
        "money_total": book.add_format({"num_format": money_format, "bold": True, "top": 1}),
        "hours": book.add_format({"num_format": "#,##0.0"}),
    }


def sheet_names(teams: list[str]) -> dict[str, str]:
    """Valid, unique sheet names, whatever the tag text: no ``[]:*?/\\`` or control characters,
    at most 31 characters, no apostrophe at either end, not blank, unique ignoring case (a
    clash gets `` (2)``, `` (3)``, … within the 31 characters)."""
    taken = set(_RESERVED_SHEETS)
    names: dict[str, str] = {}
    for team in teams:
        base = _sheet_base(team)
        name, number = base, 2
        while name.casefold() in taken:
            suffix = f" ({number})"
            name, number = base[: _SHEET_NAME_LENGTH - len(suffix)] + suffix, number + 1
        taken.add(name.casefold())
        names[team] = name
    return names


def _sheet_base(team: str) -> str:
    """The name before de-duplication: cut to length first, so no cut leaves an apostrophe or a
    space at the end."""
    text = _SHEET_FORBIDDEN.sub("_", printable(team))
    return text[:_SHEET_NAME_LENGTH].strip(" '") or "team"


def _summary_sheet(out: Sheet, statements: Statements) -> None:
    words = wording(statements)
    out.text(0, 0, f"{words.title} {statements.period}", "title")
    out.text(1, 0, words.note)
    facts: list[tuple[str, str | Decimal]] = [
        ("Currency", statements.currency),
        ("Cost basis", statements.cost_basis),
        ("Status", f"closed {statements.closed_at}" if statements.closed else "open"),
        ("Invoice total", statements.invoice_total),
        ("Allocated to teams", statements.allocated_total),
        ("Unallocated total", statements.unallocated_total),
        ("Adjustments of closed months", statements.adjustment_total),
    ]
    for offset, (label, value) in enumerate(facts, start=3):
        out.text(offset, 0, label, "bold")
        if isinstance(value, Decimal):
            out.money(offset, 1, value)
        else:
            out.text(offset, 1, value)
    top = 3 + len(facts) + 1
    columns = (*TEAM_COLUMNS, "Adjustments", words.amount)
    out.header(top, columns)
    for row, team in enumerate(statements.teams, start=top + 1):
        _team_summary_row(out, row, team)
    end = top + 1 + len(statements.teams)
    out.text(end, 0, "Invoice", "bold")
    out.money(end, 1, statements.invoice_total, "money_total")
    out.money(end, 7, statements.adjustment_total, "money_total")
    out.money(end, 8, statements.invoice_total + statements.adjustment_total, "money_total")
    out.sheet.freeze_panes(top + 1, 1)
    print_setup(out.sheet)
    out.sheet.set_column(0, 0, 28)
    out.sheet.set_column(1, len(columns) - 1, 16)


def print_setup(sheet: Any) -> None:
    """Landscape, one page wide: a statement prints the way finance files it."""
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0)


def _team_summary_row(out: Sheet, row: int, team: TeamStatement) -> None:
    change = None if team.previous_total is None else team.total - team.previous_total
    out.text(row, 0, team.team)
    values = (
        team.total,
        team.previous_total,
        change,
        team.budget,
        team.variance,
        team.forecast,
        team.adjustment_total,
        team.amount_due,
    )
    for col, value in enumerate(values, start=1):
        out.money(row, col, value)


def _team_sheet(out: Sheet, statements: Statements, team: TeamStatement) -> None:
    words = wording(statements)
    out.text(0, 0, f"{words.title} {statements.period}", "title")
    out.text(1, 0, "Team", "bold")
    out.text(1, 1, team.team)
    out.text(2, 0, "Currency", "bold")
    out.text(2, 1, statements.currency)
    columns = (*LINE_COLUMNS, "Previous month", "Change", "Line id")
    out.header(4, columns)
    rows = flat_lines(team)
    for row, flat in enumerate(rows, start=5):
        line = flat.line
        out.text(row, 0, flat.kind)
        out.text(row, 1, line.corrects_period)
        out.text(row, 2, line.model)
        out.text(row, 3, line.gpu_model)
        out.text(row, 4, line.cost_type)
        out.sheet.write_number(row, 5, line.gpu_hours, out.formats["hours"])
        out.money(row, 6, line.cost)
        out.money(row, 7, line.previous)
        out.money(row, 8, flat.change)
        out.text(row, 9, line_id(statements.period, team.team, line))
    end = 5 + len(rows)
    out.text(end, 0, words.amount, "bold")
    out.money(end, 6, team.amount_due, "money_total")
    out.money(end, 7, team.previous_total, "money_total")
    out.sheet.freeze_panes(5, 0)
    if rows:
        out.sheet.autofilter(4, 0, end - 1, len(columns) - 1)
    print_setup(out.sheet)
    out.sheet.set_column(0, 1, 12)
    out.sheet.set_column(2, 4, 22)
    out.sheet.set_column(5, len(columns) - 2, 16)
    out.sheet.set_column(len(columns) - 1, len(columns) - 1, 18)
