"""`gpuledger ingest SOURCE SRC`: hand SRC to the collector SOURCE, report what it stored."""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from rich.console import Console

from gpuledger.cli import Context
from gpuledger.config import Settings
from gpuledger.errors import UsageError
from gpuledger.store import Store


class IngestSummary(Protocol):
    def summary(self) -> str: ...


class Collector(Protocol):
    def ingest(
        self, store: Store, settings: Settings, src: str, **options: Any
    ) -> IngestSummary: ...


def collector(source: str) -> Collector:
    """The collector module for a source name (``collect/<source>.py``)."""
    try:
        module: Collector = importlib.import_module(f"gpuledger.collect.{source}")
    except ModuleNotFoundError as exc:
        if exc.name != f"gpuledger.collect.{source}":
            raise
        raise UsageError(f"no collector for {source!r} in this version of gpuledger") from exc
    return module


def run(ctx: Context, *, source: str, src: str, **options: Any) -> None:
    result = collector(source).ingest(ctx.store, ctx.settings, src, **options)
    Console().print(result.summary(), highlight=False, soft_wrap=True)
