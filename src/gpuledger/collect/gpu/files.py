"""GPU telemetry files → canonical gpu_usage rows: agent spool CSV, or Parquet/CSV a user has.

A file must carry gpu_usage columns only: any subset that includes the required ones and
``host`` (which places a row in its partition). A file that is not sound as a whole (unreadable, a missing or unknown column, a Parquet
column of the wrong type) is an :class:`InputError` naming the file and column. In a sound file,
a row with an impossible value (no timestamp, a text where a number belongs in CSV, utilization
outside 0-100, negative or NaN active seconds or more than the bucket has, negative samples,
power that is negative or not finite, memory used below 0 or above the GPU's total, a bucket that
starts more than one bucket after now) goes to quarantine with a reason naming the column and
what it should be; the rest is kept. Prometheus rows get the same checks
(:func:`refuse_impossible`).

A file is read in slices of at most ``SLICE_ROWS`` rows (a Parquet file batch by batch from its
row groups, a CSV file by Arrow's streaming CSV reader), so memory follows the slice, not the
file; row numbers stay those of the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gpuledger.collect.files import SourceFile, read_bytes
from gpuledger.errors import InputError, SchemaError
from gpuledger.schema import (
    GPU_USAGE_SCHEMA,
    QUARANTINE_SCHEMA,
    TABLES,
    UTC_TIME,
    Quarantine,
    Usage,
    conform,
)

SOURCE_NAME = "gpu"
FILE_PATTERNS = ("*.parquet", "*.csv", "*.csv.gz")
_ROW = "__row"
SLICE_ROWS = 500_000
FILE_SOURCE = "file"  # the source of rows whose file names none


def read_usage_file(file: SourceFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One file's canonical rows and its quarantined rows, read whole."""
    parts = list(read_usage_slices(file))
    rows = pl.concat([r for r, _ in parts], how="vertical")
    return rows, pl.concat([q for _, q in parts], how="vertical")


def read_usage_slices(
    file: SourceFile, slice_rows: int | None = None, now: datetime | None = None
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """The file's canonical rows and quarantined rows, one slice of ``slice_rows`` at a time.

    A file without rows yields one empty slice, so its column check still runs.
    """
    now = now or datetime.now(UTC)
    offset = 0
    for raw in _read_slices(file, slice_rows or SLICE_ROWS):
        offset += raw.height
        yield _slice_rows(raw, file.uri, offset - raw.height, now)
        del raw  # release this slice before the next one is read


def check_parquet_schema(file: SourceFile) -> None:
    """Refuse a local Parquet file whose columns or types are wrong, from its schema alone.

    The same checks as the read's, before any row is read: an ingest that streams its rows into
    the store refuses such a file before the write starts.
    """
    try:
        schema = pl.read_parquet_schema(file.uri)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"cannot read file: {exc}", file=file.uri) from exc
    _check_columns(list(schema), file.uri)
    for name, actual in schema.items():
        if actual != pl.String and not _same_kind(actual, GPU_USAGE_SCHEMA[name]):
            raise _wrong_type(name, actual, file.uri)


def bucket_keys(file: SourceFile) -> pl.LazyFrame:
    """A local Parquet file's source, host, bucket_start and bucket_seconds, typed as its read
    types them, for every row (the read may still refuse some): what a delivery covers."""
    scan = pl.scan_parquet(file.uri)
    schema = scan.collect_schema()
    keys = []
    for name in (Usage.source, Usage.host, Usage.bucket_start, Usage.bucket_seconds):
        dtype = GPU_USAGE_SCHEMA[name]
        if name not in schema:
            keys.append(pl.lit(None, dtype).alias(name))
        elif schema[name] == pl.String:
            keys.append(_parse_text(name, dtype).alias(name))
        else:
            keys.append(pl.col(name).cast(dtype, strict=False))
    return scan.select(keys).with_columns(pl.col(Usage.source).fill_null(FILE_SOURCE))


def _slice_rows(
    raw: pl.DataFrame, uri: str, offset: int, now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    _check_columns(raw.columns, uri)
    raw = raw.with_row_index(_ROW, offset=offset)
    typed, bad_casts = _cast(raw, uri)
    problems = _row_problems(typed, now)
    quarantine = pl.concat(
        [
            _quarantine(raw, bad_casts, uri),
            _quarantine(raw, problems, uri),
        ],
        how="vertical",
    ).unique(Quarantine.row, keep="first", maintain_order=True)
    rows = typed
    if not quarantine.is_empty():
        refused = quarantine.select((pl.col(Quarantine.row) - 1).cast(pl.UInt32).alias(_ROW))
        rows = typed.join(refused, on=_ROW, how="anti")
    rows = rows.drop(_ROW).with_columns(
        pl.col(Usage.source).fill_null(FILE_SOURCE), billing_period(rows)
    )
    return rows, quarantine


def refuse_impossible(
    usage: pl.DataFrame, uri: str, now: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Canonical rows from a source that is not a file (a Prometheus query), less the rows with
    impossible values, and those rows as quarantine rows (their row in the query's result)."""
    numbered = usage.with_row_index(_ROW)
    problems = _row_problems(numbered, now)
    if problems.is_empty():
        return usage, pl.DataFrame(schema=QUARANTINE_SCHEMA)
    kept = numbered.join(problems.select(_ROW), on=_ROW, how="anti").drop(_ROW)
    return kept, _quarantine(numbered, problems, uri)


def billing_period(rows: pl.DataFrame) -> pl.Expr:
    """``x_BillingPeriod`` (YYYY-MM of bucket_start): each month formatted once, not per row."""
    start = pl.col(Usage.bucket_start)
    month = start.dt.year().cast(pl.Int32) * 100 + start.dt.month().cast(pl.Int32)
    months = rows.select(month.unique().drop_nulls()).to_series().to_list()
    names = {m: f"{m // 100:04d}-{m % 100:02d}" for m in months}
    return month.replace_strict(names, default=None, return_dtype=pl.String).alias(
        Usage.x_BillingPeriod
    )


def _read_slices(file: SourceFile, slice_rows: int) -> Iterator[pl.DataFrame]:
    """Raw slices, a local file never read whole: Parquet from its row groups, CSV as text."""
    try:
        if not file.name.endswith(".parquet"):
            yield from _csv_slices(file, slice_rows)
            return
        if "://" in file.uri:
            yield from _arrow_slices(pq.ParquetFile(io.BytesIO(read_bytes(file.uri))), slice_rows)
            return
        scan = pl.scan_parquet(file.uri)
        total = scan.select(pl.len()).collect().item()
        for offset in range(0, max(total, 1), slice_rows):
            yield scan.slice(offset, slice_rows).collect()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"cannot read file: {exc}", file=file.uri) from exc


def _csv_slices(file: SourceFile, slice_rows: int) -> Iterator[pl.DataFrame]:
    """A CSV file's rows, every column as text (empty fields null), ``slice_rows`` at a time.

    Arrow's streaming CSV reader parses the file block by block, so memory follows the slice
    (a remote file is fetched whole first, as its Parquet files are).
    """
    fetched = pa.py_buffer(read_bytes(file.uri)) if "://" in file.uri else file.uri
    compression = "gzip" if file.name.endswith(".gz") else None
    names = _csv_reader(pa.input_stream(fetched, compression=compression), None).schema.names
    reader = _csv_reader(
        pa.input_stream(fetched, compression=compression), {name: pa.string() for name in names}
    )
    pending = reader.schema.empty_table()
    sent = False
    for batch in reader:
        pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
        while pending.num_rows >= slice_rows:
            yield _from_arrow(pending.slice(0, slice_rows))
            pending = pending.slice(slice_rows)
            sent = True
    if pending.num_rows or not sent:
        yield _from_arrow(pending)


def _csv_reader(source: Any, text: dict[str, Any] | None) -> Any:
    """Arrow's streaming reader of a CSV stream; ``text`` names the columns to read as text."""
    convert = pa_csv.ConvertOptions(column_types=text, strings_can_be_null=True, null_values=[""])
    return pa_csv.open_csv(source, convert_options=convert)


def _arrow_slices(parquet: pq.ParquetFile, slice_rows: int) -> Iterator[pl.DataFrame]:
    empty = True
    for batch in parquet.iter_batches(batch_size=slice_rows):
        empty = False
        yield _from_arrow(batch)
    if empty:
        yield _from_arrow(parquet.schema_arrow.empty_table())


def _from_arrow(data: object) -> pl.DataFrame:
    frame = pl.from_arrow(data)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _check_columns(columns: list[str], uri: str) -> None:
    spec = TABLES["gpu_usage"]
    unknown = sorted(set(columns) - set(spec.schema.names()))
    if unknown:
        raise InputError(
            f"unknown column(s) {', '.join(unknown)}",
            file=uri,
            column=unknown[0],
            expected="only gpu_usage columns (see `schema.Usage`)",
        )
    missing = sorted((spec.required | {Usage.host}) - set(columns))
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)}",
            file=uri,
            column=missing[0],
            expected="bucket_start, bucket_seconds, host, gpu_uuid, active_seconds, samples",
        )


def _cast(raw: pl.DataFrame, uri: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every column in its canonical type; text that does not parse becomes a problem row."""
    casts = []
    checks = []
    for name, dtype in GPU_USAGE_SCHEMA.items():
        if name not in raw.columns:
            casts.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        actual = raw.schema[name]
        if actual == pl.String and dtype != pl.String:
            parsed = _parse_text(name, dtype)
            casts.append(parsed.alias(name))
            checks.append(
                pl.when(pl.col(name).is_not_null() & parsed.is_null())
                .then(pl.lit(f"column {name!r}: not a {_describe(dtype)}"))
                .alias(f"__check_{name}")
            )
        else:
            wrong = _wrong_type(name, actual, uri)
            if not _same_kind(actual, dtype):
                raise wrong
            if actual == dtype:
                casts.append(pl.col(name))
                continue
            try:
                raw.select(pl.col(name).cast(dtype, strict=True))
            except pl.exceptions.PolarsError as exc:
                raise wrong from exc
            casts.append(pl.col(name).cast(dtype).alias(name))
    typed = raw.select(pl.col(_ROW), *casts, *checks)
    check_columns = [c for c in typed.columns if c.startswith("__check_")]
    reason = pl.coalesce(*check_columns) if check_columns else pl.lit(None, pl.String)
    problems = typed.select(pl.col(_ROW), reason.alias("reason")).filter(
        pl.col("reason").is_not_null()
    )
    return typed.drop(check_columns), problems


def _wrong_type(name: str, actual: pl.DataType, uri: str) -> SchemaError:
    expected = str(GPU_USAGE_SCHEMA[name])
    return SchemaError(
        f"column {name!r} has type {actual}", file=uri, column=name, expected=expected
    )


def _same_kind(actual: pl.DataType, expected: pl.DataType) -> bool:
    """Whether a typed column may be cast: numbers to numbers, times to times, text to text."""
    if actual == pl.Null:
        return True
    if expected.is_numeric():
        return actual.is_numeric()
    if expected.is_temporal():
        return isinstance(actual, pl.Datetime | pl.Date)
    return actual in (pl.String, pl.Categorical) or isinstance(actual, pl.Enum)


def _parse_text(name: str, dtype: pl.DataType) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    if dtype == UTC_TIME:
        return text.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    return text.cast(dtype, strict=False)


def _describe(dtype: pl.DataType) -> str:
    if dtype == UTC_TIME:
        return "timestamp (ISO 8601, UTC unless an offset is given)"
    return "whole number" if dtype.is_integer() else "number"


def _row_problems(typed: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Rows whose values are impossible, with the first reason that applies.

    A bucket may start at most one bucket after ``now`` (clock skew between a host and the
    ledger); a later one is a clock or parsing error and would poison every report of its month.
    """
    latest = pl.lit(now) + pl.duration(seconds=pl.col(Usage.bucket_seconds).fill_null(0))
    rules = [
        (pl.col(Usage.bucket_start).is_null(), "bucket_start is empty"),
        (pl.col(Usage.gpu_uuid).is_null(), "gpu_uuid is empty"),
        (pl.col(Usage.host).is_null(), "host is empty"),
        (pl.col(Usage.bucket_seconds).fill_null(0) <= 0, "bucket_seconds is not positive"),
        (pl.col(Usage.active_seconds).is_null(), "active_seconds is empty"),
        (pl.col(Usage.samples).is_null(), "samples is empty"),
        (pl.col(Usage.active_seconds).is_nan(), "active_seconds is not a number"),
        (pl.col(Usage.active_seconds) < 0, "active_seconds is negative"),
        (
            pl.col(Usage.active_seconds) > pl.col(Usage.bucket_seconds),
            "active_seconds exceeds bucket_seconds",
        ),
        (~pl.col(Usage.sm_util).is_between(0, 100).fill_null(True), "sm_util outside 0-100"),
        (pl.col(Usage.bucket_start) > latest, "bucket_start is in the future"),
        (pl.col(Usage.samples) < 0, "samples is negative (expected 0 or more)"),
        (
            ~(pl.col(Usage.power_w).is_finite() & (pl.col(Usage.power_w) >= 0)),
            "power_w outside 0 to a finite number of watts",
        ),
        (pl.col(Usage.mem_total_bytes) <= 0, "mem_total_bytes is not positive"),
        (
            (pl.col(Usage.mem_used_bytes) < 0)
            | (pl.col(Usage.mem_used_bytes) > pl.col(Usage.mem_total_bytes)),
            "mem_used_bytes outside 0 to mem_total_bytes",
        ),
    ]
    reason = pl.coalesce(
        *[pl.when(test.fill_null(False)).then(pl.lit(text)) for test, text in rules]
    )
    return typed.select(pl.col(_ROW), reason.alias("reason")).filter(pl.col("reason").is_not_null())


def _quarantine(raw: pl.DataFrame, problems: pl.DataFrame, uri: str) -> pl.DataFrame:
    """Refused rows as quarantine rows: file, 1-based data row, reason, and the row as JSON."""
    if problems.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    picked = raw.join(problems, on=_ROW, how="inner").sort(_ROW)
    records = picked.drop("reason", _ROW).to_dicts()
    frame = pl.DataFrame(
        {
            Quarantine.x_Source: [SOURCE_NAME] * picked.height,
            Quarantine.BillingAccountId: [""] * picked.height,
            Quarantine.x_BillingPeriod: [""] * picked.height,
            Quarantine.file: [uri] * picked.height,
            Quarantine.row: (picked[_ROW].cast(pl.Int64) + 1).to_list(),
            Quarantine.reason: picked["reason"].to_list(),
            Quarantine.raw: [json.dumps(r, default=str) for r in records],
        }
    )
    return conform(frame.lazy(), "quarantine").collect().cast(QUARANTINE_SCHEMA)
