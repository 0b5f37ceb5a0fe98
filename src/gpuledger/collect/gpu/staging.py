"""GPU telemetry slices → a local spill folder by UTC day, so the store write can go day by day.

An ingest reads its input slice by slice; every bucket of a day may be spread over several files
or slices (an agent's shutdown file and its successor's). The spill gathers each day's rows on
local disk, so the writer holds one day at a time whatever the input's size or order.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import TracebackType

import polars as pl

from gpuledger.schema import Usage

_DAY = "__day"


class DaySpill:
    """A temporary folder of Arrow IPC parts (LZ4), one subfolder per UTC day of bucket_start."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="gpuledger-gpu-"))
        self._parts = 0
        self.row_count = 0

    def __enter__(self) -> DaySpill:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        shutil.rmtree(self._root, ignore_errors=True)

    def add(self, rows: pl.DataFrame) -> None:
        """Spill canonical rows, split by the day their bucket starts."""
        if rows.is_empty():
            return
        day = pl.col(Usage.bucket_start).dt.date()
        first, last = rows.select(day.min().alias("first"), day.max().alias("last")).row(0)
        if first == last:  # a slice of one day: the usual shape, no split needed
            self._write(first, rows)
        else:
            parts = rows.with_columns(day.alias(_DAY)).partition_by(_DAY, as_dict=True)
            for (key,), part in parts.items():
                assert isinstance(key, date)
                self._write(key, part.drop(_DAY))
        self.row_count += rows.height

    def _write(self, day: date, rows: pl.DataFrame) -> None:
        folder = self._root / day.isoformat()
        folder.mkdir(exist_ok=True)
        rows.write_ipc(folder / f"{self._parts:06d}.arrow", compression="lz4")
        self._parts += 1

    def scan(self) -> pl.LazyFrame | None:
        """All spilled rows, lazily; None when nothing was spilled."""
        return pl.scan_ipc(sorted(self._root.glob("*/*.arrow"))) if self.row_count else None

    def dates(self) -> list[date]:
        """The days spilled so far, oldest first."""
        return sorted(date.fromisoformat(p.name) for p in self._root.iterdir() if p.is_dir())

    def rows(self, day: date) -> pl.DataFrame:
        """The rows spilled for ``day``."""
        return pl.scan_ipc(sorted((self._root / day.isoformat()).glob("*.arrow"))).collect()

    def days(self) -> Iterator[tuple[date, pl.DataFrame]]:
        """Every spilled day with its rows, oldest first, one day read at a time."""
        for day in self.dates():
            yield day, self.rows(day)
