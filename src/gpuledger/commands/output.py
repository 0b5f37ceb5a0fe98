"""Where a reporting command's bytes go: standard output, or ``--out FILE`` (needed for xlsx)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rich.console import Console

from gpuledger.errors import UsageError
from gpuledger.report.export.render import BINARY_FORMATS


def require_out(format: str, out: Path | None, *, table_file: bool = False) -> None:
    """A binary format writes a file: a terminal is no place for a workbook. A table goes to
    ``--out`` only where ``table_file`` says the command writes one (chargeback)."""
    if format in BINARY_FORMATS and out is None:
        raise UsageError(f"--format {format} writes a file: add --out FILE")
    if format == "table" and out is not None and not table_file:
        raise UsageError("--out writes csv, json or xlsx: add --format csv|json|xlsx")


def emit(data: bytes, out: Path | None) -> None:
    """``data`` to ``out``, or to standard output as it is."""
    if out is not None:
        out.write_bytes(data)
        return
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


# A table written to a pipe or a file (no terminal, no COLUMNS) is this wide: the full table.
FILE_WIDTH = 150


def terminal() -> Console:
    """The console a table format prints on: as wide as the terminal, or ``COLUMNS``; piped
    into a file or another program without either, :data:`FILE_WIDTH`."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=FILE_WIDTH)
