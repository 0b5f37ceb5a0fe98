"""New Parquet files of a Delta table, written group by group as frames stream in.

Part of ``store/``, the writing half of :meth:`~gpuledger.store.delta.Store.replace_partitions`
(:mod:`~gpuledger.store.file_replace` commits them). Rows are grouped by the table's partition
columns and the replace keys, one open file per group, so a later replace of one key removes
whole files instead of rewriting them. Each frame is split by group and each part written as a
row group, so memory holds one frame and the open writers, never the input. Files are laid out as
delta-rs lays them (``key=value/part-….parquet``, values percent-encoded, partition columns left
out of the file) and closed past :data:`TARGET_FILE_BYTES`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import quote

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.fs as pafs  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from deltalake.fs import DeltaStorageHandler
from deltalake.transaction import AddAction

from gpuledger.errors import StoreError
from gpuledger.store.file_stats import delta_stats, indexed_columns

TARGET_FILE_BYTES = 128 * 2**20  # as delta-rs's default target size, near enough


def table_filesystem(root: str, storage_options: dict[str, str]) -> pafs.FileSystem:
    """The table folder as a file system addressed by paths relative to it."""
    if "://" not in root:
        return pafs.SubTreeFileSystem(root, pafs.LocalFileSystem())
    return pafs.PyFileSystem(DeltaStorageHandler(root, storage_options or None))


def file_schema(schema: pl.Schema, partition_by: Sequence[str]) -> pa.Schema:
    """The Arrow schema of the data files: the table's columns less its partition columns.

    Flat strings stay string views (Polars' newest Arrow level), written without a copy; nested
    columns take the oldest level, large strings, as pyarrow's writer cannot slice views in lists.
    """
    empty = pl.DataFrame(schema=schema).drop(partition_by)
    newest = empty.to_arrow(compat_level=pl.CompatLevel.newest()).schema
    oldest = empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema
    return pa.schema(oldest.field(f.name) if pa.types.is_nested(f.type) else f for f in newest)


@dataclass
class _OpenFile:
    path: str  # relative to the table, as stored (not percent-encoded for the log)
    partition: dict[str, str]
    sink: pa.NativeFile
    writer: pq.ParquetWriter


class PartitionFiles:
    """Parquet files being written into one table; nothing is visible until they are committed."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        schema: pl.Schema,
        partition_by: Sequence[str],
        group_by: Sequence[str],
    ) -> None:
        self._fs = filesystem
        self._partition_by = list(partition_by)
        self._group_by = list(dict.fromkeys([*partition_by, *group_by]))
        self._file_schema = file_schema(schema, partition_by)
        self._indexed = indexed_columns(self._file_schema, self._partition_by)
        self._open: dict[tuple[object, ...], _OpenFile] = {}
        self.begun: list[str] = []  # every file started, for a failed write to delete
        self.added: list[AddAction] = []

    def write(self, frame: pl.DataFrame) -> None:
        """Append ``frame`` (the table's exact schema) to the files of its groups."""
        if frame.is_empty():
            return
        groups = frame.select(self._group_by).unique(maintain_order=True)
        if groups.height == 1:
            self._write_group(groups.row(0), frame)
            return
        for key, part in frame.partition_by(self._group_by, as_dict=True).items():
            self._write_group(key, part)

    def finish(self) -> list[AddAction]:
        """Close every open file; the add actions of all files written."""
        for key in list(self._open):
            self._close(key)
        return self.added

    def discard(self) -> None:
        """Close and delete every file begun: a failed write leaves nothing behind."""
        for current in self._open.values():
            with suppress(Exception):  # a half-written file: it is deleted below anyway
                current.writer.close()
            with suppress(Exception):
                current.sink.close()
        self._open.clear()
        for path in self.begun:
            with suppress(FileNotFoundError):
                self._fs.delete_file(path)

    def _write_group(self, key: tuple[object, ...], rows: pl.DataFrame) -> None:
        current = self._open.get(key) or self._begin(key, rows)
        data = rows.drop(self._partition_by).to_arrow(compat_level=pl.CompatLevel.newest())
        current.writer.write_table(data.cast(self._file_schema))
        if current.sink.tell() >= TARGET_FILE_BYTES:
            self._close(key)

    def _begin(self, key: tuple[object, ...], rows: pl.DataFrame) -> _OpenFile:
        partition = {}
        for name in self._partition_by:
            value = rows.get_column(name)[0]
            if value is None:
                raise StoreError(f"partition column {name!r} may not be null")
            partition[name] = str(value)
        folder = "/".join(f"{name}={quote(value, safe='')}" for name, value in partition.items())
        name = f"part-{len(self.begun):05d}-{uuid.uuid4()}-c000.snappy.parquet"
        path = f"{folder}/{name}" if folder else name
        if folder:
            self._fs.create_dir(folder, recursive=True)
        self.begun.append(path)
        sink = self._fs.open_output_stream(path)
        writer = pq.ParquetWriter(sink, self._file_schema, compression="snappy")
        self._open[key] = _OpenFile(path, partition, sink, writer)
        return self._open[key]

    def _close(self, key: tuple[object, ...]) -> None:
        current = self._open.pop(key)
        current.writer.close()
        size = current.sink.tell()
        current.sink.close()
        self.added.append(
            AddAction(
                path=quote(current.path, safe="/="),
                size=size,
                partition_values=current.partition,
                modification_time=int(time.time() * 1000),
                data_change=True,
                stats=delta_stats(current.writer.writer.metadata, self._indexed),
            )
        )
