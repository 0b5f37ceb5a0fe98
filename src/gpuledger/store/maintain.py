"""Store maintenance: compact each Delta table's small files, then vacuum files no version in use needs.

Appends leave one small file per partition and write (telemetry above all), and every replace or
compaction leaves the files it superseded on disk. ``maintain`` rewrites each partition's small
files into large ones (one Delta commit that changes no row), then deletes the files that no
version in use references and that are older than the retention.

Never deleted: the files of the table's latest version, and every file of each version that a
closed month pins (``closed_periods.table_versions``). A closed month's statements are a stored
document, but its FOCUS rows and its per-instance drill-down are read from ``cost`` and
``allocation`` at the pinned versions, so those versions stay readable for as long as the month
stays closed. Files younger than the retention are kept too: a reader of a recent version, or a
writer whose commit is still under way on another machine, may need them. Maintenance commits
never clean up expired log entries: time travel to a pinned version needs them.

Each table's run is recorded in the state database (:mod:`gpuledger.store.maintenance_log`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from gpuledger.errors import StoreError, UsageError
from gpuledger.schema import TABLES
from gpuledger.store.delta import KEEP_LOG, Store
from gpuledger.store.maintenance_log import record_table_run
from gpuledger.store.state import StateDB

DEFAULT_RETENTION_HOURS = 168  # Delta's own default (delta.deletedFileRetentionDuration)
SMALL_FILE_BYTES = 16 * 1024**2  # a file below this is one compaction would merge
MANY_SMALL_FILES = 100  # mergeable small files past which `status` suggests `gpuledger maintain`

# Log cleanup would drop the JSON commits a pinned version is read from.


@dataclass(frozen=True)
class TableFiles:
    """A table's latest version as its Delta log describes it; no data file is read."""

    files: int
    bytes: int
    mergeable: int  # small files that share their partition with another small file

    @property
    def needs_maintenance(self) -> bool:
        return self.mergeable >= MANY_SMALL_FILES


@dataclass(frozen=True)
class TableMaintenance:
    """What one table's maintenance did (or, on a dry run, would do)."""

    table: str
    before: TableFiles
    after: TableFiles
    files_compacted: int
    files_vacuumed: int
    protected_versions: tuple[int, ...]
    seconds: float
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "files_before": self.before.files,
            "files_after": self.after.files,
            "bytes_before": self.before.bytes,
            "bytes_after": self.after.bytes,
            "files_compacted": self.files_compacted,
            "files_vacuumed": self.files_vacuumed,
            "protected_versions": list(self.protected_versions),
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
        }


def _open(store: Store, table: str, version: int | None = None) -> DeltaTable | None:
    try:
        return DeltaTable(
            store.uri(table), version=version, storage_options=store.storage_options or None
        )
    except TableNotFoundError:
        return None


def files_of(delta: DeltaTable) -> TableFiles:
    """Files, bytes and mergeable small files of ``delta``'s version, from its add actions."""
    actions = pl.DataFrame(delta.get_add_actions(flatten=True))
    if actions.is_empty():
        return TableFiles(files=0, bytes=0, mergeable=0)
    partitions = [name for name in actions.columns if name.startswith("partition.")]
    small = actions.filter(pl.col("size_bytes") < SMALL_FILE_BYTES)
    per_partition = (
        small.group_by(partitions).len()["len"] if partitions else pl.Series([small.height])
    )
    return TableFiles(
        files=actions.height,
        bytes=int(actions["size_bytes"].sum()),
        mergeable=int(per_partition.filter(per_partition > 1).sum()),
    )


def table_files(store: Store) -> dict[str, TableFiles]:
    """Files of every canonical table that exists, by table name."""
    found = {name: _open(store, name) for name in TABLES}
    return {name: files_of(delta) for name, delta in found.items() if delta is not None}


def pinned_versions(state: StateDB) -> dict[str, tuple[int, ...]]:
    """Per table, the versions that closed months were computed from, ascending."""
    pins: dict[str, set[int]] = {}
    for closed in state.closed_periods().values():
        for table, version in closed["table_versions"].items():
            if version is not None:
                pins.setdefault(table, set()).add(int(version))
    return {table: tuple(sorted(versions)) for table, versions in pins.items()}


def _check_pins_readable(store: Store, table: str, versions: Iterable[int]) -> None:
    """Refuse to touch a table whose pinned versions can no longer be loaded."""
    for version in versions:
        try:
            found = _open(store, table, version)
        except Exception as exc:  # delta-rs raises several unrelated types
            found = None
            reason = str(exc)
        else:
            reason = "the table is missing"
        if found is None:
            raise StoreError(
                f"table {table!r}: version {version}, pinned by a closed month, cannot be loaded"
                f" ({reason}); nothing was compacted or vacuumed"
            )


def _still_on_disk(store: Store, table: str, paths: Sequence[str]) -> int:
    """How many of the vacuum's relative ``paths`` exist (it also lists tombstones long gone)."""
    if not store.is_local:
        return len(paths)
    root = Path(store.uri(table))
    return sum(1 for path in paths if (root / path).exists())


@contextmanager
def _as_store_error(table: str) -> Iterator[None]:
    """delta-rs failures as a StoreError naming the table; a lost commit race is transient."""
    try:
        yield
    except CommitFailedError as exc:
        raise StoreError(
            f"table {table!r}: a concurrent write won the commit; run maintain again ({exc})",
            transient=True,
        ) from exc
    except (DeltaError, OSError) as exc:
        raise StoreError(f"table {table!r}: maintenance failed: {exc}") from exc


def maintain_table(
    store: Store,
    table: str,
    *,
    retention_hours: int,
    dry_run: bool,
    protected: Sequence[int] = (),
) -> TableMaintenance | None:
    """Compact ``table``, then vacuum it keeping the ``protected`` versions; None if absent.

    A dry run commits nothing and deletes nothing: it reports the mergeable small files as
    what compaction would rewrite, and what vacuum would delete before that compaction.
    """
    started = time.perf_counter()
    delta = _open(store, table)
    if delta is None:
        return None
    before = files_of(delta)
    _check_pins_readable(store, table, protected)
    # Same lock as the store's writers: vacuum must not see a local writer's uncommitted files.
    with store.write_lock(table), _as_store_error(table):
        if dry_run:
            compacted = before.mergeable
        else:
            metrics = delta.optimize.compact(post_commithook_properties=KEEP_LOG)
            compacted = int(metrics["numFilesRemoved"]) if metrics["numFilesAdded"] else 0
            delta = _open(store, table) or delta
        candidates = delta.vacuum(
            retention_hours=retention_hours,
            dry_run=True,
            enforce_retention_duration=False,
            full=True,
            keep_versions=list(protected) or None,
        )
        vacuumed = _still_on_disk(store, table, candidates)
        if candidates and not dry_run:
            delta.vacuum(
                retention_hours=retention_hours,
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
                keep_versions=list(protected) or None,
                post_commithook_properties=KEEP_LOG,
            )
        if not dry_run:
            # Readers replay the log from the last checkpoint: after many appends, one here
            # saves every later reader that replay (it deletes no log entry).
            (_open(store, table) or delta).create_checkpoint()
    after = before if dry_run else files_of(_open(store, table) or delta)
    return TableMaintenance(
        table=table,
        before=before,
        after=after,
        files_compacted=compacted,
        files_vacuumed=vacuumed,
        protected_versions=tuple(protected),
        seconds=time.perf_counter() - started,
        dry_run=dry_run,
    )


def maintain(
    store: Store,
    tables: Sequence[str] = (),
    *,
    retention_hours: int = DEFAULT_RETENTION_HOURS,
    dry_run: bool = False,
    on_table: Callable[[str], None] | None = None,
) -> list[TableMaintenance]:
    """Maintain ``tables`` (default: every canonical table that exists), recording each run.

    ``on_table`` is called with each table's name once it is done (a progress bar's hook).
    """
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise UsageError(
            f"unknown table(s) {', '.join(unknown)}; expected some of {', '.join(TABLES)}"
        )
    if retention_hours < 0:
        raise UsageError(f"--retention-hours must be 0 or more, got {retention_hours}")
    pins = pinned_versions(store.state)
    run_id = uuid.uuid4().hex[:16]
    results = []
    for table in tables or list(TABLES):
        result = maintain_table(
            store,
            table,
            retention_hours=retention_hours,
            dry_run=dry_run,
            protected=pins.get(table, ()),
        )
        if result is not None:
            record_table_run(store.state, run_id, retention_hours, result.as_dict())
            results.append(result)
        if on_table is not None:
            on_table(table)
    return results
