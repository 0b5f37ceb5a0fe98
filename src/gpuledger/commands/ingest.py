"""`gpuledger ingest SOURCE SRC`: hand SRC to the collector SOURCE, report what it stored."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from gpuledger.collect import collector
from gpuledger.commands.context import Context


def run(ctx: Context, *, source: str, src: str, **options: Any) -> None:
    result = collector(source).ingest(ctx.store, ctx.settings, src, **options)
    Console().print(result.summary(), highlight=False, soft_wrap=True)
