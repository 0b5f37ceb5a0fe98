"""The ledger store: canonical tables as Delta Lake tables under the ledger home.

Writes replace the rows of whole keys (a source, account and month of the bill, say) in one Delta
commit (``replace_partitions``), so a restated export replaces its earlier copy and a reader never
sees half a write; the store writes those Parquet files itself, streaming, and commits them
(:mod:`~gpuledger.store.file_replace`). ``replace_where`` replaces the rows a predicate names
instead, through delta-rs's writer; Delta rewrites only the files that hold matching rows, found
from the partition values and the per-file statistics in its log. Every table keeps its history:
``scan(table, version=N)`` reads it as it was. Writers on one machine take a per-table file lock;
Delta's optimistic commit protocol guards the log itself.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from gpuledger.errors import GpuledgerError, StoreError
from gpuledger.schema import TABLES, empty, validate
from gpuledger.store.file_replace import KEEP_LOG, Target, replace_keys
from gpuledger.store.partition_files import table_filesystem
from gpuledger.store.remote_home import check_home_endpoint
from gpuledger.store.state_location import open_state

if TYPE_CHECKING:
    from gpuledger.config import StateConfig

__all__ = ["DEFAULT_HOME", "KEEP_LOG", "STREAM_CHUNK_ROWS", "Store", "resolve_home"]

DEFAULT_HOME = Path.home() / ".gpuledger"


def resolve_home(home: str | Path | None) -> str:
    """The ledger home: the argument, else ``GPULEDGER_HOME``, else ``~/.gpuledger``."""
    chosen = home or os.environ.get("GPULEDGER_HOME") or DEFAULT_HOME
    text = str(chosen)
    return text if "://" in text else str(Path(text).expanduser().resolve())


class Store:
    """Delta tables for facts under one home, and the ledger's operational state."""

    def __init__(
        self,
        home: str | Path | None = None,
        storage_options: Mapping[str, str] | None = None,
        state: StateConfig | None = None,
    ) -> None:
        """Open the ledger at ``home``; its state where ``state`` (``[state]``) says, see
        :mod:`~gpuledger.store.state_location` (a remote home needs ``[state] url``)."""
        self.home = resolve_home(home)
        self.is_local = "://" not in self.home
        self.storage_options = dict(storage_options or {})
        check_home_endpoint(self.home)
        if self.is_local:
            Path(self.home).mkdir(parents=True, exist_ok=True)
        self.state = open_state(self.home, state)

    def uri(self, table: str) -> str:
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}")
        return f"{self.home}/tables/{table}"

    def _delta(self, table: str, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(
                self.uri(table), version=version, storage_options=self.storage_options or None
            )
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self._delta(table) is not None

    def version(self, table: str) -> int | None:
        """The table's current version, or None before its first write."""
        delta = self._delta(table)
        return None if delta is None else delta.version()

    def versions(self) -> dict[str, int | None]:
        """Current version of every canonical table: a cache key that changes with any write."""
        return {name: self.version(name) for name in TABLES}

    def scan(self, table: str, version: int | None = None) -> pl.LazyFrame:
        """The table as a LazyFrame (at ``version`` if given); empty with its schema if absent."""
        delta = self._delta(table, version)
        if delta is None:
            if version is not None:
                raise StoreError(f"table {table!r} has no version {version}")
            return empty(table).lazy()
        return pl.scan_delta(delta)

    def read(self, table: str, version: int | None = None) -> pl.DataFrame:
        return self.scan(table, version).collect()

    def history(self, table: str) -> list[dict[str, Any]]:
        delta = self._delta(table)
        return [] if delta is None else delta.history()

    @contextmanager
    def write_lock(self, table: str) -> Iterator[None]:
        """Hold the table's writer lock (a read-then-write that must see no writer in between)."""
        if not self.is_local:
            yield
            return
        lock_dir = Path(self.home) / "locks"
        lock_dir.mkdir(exist_ok=True)
        with (lock_dir / f"{table}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def replace_partitions(
        self,
        table: str,
        frame: pl.DataFrame | pl.LazyFrame,
        keys: Sequence[str],
        *,
        replace: Sequence[Mapping[str, str]] | None = None,
    ) -> int:
        """Replace every row whose ``keys`` match a key combination ``frame`` touches, in one commit.

        ``replace`` lists extra key combinations to clear even though ``frame`` has no rows for
        them (a restated export that dropped an account, say). Returns the new table version.

        A DataFrame is validated whole before anything is written. A LazyFrame (millions of
        staged rows) is streamed: it is read and validated in chunks as they are written to new
        Parquet files, so memory stays bounded by the chunk size. The files are committed in one
        Delta transaction (:mod:`~gpuledger.store.file_replace`); on any error nothing is
        committed, the files are deleted and the table is unchanged.
        """
        if isinstance(frame, pl.LazyFrame):
            validate(frame.head(0).collect(), table)  # columns and types, before any read
            found = frame.select(keys).unique().collect(engine="streaming").to_dicts()
            chunks: Iterable[pl.DataFrame] = _validated_chunks(frame, table)
        else:
            checked = validate(frame, table)
            found = checked.select(keys).unique().to_dicts()
            chunks = [checked]
        combos = _distinct(found + [dict(c) for c in replace or []])
        if not combos:
            return self.version(table) or 0
        if any(combo[key] is None for combo in combos for key in keys):
            raise StoreError("partition keys may not be null")
        with self.write_lock(table):
            try:
                replace_keys(self._target(table), self._delta(table), chunks, keys, combos)
            except GpuledgerError:
                raise
            except Exception as exc:  # delta-rs and pyarrow raise several unrelated types
                raise StoreError(f"could not write table {table!r}: {exc}") from exc
        version = self.version(table)
        assert version is not None
        return version

    def _target(self, table: str) -> Target:
        root = self.uri(table)
        if self.is_local:
            Path(root).mkdir(parents=True, exist_ok=True)
        return Target(
            table,
            root,
            self.storage_options,
            table_filesystem(root, self.storage_options),
            TABLES[table].schema,
            TABLES[table].partition_by,
        )

    def replace_where(
        self,
        table: str,
        frames: Iterable[pl.DataFrame],
        predicate: str,
        *,
        target_file_size: int | None = None,
        lock: bool = True,
    ) -> int:
        """Replace the rows matching ``predicate`` (Delta SQL) with ``frames``, in one commit.

        ``frames`` is consumed while Delta writes, each validated as it comes, so memory follows
        one frame; every row must match ``predicate`` (Delta refuses the write otherwise). The
        frames must not read Delta tables (delta-rs cannot be re-entered from inside a write).
        ``lock=False`` when the caller already holds :meth:`write_lock`. On any error the table
        is unchanged. Returns the new table version.
        """
        failures: list[GpuledgerError] = []
        data = _checked_stream(frames, table, failures)
        self._overwrite(
            table, data, predicate, failures, target_file_size=target_file_size, lock=lock
        )
        version = self.version(table)
        assert version is not None
        return version

    def _overwrite(
        self,
        table: str,
        data: Any,
        predicate: str,
        failures: list[GpuledgerError],
        *,
        target_file_size: int | None = None,
        lock: bool = True,
    ) -> None:
        """One Delta commit replacing the rows that match ``predicate`` with ``data``."""
        first_write = self._delta(table) is None
        partition_by = list(TABLES[table].partition_by) or None
        with self.write_lock(table) if lock else nullcontext():
            try:
                write_deltalake(
                    self.uri(table),
                    data,
                    mode="overwrite",
                    partition_by=partition_by if first_write else None,
                    predicate=None if first_write else predicate,
                    storage_options=self.storage_options or None,
                    target_file_size=target_file_size,
                    post_commithook_properties=KEEP_LOG,
                )
            except Exception as exc:  # delta-rs raises several unrelated types
                if failures:  # the stream refused a chunk: report that, not delta's wrapper
                    raise failures[0] from exc
                raise StoreError(f"could not write table {table!r}: {exc}") from exc

    def append(self, table: str, frame: pl.DataFrame) -> int:
        """Append rows (telemetry, quarantine) after validation; returns the new version."""
        spec = TABLES[table]
        frame = validate(frame, table)
        with self.write_lock(table):
            try:
                write_deltalake(
                    self.uri(table),
                    frame.to_arrow(),
                    mode="append",
                    partition_by=list(spec.partition_by) or None,
                    storage_options=self.storage_options or None,
                    post_commithook_properties=KEEP_LOG,
                )
            except Exception as exc:
                raise StoreError(f"could not write table {table!r}: {exc}") from exc
        version = self.version(table)
        assert version is not None
        return version


STREAM_CHUNK_ROWS = 250_000


def _validated_chunks(frame: pl.LazyFrame, table: str) -> Iterator[pl.DataFrame]:
    """``frame`` in chunks of :data:`STREAM_CHUNK_ROWS` rows, each validated as it is read."""
    # Slices, not collect_batches: the latter reads ahead of the writer and holds gigabytes.
    total = frame.select(pl.len()).collect(engine="streaming").item()
    for offset in range(0, total, STREAM_CHUNK_ROWS):
        chunk = frame.slice(offset, STREAM_CHUNK_ROWS).collect(engine="streaming")
        yield validate(chunk, table, row_offset=offset)
        del chunk  # release this chunk before the next one is read


def _checked_stream(
    frames: Iterable[pl.DataFrame], table: str, failures: list[GpuledgerError]
) -> pa.RecordBatchReader:
    """Arrow batches of ``frames``, each validated; a refusal is kept in ``failures``.

    Newest Arrow level: strings stay views, so millions of rows are not copied.
    """
    schema = empty(table).to_arrow(compat_level=pl.CompatLevel.newest()).schema

    def batches() -> Iterator[pa.RecordBatch]:
        offset = 0
        for frame in frames:
            try:
                checked = validate(frame, table, row_offset=offset)
            except GpuledgerError as exc:
                failures.append(exc)
                raise
            offset += checked.height
            yield from checked.to_arrow(compat_level=pl.CompatLevel.newest()).to_batches()
            del frame, checked  # release this frame before the next one is made

    return pa.RecordBatchReader.from_batches(schema, batches())


def _distinct(combos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
    for combo in combos:
        seen.setdefault(tuple(sorted(combo.items())), combo)
    return list(seen.values())
