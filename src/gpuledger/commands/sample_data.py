"""`gpuledger sample-data`: write the fictional company's exports in their real formats."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console

from gpuledger.commands.context import Context
from gpuledger.errors import UsageError
from gpuledger.sample import write_sample


def run(ctx: Context, *, out: Path, scale: float, seed: int, period: str) -> None:
    if scale <= 0:
        raise UsageError("--scale must be positive")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        raise UsageError(f"--period {period!r} is not a month (expected YYYY-MM)")
    written = write_sample(out, scale=scale, seed=seed, period=period)
    console = Console()
    for folder, files in written.items():
        size = sum(f.stat().st_size for f in files)
        console.print(f"{folder:6} {len(files):4} files  {size / 1e6:8.2f} MB  {out / folder}")
