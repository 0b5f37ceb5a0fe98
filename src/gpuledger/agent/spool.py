"""Agent: the local spool of closed buckets, one CSV file per bucket, written atomically.

A bucket file is written under a hidden temporary name, flushed to disk and renamed into place,
so a reader (``gpuledger ingest gpu``) sees a whole file or none, and a crash loses at most the
open bucket. The agent marks its folder with ``.gpuledger-spool``; ``gpuledger ingest gpu`` marks
a file of such a folder shipped by creating ``.NAME.shipped`` next to it (and leaves any other
folder, a copy of telemetry or the sample data, untouched). The spool is bounded: past ``max_bytes`` the oldest shipped files go first; if
unshipped files must go too, each deletion is logged as an error and counted in the metrics, so
data loss is never silent and the disk never fills.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

log = logging.getLogger("gpuledger.agent")

SPOOL_SUFFIX = ".csv"
SPOOL_PATTERN = f"gpu_usage-*{SPOOL_SUFFIX}"
SPOOL_MARKER = ".gpuledger-spool"


def is_spool_folder(folder: Path) -> bool:
    """Whether an agent writes to ``folder`` (so ingest may mark its files shipped)."""
    return (folder / SPOOL_MARKER).is_file()


def shipped_marker(path: Path) -> Path:
    """The marker file that says ``path`` is in the store and may be pruned."""
    return path.with_name(f".{path.name}.shipped")


def spool_file_name(host: str, bucket_start: datetime, bucket_seconds: int) -> str:
    safe_host = "".join(c if c.isalnum() or c in "-." else "_" for c in host)
    return f"gpu_usage-{safe_host}-{bucket_start:%Y%m%dT%H%M%SZ}-{bucket_seconds}s{SPOOL_SUFFIX}"


def write_csv(handle: TextIO, rows: Sequence[Mapping[str, object]]) -> None:
    """Rows as CSV with a header: timestamps in ISO 8601 with their offset, nulls as empty."""
    if not rows:
        return
    writer = csv.writer(handle)
    columns = list(rows[0])
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row[column]) for column in columns])


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class PruneResult:
    shipped_removed: int = 0
    unshipped_removed: int = 0
    bytes_after: int = 0


class Spool:
    """A folder of bucket files with a size bound."""

    def __init__(self, folder: Path, *, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SPOOL_MARKER).touch()

    def write(self, rows: Sequence[Mapping[str, object]], name: str) -> Path:
        """Write one bucket atomically (temporary file, fsync, rename) and return its path."""
        final = self.folder / name
        temporary = self.folder / f".{name}.tmp"
        try:
            with temporary.open("w", newline="", encoding="utf-8") as handle:
                write_csv(handle, rows)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
        finally:
            temporary.unlink(missing_ok=True)
        return final

    def files(self) -> list[Path]:
        """Bucket files, oldest first (names sort by bucket start within a host)."""
        return sorted(self.folder.glob(SPOOL_PATTERN), key=lambda p: (p.stat().st_mtime, p.name))

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files())

    def prune(self) -> PruneResult:
        """Bring the spool under its bound: shipped files first, then (loudly) unshipped ones."""
        files = self.files()
        total = sum(p.stat().st_size for p in files)
        result = PruneResult()
        shipped = [p for p in files if shipped_marker(p).exists()]
        unshipped = [p for p in files if not shipped_marker(p).exists()]
        for path in shipped + unshipped:
            if total <= self.max_bytes:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)
            if path in shipped:
                shipped_marker(path).unlink(missing_ok=True)
                result.shipped_removed += 1
            else:
                log.error(
                    "spool over its %d MiB bound: deleted unshipped bucket file %s; "
                    "run `gpuledger ingest gpu %s` more often or raise --max-spool-mb",
                    self.max_bytes // 2**20,
                    path.name,
                    self.folder,
                )
                result.unshipped_removed += 1
        result.bytes_after = total
        return result
