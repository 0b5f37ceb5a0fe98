"""`gpuledger sample-data`: write the fictional company's exports in their real formats."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from gpuledger.commands.context import Context
from gpuledger.errors import UsageError
from gpuledger.period import Period
from gpuledger.sample import write_sample


def run(ctx: Context, *, out: Path, scale: float, seed: int, period: str) -> None:
    if scale <= 0:
        raise UsageError("--scale must be positive")
    Period.parse(period)
    written = write_sample(out, scale=scale, seed=seed, period=period)
    console = Console()
    for folder, files in written.items():
        size = sum(f.stat().st_size for f in files)
        console.print(f"{folder:6} {len(files):4} files  {size / 1e6:8.2f} MB  {out / folder}")
