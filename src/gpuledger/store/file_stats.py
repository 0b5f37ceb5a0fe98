"""Delta statistics of one written Parquet file, read from its footer: the add action's ``stats``.

Part of ``store/``, used by :mod:`~gpuledger.store.partition_files`. Readers skip whole files by
these (``numRecords``, ``minValues``, ``maxValues``, ``nullCount``), so a bound written here must
hold for every row of the file. As delta-rs does, only the first :data:`INDEXED_COLUMNS` columns
of the table are indexed and nested columns get none. The Parquet writer already computed each row
group's minimum, maximum and null count; they are merged here, never recomputed from the rows.
Raw Parquet values are decoded by the column's Arrow type here: pyarrow's own decoding of them
imports pandas, seconds per process.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

INDEXED_COLUMNS = 32  # Delta's default ``dataSkippingNumIndexedCols``
MAX_STRING_BOUND = 256  # longer strings get no bounds: the log would carry whole values


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0.001}  # microseconds per unit


def indexed_columns(schema: pa.Schema, partition_by: Sequence[str]) -> dict[str, pa.DataType]:
    """The columns whose statistics are written, with their types: the first flat ones."""
    first = [field for field in schema if field.name not in partition_by][:INDEXED_COLUMNS]
    return {field.name: field.type for field in first if not pa.types.is_nested(field.type)}


@dataclass
class _Bounds:
    """One column's merged statistics across row groups; ``None`` where unknown."""

    low: Any = None
    high: Any = None
    nulls: int | None = 0
    bounded: bool = True  # False once a row group with values had no min/max
    seen: bool = False  # True once a row group had a min/max


def delta_stats(metadata: pq.FileMetaData, columns: Mapping[str, pa.DataType]) -> str:
    """The Delta ``stats`` JSON of a file with this footer, for ``columns`` (name to type)."""
    bounds = {name: _Bounds() for name in columns}
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            name = chunk.path_in_schema
            if name in bounds:
                _merge(bounds[name], chunk, columns[name])
    low: dict[str, Any] = {}
    high: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name, merged in bounds.items():
        if merged.nulls is not None:
            nulls[name] = merged.nulls
        if merged.bounded and merged.seen:
            low_json, high_json = _json_bound(merged.low, "low"), _json_bound(merged.high, "high")
            if low_json is not None and high_json is not None:
                low[name], high[name] = low_json, high_json
    stats = {"numRecords": metadata.num_rows, "minValues": low, "maxValues": high}
    return json.dumps({**stats, "nullCount": nulls}, separators=(",", ":"))


def _merge(merged: _Bounds, chunk: pq.ColumnChunkMetaData, dtype: pa.DataType) -> None:
    statistics = chunk.statistics
    if statistics is None:
        merged.nulls = None
        merged.bounded = False
        return
    if merged.nulls is not None and statistics.has_null_count:
        merged.nulls += statistics.null_count
    else:
        merged.nulls = None
    if not statistics.has_min_max:
        all_null = statistics.has_null_count and statistics.null_count == chunk.num_values
        merged.bounded = merged.bounded and all_null
        return
    low, high = _decode(statistics.min_raw, dtype), _decode(statistics.max_raw, dtype)
    if low is None or high is None:
        merged.bounded = False
    elif not merged.seen:
        merged.low, merged.high, merged.seen = low, high, True
    else:
        merged.low, merged.high = min(merged.low, low), max(merged.high, high)


def _decode(raw: Any, dtype: pa.DataType) -> Any:
    """A raw Parquet statistic as the Python value of an Arrow ``dtype``; None if unknown."""
    if pa.types.is_timestamp(dtype):
        return _EPOCH + timedelta(microseconds=raw * _UNIT[dtype.unit])
    if pa.types.is_date32(dtype):
        return _EPOCH.date() + timedelta(days=raw)
    if pa.types.is_decimal(dtype):
        unscaled = int.from_bytes(raw, "big", signed=True) if isinstance(raw, bytes) else raw
        return Decimal(unscaled).scaleb(-dtype.scale)
    if (
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    ):
        return raw.decode("utf-8") if isinstance(raw, bytes) else None
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype):
        return raw
    return None


def _json_bound(value: Any, side: str) -> Any:
    """A bound as Delta's JSON writes it, or None where it cannot be written safely."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _outward_float(value, side)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING_BOUND else None
    return None


def _outward_float(value: Decimal, side: str) -> float:
    """A decimal bound as a double (Delta's JSON form) rounded away from the file's values.

    A double cannot hold every decimal: rounding a minimum up (or a maximum down) would let a
    reader skip a file holding a matching row, so the bound moves one step outward instead.
    """
    approx = float(value)
    if side == "low" and Decimal(approx) > value:
        return math.nextafter(approx, -math.inf)
    if side == "high" and Decimal(approx) < value:
        return math.nextafter(approx, math.inf)
    return approx
