"""Frames across the Spark boundary: Polars schemas as Spark's, Arrow tables back as Polars frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def spark_schema(schema: pl.Schema) -> StructType:
    """The Spark schema of a Polars schema (through Arrow: decimals, UTC times and tag lists)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    empty = pl.DataFrame(schema=schema).to_arrow(compat_level=pl.CompatLevel.oldest())
    return from_arrow_schema(empty.schema)


def to_polars(table: pa.Table, schema: pl.Schema) -> pl.DataFrame:
    """``table`` (from Spark) with exactly the columns of ``schema``, in their Polars types.

    Spark hands times over in its session's time zone and strings as Arrow strings; the engine
    reads the store's types, UTC times included. Columns outside ``schema`` are left behind.
    """
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table, never a bare array
    return frame.select(_as(name, dtype) for name, dtype in schema.items())


def _as(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` as ``dtype``; a zoned time is converted to ``dtype``'s zone, not relabelled."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return pl.col(name).dt.convert_time_zone(dtype.time_zone).cast(dtype)
    return pl.col(name).cast(dtype)


def to_arrow(frame: pl.DataFrame, schema: StructType) -> pa.Table:
    """``frame`` as the Arrow table Spark expects for ``schema`` (a UDF's declared result)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    return table.cast(to_arrow_schema(schema, timezone="UTC"))
