"""A key replace as one Delta commit of files written here: which stored files go, and the commit.

Part of ``store/``, behind :meth:`~gpuledger.store.delta.Store.replace_partitions`. New rows are
written by :class:`~gpuledger.store.partition_files.PartitionFiles`; each stored file is then
judged from its partition values and the statistics of the key columns in the Delta log:

- every row is a replaced key's (its key columns' min = max = that key, no nulls): removed;
- it may hold a replaced key's rows among others: its other rows are copied into new files, and
  it is removed;
- otherwise it stays.

The removes and adds go in one transaction, built on the snapshot the files were judged on and
committed with no automatic retry, so delta-rs refuses it if any commit landed in between. The
table is then reloaded: if the files judged above are exactly the same, the commit is made again
on the new snapshot (the other writer touched other keys); if not, the replace fails with a
transient :class:`StoreError` and its files are deleted, so a concurrent write to the same keys is
never lost nor kept twice. A failure anywhere before the commit leaves the table as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_
from typing import Any
from urllib.parse import unquote

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.fs as pafs  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from gpuledger.errors import StoreError
from gpuledger.store.partition_files import PartitionFiles

# Closed months time-travel to pinned versions: no commit may delete old log entries.
KEEP_LOG = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
MAX_COMMIT_ATTEMPTS = 5
COPY_BATCH_ROWS = 250_000


@dataclass(frozen=True)
class Target:
    """Where a replace writes: the table folder, its storage, schema and partition columns."""

    name: str
    root: str
    storage_options: Mapping[str, str]
    filesystem: pafs.FileSystem
    schema: pl.Schema
    partition_by: tuple[str, ...]

    def load(self) -> DeltaTable:
        return DeltaTable(self.root, storage_options=dict(self.storage_options) or None)


def replace_keys(
    target: Target,
    delta: DeltaTable | None,
    chunks: Iterable[pl.DataFrame],
    keys: Sequence[str],
    combos: list[dict[str, Any]],
) -> None:
    """Replace every row whose ``keys`` equal one of ``combos`` with ``chunks``, in one commit.

    ``delta`` is the table as loaded before (None before its first write); every chunk must
    have the table's exact schema and only keys listed in ``combos``.
    """
    empty = pl.DataFrame(schema=target.schema)
    arrow_schema = empty.to_arrow(compat_level=pl.CompatLevel.newest()).schema
    if delta is not None:
        _check_schema(target, delta, arrow_schema)
    files = PartitionFiles(target.filesystem, target.schema, target.partition_by, keys)
    try:
        for chunk in chunks:
            files.write(chunk)
        if delta is None:
            create_table_with_add_actions(
                target.root,
                DeltaSchema.from_arrow(arrow_schema),
                files.finish(),
                mode="error",
                partition_by=list(target.partition_by) or None,
                storage_options=dict(target.storage_options) or None,
                post_commithook_properties=KEEP_LOG,
            )
            return
        touched = _touched_files(delta, target.partition_by, keys, combos)
        _copy_kept_rows(target, touched, keys, combos, files)
        _commit(target, delta, arrow_schema, files.finish(), touched, keys, combos)
    except BaseException:
        files.discard()
        raise


def _check_schema(target: Target, delta: DeltaTable, arrow_schema: pa.Schema) -> None:
    """Refuse to add files to a table whose columns are not the ones written here."""
    stored = [field.name for field in delta.schema().fields]
    if delta.schema().to_json() != DeltaSchema.from_arrow(arrow_schema).to_json():
        raise StoreError(
            f"table {target.name!r} at {target.root} has columns {', '.join(stored)};"
            f" expected the {target.name} schema of this gpuledger version: {', '.join(target.schema)}"
        )


def _touched_files(
    delta: DeltaTable,
    partition_by: Sequence[str],
    keys: Sequence[str],
    combos: list[dict[str, Any]],
) -> pl.DataFrame:
    """The stored files that may hold a replaced key's rows, with ``whole`` where all rows do.

    Columns: ``path`` (as in the log), ``size_bytes``, ``partition.<column>``, ``whole``.
    """
    stored = pl.DataFrame(pa.table(delta.get_add_actions(flatten=True)))
    if stored.is_empty():
        return stored.select("path", "size_bytes").with_columns(whole=pl.lit(False))
    tests = [_file_tests(stored.schema, combo, keys, partition_by) for combo in combos]
    may_hold = reduce(or_, (may for may, _ in tests))
    holds_only = reduce(or_, (only for _, only in tests))
    partition_columns = [f"partition.{column}" for column in partition_by]
    return stored.filter(may_hold).select(
        "path", "size_bytes", *partition_columns, whole=holds_only
    )


def _file_tests(
    stored: pl.Schema, combo: dict[str, Any], keys: Sequence[str], partition_by: Sequence[str]
) -> tuple[pl.Expr, pl.Expr]:
    """Per add action: may the file hold ``combo``'s rows, and does it hold only those?

    A key column without statistics in the log may hold anything and is never known to hold one
    key only, so such a file is copied, never dropped whole.
    """
    may = [pl.col(f"partition.{k}") == str(combo[k]) for k in keys if k in partition_by]
    only = list(may)
    for key in (k for k in keys if k not in partition_by):
        low, high, nulls = f"min.{key}", f"max.{key}", f"null_count.{key}"
        if not {low, high, nulls} <= set(stored.names()):
            only.append(pl.lit(False))
            continue
        value = pl.lit(combo[key], dtype=stored[low])
        may.append(((pl.col(low) <= value) & (pl.col(high) >= value)).fill_null(True))
        exact = (pl.col(low) == value) & (pl.col(high) == value) & (pl.col(nulls) == 0)
        only.append(exact.fill_null(False))
    return reduce(and_, may, pl.lit(True)), reduce(and_, only, pl.lit(True))


def _copy_kept_rows(
    target: Target,
    touched: pl.DataFrame,
    keys: Sequence[str],
    combos: list[dict[str, Any]],
    files: PartitionFiles,
) -> None:
    """Write the rows of partly replaced files that no combo names into ``files``."""
    replaced = pl.DataFrame(combos, schema={key: target.schema[key] for key in keys})
    for stored in touched.filter(~pl.col("whole")).iter_rows(named=True):
        partition = {
            column: pl.lit(stored[f"partition.{column}"]).cast(target.schema[column])
            for column in target.partition_by
        }
        with target.filesystem.open_input_file(unquote(stored["path"])) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=COPY_BATCH_ROWS):
                rows = pl.DataFrame(pl.from_arrow(batch)).with_columns(**partition)
                kept = rows.join(replaced, on=list(keys), how="anti", nulls_equal=True)
                files.write(kept.select(pl.col(n).cast(t) for n, t in target.schema.items()))


def _commit(
    target: Target,
    delta: DeltaTable,
    arrow_schema: pa.Schema,
    added: list[AddAction],
    touched: pl.DataFrame,
    keys: Sequence[str],
    combos: list[dict[str, Any]],
) -> None:
    """One transaction: ``touched`` files out, ``added`` in; see the module docstring."""
    judged = set(touched.get_column("path").to_list())
    for _attempt in range(MAX_COMMIT_ATTEMPTS):
        removed = [
            _remove_action(row, target.partition_by) for row in touched.iter_rows(named=True)
        ]
        try:
            delta.create_write_transaction(
                [*added, *removed],
                "append",
                arrow_schema,
                partition_by=list(target.partition_by) or None,
                commit_properties=CommitProperties(max_commit_retries=0),
                post_commithook_properties=KEEP_LOG,
            )
            return
        except CommitFailedError:
            delta = target.load()
            touched = _touched_files(delta, target.partition_by, keys, combos)
            if set(touched.get_column("path").to_list()) != judged:
                raise StoreError(
                    f"table {target.name!r}: another writer changed the rows being replaced;"
                    " nothing was written, run it again",
                    transient=True,
                ) from None
    raise StoreError(
        f"table {target.name!r}: {MAX_COMMIT_ATTEMPTS} commits in a row were overtaken by other"
        " writers; nothing was written, run it again",
        transient=True,
    )


def _remove_action(stored: dict[str, Any], partition_by: Sequence[str]) -> RemoveAction:
    return RemoveAction(
        path=stored["path"],
        data_change=True,
        deletion_timestamp=int(time.time() * 1000),
        size=stored["size_bytes"],
        partition_values={column: stored[f"partition.{column}"] for column in partition_by},
    )
