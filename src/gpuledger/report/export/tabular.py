"""A report table as plain data, and its CSV: what ``waste``, ``recommend``, ``status`` and
``explain`` hand to every writer (terminal, CSV, xlsx) so that each format shows the same cells.

Each column has a kind that says how its values are written: money in the currency's minor unit,
unit prices with 4 places, counts as integers, quantities with one decimal, fractions as
percentages on a terminal and as numbers of 1 in files; ``decimal`` is exact decimal text written
as it is (an amount already rounded in a currency of its own); text in a file is formula-safe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

from gpuledger.engine.chargeback.rounding import round_money
from gpuledger.report.export.cells import safe_text
from gpuledger.report.export.json_rule import money, unit_price

Kind = Literal["text", "money", "decimal", "price", "count", "quantity", "fraction"]
MISSING: Final = "—"
NUMERIC: Final = frozenset({"money", "decimal", "price", "count", "quantity", "fraction"})


@dataclass(frozen=True)
class Column:
    """One column: its key in the rows, its title on a terminal, its kind.

    ``drop`` orders what a narrow terminal leaves out: 0 is never dropped, higher goes first.
    ``wrap`` marks long free text, which wraps inside its cell instead of widening the table.
    """

    key: str
    title: str
    kind: Kind = "text"
    drop: int = 0
    wrap: bool = False


@dataclass(frozen=True)
class Tabular:
    """A titled table: columns, rows keyed by column key, the currency of its money columns."""

    title: str
    columns: tuple[Column, ...]
    rows: Sequence[Mapping[str, object]]
    currency: str


def cell_text(value: object, column: Column, currency: str) -> str:
    """The value as a person reads it: thousands separators, money in minor units, ``—`` for none."""
    if value is None or value == "":
        return MISSING
    if column.kind == "money":
        return f"{round_money(Decimal(str(value)), currency):,}"
    if column.kind == "price":
        return f"{Decimal(str(value)):,.4f}"
    if column.kind == "decimal":
        return f"{Decimal(str(value)):,}"
    if column.kind == "count":
        return f"{int(str(value)):,}"
    if column.kind == "quantity":
        return f"{float(str(value)):,.1f}"
    if column.kind == "fraction":
        return f"{float(str(value)):.1%}"
    return str(value)


def file_value(value: object, column: Column, currency: str) -> str:
    """The value in a CSV cell: exact decimal text, integers, formula-safe text; empty for none."""
    if value is None:
        return ""
    if column.kind == "money":
        return money(Decimal(str(value)), currency) or ""
    if column.kind == "price":
        return unit_price(Decimal(str(value))) or ""
    if column.kind == "decimal":
        return str(Decimal(str(value)))
    if column.kind == "count":
        return str(int(str(value)))
    if column.kind in ("quantity", "fraction"):
        return repr(float(str(value)))
    return safe_text(str(value))


def tabular_csv(table: Tabular) -> bytes:
    """One header row of column keys, then one row per row; CRLF line ends, UTF-8."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.key for column in table.columns])
    for row in table.rows:
        writer.writerow(
            [file_value(row.get(column.key), column, table.currency) for column in table.columns]
        )
    return buffer.getvalue().encode("utf-8")
