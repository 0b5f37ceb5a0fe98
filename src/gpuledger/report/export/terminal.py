"""Report tables for a terminal of any width: low-priority columns go before key ones fold.

Rich shrinks every column of a table too wide for the terminal, and an 80-column terminal then
shows one word per line. Here a table first leaves out the columns with the highest ``drop``
until its cells fit whole; key columns (``drop`` 0) never fold or lose a character, and long
free text (``wrap``) wraps inside its cell. The rows dropped columns hide are in
``--format csv|json``, which the caption says.
"""

from __future__ import annotations

from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from gpuledger.report.export.printable import markup_text, printable
from gpuledger.report.export.tabular import NUMERIC, Column, Tabular, cell_text

# Rich's default box: a border before each column plus one space of padding either side.
_PER_COLUMN = 3
# A wrapping column asks no more than this when the table is fitted; rich wraps the rest.
_WRAP_WIDTH = 24


def natural_widths(table: Tabular, cells: list[list[str]]) -> list[int]:
    """Each column's width with no cell cut: its longest cell or its title."""
    return [
        max([len(column.title), *(len(row[index]) for row in cells)])
        for index, column in enumerate(table.columns)
    ]


def fitted_columns(table: Tabular, natural: list[int], width: int) -> list[int]:
    """Indexes of the columns shown in ``width`` characters, in table order."""
    asked = [
        min(size, _WRAP_WIDTH) if column.wrap else size
        for size, column in zip(natural, table.columns, strict=True)
    ]
    shown = list(range(len(table.columns)))
    by_priority = sorted(
        (i for i in shown if table.columns[i].drop), key=lambda i: (-table.columns[i].drop, -i)
    )
    for index in by_priority:
        if sum(asked[i] + _PER_COLUMN for i in shown) + 1 <= width:
            break
        shown.remove(index)
    return shown


def terminal_table(table: Tabular, width: int) -> Table:
    """``table`` as a rich Table that fits ``width`` columns, with a caption naming what is left
    out."""
    cells = [
        [
            printable(cell_text(row.get(column.key), column, table.currency))
            for column in table.columns
        ]
        for row in table.rows
    ]
    natural = natural_widths(table, cells)
    shown = fitted_columns(table, natural, width)
    hidden = [column.title for i, column in enumerate(table.columns) if i not in shown]
    caption = f"not shown at this width: {', '.join(hidden)}" if hidden else None
    out = Table(
        title=markup_text(table.title),
        title_justify="left",
        caption=caption,
        caption_justify="left",
    )
    for index in shown:
        _add_column(out, table.columns[index], natural[index])
    for row in cells:
        out.add_row(*(Text(row[i]) for i in shown))
    return out


def _add_column(out: Table, column: Column, natural: int) -> None:
    justify: JustifyMethod = "right" if column.kind in NUMERIC else "left"
    if column.wrap:
        out.add_column(column.title, justify=justify, overflow="fold", min_width=8)
    elif column.drop == 0:
        out.add_column(column.title, justify=justify, no_wrap=True, min_width=natural)
    else:
        out.add_column(column.title, justify=justify, no_wrap=True, overflow="ellipsis")
