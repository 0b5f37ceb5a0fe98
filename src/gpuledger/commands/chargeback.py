"""`gpuledger chargeback`: one month's statements per team, in the format asked for."""

from __future__ import annotations

from pathlib import Path

from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, require_out, terminal
from gpuledger.commands.period_choice import chosen_period
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.progress import stderr_console
from gpuledger.report.export.render import render
from gpuledger.report.export.table import render_table


def run(ctx: Context, *, period: str | None, format: str, out: Path | None) -> None:
    """Build the statements of ``period`` (default: the latest month with billing data) and write
    them to ``out`` or standard output.

    Binary formats (xlsx, focus) need ``--out``: a terminal is no place for a workbook. The table
    on a terminal fits its width; written to a file it is the export every surface shares.
    """
    require_out(format, out, table_file=True)
    store = ctx.read_store
    statements = build_statements(store, ctx.settings, chosen_period(store, period))
    if format == "table" and out is None:
        emit(render_table(statements, terminal().width), None)
        return
    emit(render(statements, format), out)
    if out is None:
        return
    state = "closed" if statements.closed else "open"
    stderr_console.print(
        f"wrote {out} ({format}, {len(statements.teams)} teams, {state} month,"
        f" invoice {statements.invoice_total:,} {statements.currency})",
        highlight=False,
    )
