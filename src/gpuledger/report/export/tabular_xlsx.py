"""Report tables as an Excel workbook: one sheet per table, values only, formula-safe text."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

import xlsxwriter

from gpuledger.engine.chargeback.rounding import round_money
from gpuledger.period import Period
from gpuledger.report.export.tabular import Tabular
from gpuledger.report.export.xlsx import Sheet, print_setup, sheet_names, workbook_formats

_STYLE = {"money": "money", "price": "price", "count": "count", "quantity": "hours"}


def tabular_xlsx(tables: Sequence[Tabular], title: str, period: str) -> bytes:
    """The workbook's bytes: a sheet per table with its title, a header and its rows.

    Deterministic (document date = the period's first day), so the same month gives the same
    bytes; money cells are numbers in the currency's format, as in the chargeback workbook.
    """
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    stamp = Period.parse(period).start.replace(tzinfo=None)
    book.set_properties({"title": f"{title} {period}", "created": stamp, "company": "gpuledger"})
    currency = tables[0].currency if tables else "USD"
    styles = workbook_formats(book, currency)
    styles["price"] = book.add_format({"num_format": "#,##0.0000"})
    styles["count"] = book.add_format({"num_format": "#,##0"})
    styles["fraction"] = book.add_format({"num_format": "0.0%"})
    names = sheet_names([table.title for table in tables])
    for table in tables:
        _sheet(Sheet(book, book.add_worksheet(names[table.title]), styles), table)
    book.close()
    return buffer.getvalue()


def _sheet(out: Sheet, table: Tabular) -> None:
    out.text(0, 0, table.title, "title")
    out.header(2, tuple(column.title for column in table.columns))
    for row_number, row in enumerate(table.rows, start=3):
        for col, column in enumerate(table.columns):
            value = row.get(column.key)
            if value is None:
                continue
            if column.kind == "text":
                out.text(row_number, col, str(value))
            elif column.kind == "money":
                out.money(row_number, col, round_money(Decimal(str(value)), table.currency))
            else:
                style = _STYLE.get(column.kind, column.kind)
                out.sheet.write_number(row_number, col, float(str(value)), out.formats[style])
    out.sheet.freeze_panes(3, 0)
    if table.rows:
        out.sheet.autofilter(2, 0, 2 + len(table.rows), len(table.columns) - 1)
    print_setup(out.sheet)
    out.sheet.set_column(0, len(table.columns) - 1, 16)
