"""Raw AWS columns (CSV text or Parquet types) → the collector's raw types, with row verdicts.

Collect step, AWS: files arrive as CSV text (legacy CUR, CUR 2.0 gzip CSV) or typed Parquet. This
module gives every column the type :data:`~gpuledger.collect.aws.columns.RAW_SCHEMA` names and
says, per row, why a row cannot be used (``_reason``), so that the caller can quarantine it.

Money goes through text on its way to ``Decimal``: a Parquet double ``0.1`` becomes exactly
``0.1``, its shortest round-trip spelling, never ``0.1000000000000000055``.
A column whose type cannot hold its meaning at all (a cost column of booleans) is a file error,
raised here with the column and the expected type.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.aws.columns import RAW_SCHEMA, RAW_TAGS, REQUIRED, Cur
from gpuledger.collect.quarantine import REASON
from gpuledger.collect.values import AMOUNT_LIMIT, beyond_amount_range, not_finite, utc_time
from gpuledger.errors import InputError
from gpuledger.schema import MONEY, UTC_TIME

ROW: Final = "_row"
NOT_FINITE: Final = "not a finite number (NaN or infinity)"

# How generators spell an empty typed cell besides leaving it blank (koku-nise writes "None").
_NULL_TEXTS: Final = ("", "None", "NULL", "null")
# A JSON object's "key": "value" pairs, for tag maps that CSV exports spell as JSON text.
_JSON_PAIR: Final = r'"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"'


def check_required(columns: list[str], file: str) -> None:
    """Refuse a file that lacks a column every line item needs."""
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise InputError(
            "missing required column(s) " + ", ".join(missing),
            file=file,
            column=missing[0],
            expected="a CUR 2.0 or legacy CUR export with its standard columns",
        )


def parse_raw(frame: pl.LazyFrame, file: str) -> pl.LazyFrame:
    """Every raw column typed as RAW_SCHEMA says, plus ``_reason`` (null for a usable row)."""
    schema = frame.collect_schema()
    parsed: dict[str, pl.Expr] = {}
    failures: list[tuple[pl.Expr, str]] = []
    for name, target in RAW_SCHEMA.items():
        if name not in schema:
            parsed[name] = pl.lit(None, dtype=target)
            continue
        parsed[name] = _parse(name, schema[name], target, file)
        failures += _value_failures(name, schema[name], target, parsed[name])
    failures += [(parsed[name].is_null(), f"{name}: empty") for name in REQUIRED]
    end, start = parsed[Cur.line_item_usage_end_date], parsed[Cur.line_item_usage_start_date]
    failures.append((end < start, f"{Cur.line_item_usage_end_date}: before the start date"))
    bill_end = parsed[Cur.bill_billing_period_end_date]
    bill_start = parsed[Cur.bill_billing_period_start_date]
    failures.append(
        (bill_end < bill_start, f"{Cur.bill_billing_period_end_date}: before the period start")
    )
    reason = pl.lit(None, dtype=pl.String)
    for condition, message in reversed(failures):
        reason = pl.when(condition.fill_null(False)).then(pl.lit(message)).otherwise(reason)
    return frame.select(
        pl.col(ROW), *(expr.alias(name) for name, expr in parsed.items()), reason.alias(REASON)
    )


def _value_failures(
    name: str, source: pl.DataType, target: pl.DataType, parsed: pl.Expr
) -> list[tuple[pl.Expr, str]]:
    """Why a cell of one column cannot be used, most specific first.

    NaN, infinity and amounts no Decimal(38, 18) holds (``1e308``) are named as such: parsing
    makes them null, and a null amount would otherwise read as empty, or be counted as zero.
    """
    failures: list[tuple[pl.Expr, str]] = []
    if source != pl.String and not source.is_float():
        return failures
    value = _typed_text(pl.col(name)) if source == pl.String else pl.col(name)
    if target == MONEY:
        failures.append((not_finite(value, source), f"{name}: {NOT_FINITE}"))
        failures.append(
            (
                beyond_amount_range(value, source, parsed),
                f"{name}: beyond the range of an amount (±{AMOUNT_LIMIT})",
            )
        )
    elif target == pl.Float64:
        failures.append((~parsed.is_finite(), f"{name}: {NOT_FINITE}"))
    if source == pl.String and target != pl.String:
        failures.append(
            (value.is_not_null() & parsed.is_null(), f"{name}: not a valid {_what(target)}")
        )
    return failures


def _what(target: pl.DataType) -> str:
    if target == MONEY:
        return "decimal amount"
    if target == UTC_TIME:
        return "ISO 8601 timestamp"
    if target == RAW_TAGS:
        return "JSON object of tags"
    return "number"


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    # ``replace`` costs half of a when/then/otherwise over the column.
    return text.str.strip_chars().replace("", None)


def _typed_text(text: pl.Expr) -> pl.Expr:
    """The text of a money, number, time or tag cell; null where it spells nothing."""
    return text.str.strip_chars().replace(list(_NULL_TEXTS), None)


def _parse(name: str, source: pl.DataType, target: pl.DataType, file: str) -> pl.Expr:
    """One column from its file type to its raw type; a hopeless file type is an error."""
    col = pl.col(name)
    if source == pl.Null:
        return pl.lit(None, dtype=target)
    if target == pl.String:
        return _blank_to_null(col.cast(pl.String)) if source == pl.String else col.cast(pl.String)
    if source == pl.String and target == UTC_TIME:
        return utc_time(name, source)
    if source == pl.String:
        return _parse_text(_typed_text(col), target)
    if target == MONEY and (source.is_float() or source.is_integer() or source.is_decimal()):
        return col.cast(pl.String).cast(MONEY, strict=False)
    if target == pl.Float64 and source.is_numeric():
        return col.cast(pl.Float64)
    if target == UTC_TIME and isinstance(source, pl.Datetime):
        zoned = col.dt.replace_time_zone("UTC") if source.time_zone is None else col
        return zoned.dt.convert_time_zone("UTC").cast(UTC_TIME)
    if target == UTC_TIME and source == pl.Date:
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if target == RAW_TAGS and isinstance(source, pl.Map):
        return col.map.entries().cast(RAW_TAGS)
    if target == RAW_TAGS and source == RAW_TAGS:
        return col
    raise InputError(
        f"column has type {source}",
        file=file,
        column=name,
        expected=_what(target) if target != pl.Float64 else "a numeric column",
    )


def _parse_text(text: pl.Expr, target: pl.DataType) -> pl.Expr:
    if target == MONEY:
        return text.cast(MONEY, strict=False)
    if target == pl.Float64:
        return text.cast(pl.Float64, strict=False)
    pairs = text.str.extract_all(_JSON_PAIR)
    return (
        pl.when(text.str.starts_with("{"))
        .then(
            pairs.list.eval(
                pl.struct(
                    pl.element().str.extract(_JSON_PAIR, 1).alias("key"),
                    pl.element().str.extract(_JSON_PAIR, 2).alias("value"),
                )
            )
        )
        .otherwise(None)
        .cast(RAW_TAGS)
    )
