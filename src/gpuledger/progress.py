"""Progress bars for long work (ingest, attribution, backfills), on stderr so stdout stays data."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr_console = Console(stderr=True)


def progress_bar(*, transient: bool = False) -> Progress:
    """A rich progress bar; silent when ``GPULEDGER_NO_PROGRESS`` is set or stderr is no terminal
    and ``GPULEDGER_PROGRESS`` is not set."""
    quiet = bool(os.environ.get("GPULEDGER_NO_PROGRESS")) or (
        not sys.stderr.isatty() and not os.environ.get("GPULEDGER_PROGRESS")
    )
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console,
        transient=transient,
        disable=quiet,
    )
