"""The store's Delta tables as Spark DataFrames, read from a snapshot's own Parquet files.

Spark reads Delta through delta-spark's jars, which a machine without Maven access cannot fetch
at run time; the snapshot's file list comes from the Delta log instead (delta-rs, the library the
store writes with), and Spark reads those Parquet files with the table's canonical schema. The
store writes no deletion vectors and no column mapping, so the files are the snapshot. Partition
columns live in the files' paths (``x_Source=aws/``), which Spark reads under the table's root.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from gpuledger.engine.spark.frames import spark_schema
from gpuledger.schema import TABLES
from gpuledger.store.delta import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# (column, op, value) filters, all of which a file may satisfy: exact on partition columns, by the
# file's min/max statistics on others (a superset: the rows still need filtering).
FileFilters = Sequence[tuple[str, str, Any]]


def snapshot_files(store: Store, table: str, filters: FileFilters) -> list[str]:
    """The Parquet files of ``table``'s current snapshot that may hold rows ``filters`` select;
    none when the table does not exist yet."""
    try:
        delta = DeltaTable(store.uri(table), storage_options=store.storage_options or None)
    except TableNotFoundError:
        return []
    return list(delta.file_uris(file_pruning_predicate=list(filters) or None))


def read_table(
    session: SparkSession, store: Store, table: str, filters: FileFilters = ()
) -> DataFrame:
    """The files of ``table`` that ``filters`` keep, as a Spark DataFrame of its schema."""
    schema = spark_schema(TABLES[table].schema)
    files = snapshot_files(store, table, filters)
    if not files:
        return session.createDataFrame([], schema)
    return session.read.schema(schema).option("basePath", store.uri(table)).parquet(*files)
