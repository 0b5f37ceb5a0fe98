"""Collect step: each source (``aws``, ``gcp``, ``focus``, ``gpu``, ``onprem``, ``slurm``) is a subpackage with one contract.

A collector module exposes ``ingest(store, settings, src, **options)`` and returns a result that
can describe itself; :func:`collector` finds one by source name, importing only that source.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from gpuledger.errors import UsageError

if TYPE_CHECKING:
    from gpuledger.config import Settings
    from gpuledger.store.delta import Store

SOURCES = ("aws", "gcp", "focus", "gpu", "onprem", "slurm")


class IngestSummary(Protocol):
    """What every collector returns: how many rows it stored, and a line saying what it did."""

    @property
    def rows(self) -> int: ...

    def summary(self) -> str: ...


class Collector(Protocol):
    def ingest(
        self, store: Store, settings: Settings, src: str, **options: Any
    ) -> IngestSummary: ...


def collector(source: str) -> Collector:
    """The collector for a source name (``gpuledger.collect.<source>``)."""
    if source not in SOURCES:
        raise UsageError(
            f"no collector for {source!r} in this version of gpuledger; "
            f"expected one of {', '.join(SOURCES)}"
        )
    module: Collector = importlib.import_module(f"gpuledger.collect.{source}")
    return module
