"""`gpuledger chargeback`: one month's statements per team, in the format asked for."""

from __future__ import annotations

import sys
from pathlib import Path

from gpuledger.commands.context import Context
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.errors import UsageError
from gpuledger.progress import stderr_console
from gpuledger.report.export.render import BINARY_FORMATS, render


def run(ctx: Context, *, period: str, format: str, out: Path | None) -> None:
    """Build the statements of ``period`` and write them to ``out`` or standard output.

    Binary formats (xlsx, focus) need ``--out``: a terminal is no place for a workbook.
    """
    if format in BINARY_FORMATS and out is None:
        raise UsageError(f"--format {format} writes a file: add --out FILE")
    statements = build_statements(ctx.store, ctx.settings, period)
    data = render(statements, format)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(data)
    state = "closed" if statements.closed else "open"
    stderr_console.print(
        f"wrote {out} ({format}, {len(statements.teams)} teams, {state} month,"
        f" invoice {statements.invoice_total:,} {statements.currency})",
        highlight=False,
    )
