"""An importable job for the scheduler tests: appends one line per run to a file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def record_run(path: str) -> None:
    with Path(path).open("a") as log:
        log.write(datetime.now(UTC).isoformat() + "\n")
