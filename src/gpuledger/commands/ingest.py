"""`gpuledger ingest SOURCE SRC`: hand SRC to the collector SOURCE, report what it stored."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from gpuledger.collect import collector
from gpuledger.commands.context import Context


def run(ctx: Context, *, source: str, src: str, force: bool = False, **options: Any) -> None:
    """``force`` (``--force``) stores a billing delivery older than the stored one."""
    if force:
        options["force"] = True
    result = collector(source).ingest(ctx.store, ctx.settings, src, **options)
    Console().print(result.summary(), highlight=False, soft_wrap=True)
