"""GPU telemetry files → canonical gpu_usage rows: agent spool CSV, or Parquet/CSV a user has.

A file must carry gpu_usage columns only: any subset that includes the required ones and
``host`` (which places a row in its partition). A file that is not sound as a whole (unreadable, a missing or unknown column, a Parquet
column of the wrong type) is an :class:`InputError` naming the file and column. In a sound file,
a row with an impossible value (no timestamp, a text where a number belongs in CSV, utilization
outside 0-100, more active seconds than the bucket has) goes to quarantine with its reason;
the rest is kept.
"""

from __future__ import annotations

import io
import json

import polars as pl

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


def read_usage_file(file: SourceFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One file's canonical rows and its quarantined rows."""
    raw = _read(file)
    _check_columns(raw, file.uri)
    raw = raw.with_row_index(_ROW)
    typed, bad_casts = _cast(raw, file.uri)
    problems = _row_problems(typed)
    quarantine = pl.concat(
        [
            _quarantine(raw, bad_casts, file.uri),
            _quarantine(raw, problems, file.uri),
        ],
        how="vertical",
    ).unique(Quarantine.row, keep="first", maintain_order=True)
    refused = quarantine.select((pl.col(Quarantine.row) - 1).cast(pl.UInt32).alias(_ROW))
    rows = typed.join(refused, on=_ROW, how="anti")
    rows = rows.drop(_ROW).with_columns(
        pl.col(Usage.source).fill_null("file"),
        pl.col(Usage.bucket_start).dt.strftime("%Y-%m").alias(Usage.x_BillingPeriod),
    )
    return rows, quarantine


def _read(file: SourceFile) -> pl.DataFrame:
    data = read_bytes(file.uri)
    try:
        if file.name.endswith(".parquet"):
            return pl.read_parquet(io.BytesIO(data))
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(f"cannot read file: {exc}", file=file.uri) from exc


def _check_columns(raw: pl.DataFrame, uri: str) -> None:
    spec = TABLES["gpu_usage"]
    unknown = sorted(set(raw.columns) - set(spec.schema.names()))
    if unknown:
        raise InputError(
            f"unknown column(s) {', '.join(unknown)}",
            file=uri,
            column=unknown[0],
            expected="only gpu_usage columns (see `schema.Usage`)",
        )
    missing = sorted((spec.required | {Usage.host}) - set(raw.columns))
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
            try:
                raw.select(pl.col(name).cast(dtype, strict=True))
            except pl.exceptions.PolarsError as exc:
                raise SchemaError(
                    f"column {name!r} has type {actual}", file=uri, column=name, expected=str(dtype)
                ) from exc
            casts.append(pl.col(name).cast(dtype).alias(name))
    typed = raw.select(pl.col(_ROW), *casts, *checks)
    check_columns = [c for c in typed.columns if c.startswith("__check_")]
    reason = pl.coalesce(*check_columns) if check_columns else pl.lit(None, pl.String)
    problems = typed.select(pl.col(_ROW), reason.alias("reason")).filter(
        pl.col("reason").is_not_null()
    )
    return typed.drop(check_columns), problems


def _parse_text(name: str, dtype: pl.DataType) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    if dtype == UTC_TIME:
        return text.str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    return text.cast(dtype, strict=False)


def _describe(dtype: pl.DataType) -> str:
    if dtype == UTC_TIME:
        return "timestamp (ISO 8601, UTC unless an offset is given)"
    return "whole number" if dtype.is_integer() else "number"


def _row_problems(typed: pl.DataFrame) -> pl.DataFrame:
    """Rows whose values are impossible, with the first reason that applies."""
    rules = [
        (pl.col(Usage.bucket_start).is_null(), "bucket_start is empty"),
        (pl.col(Usage.gpu_uuid).is_null(), "gpu_uuid is empty"),
        (pl.col(Usage.host).is_null(), "host is empty"),
        (pl.col(Usage.bucket_seconds).fill_null(0) <= 0, "bucket_seconds is not positive"),
        (pl.col(Usage.active_seconds).is_null(), "active_seconds is empty"),
        (pl.col(Usage.samples).is_null(), "samples is empty"),
        (pl.col(Usage.active_seconds) < 0, "active_seconds is negative"),
        (
            pl.col(Usage.active_seconds) > pl.col(Usage.bucket_seconds),
            "active_seconds exceeds bucket_seconds",
        ),
        (~pl.col(Usage.sm_util).is_between(0, 100).fill_null(True), "sm_util outside 0-100"),
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
