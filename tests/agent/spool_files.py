"""Read agent spool files back the way `gpuledger ingest gpu` does, refusing any quarantined row."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gpuledger.collect.files import SourceFile
from gpuledger.collect.gpu.files import read_usage_file


def read_spool_file(path: Path) -> pl.DataFrame:
    """The canonical rows of one spool file; every row must pass the ingest reader's checks."""
    rows, quarantine = read_usage_file(SourceFile(str(path), path.stat().st_size))
    assert quarantine.is_empty(), quarantine.to_dicts()
    return rows
