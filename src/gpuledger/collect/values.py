"""Cell-level parsing shared by the billing collectors: times (all of them), money, tags, enums.

Part of ``collect/``: the functions here build Polars expressions, so a million-row export is
parsed column-wise (:func:`utc_time_of` applies the same time parser to one manifest field). A cell that cannot be parsed becomes null, and the caller pairs the parsed
column with :func:`unparsed` to quarantine the row with a reason instead of storing a null.

Money is parsed from its text, never through a float, so ``0.1`` stays exactly ``0.1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import polars as pl

from gpuledger.schema import MONEY, TAGS, UTC_TIME

# ISO 8601 / RFC 3339 as exports and their tools write it: a date, optionally a time after "T" or
# a space (minutes, seconds and a fraction optional), optionally a zone ("Z", "UTC", an offset
# with or without its colon). No zone means UTC. Matched on upper-cased text ("t", "z" too).
_ISO_8601: Final = (
    r"^(\d{4}-\d{2}-\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9})\d*)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)
_CANONICAL: Final = "%Y-%m-%dT%H:%M:%S%.f%z"

TIME_FORMS: Final = (
    "an ISO 8601 / RFC 3339 timestamp: YYYY-MM-DD, optionally followed by T or a space and "
    "HH:MM, HH:MM:SS or HH:MM:SS.fraction, then Z, UTC, ±HH:MM, ±HHMM, ±HH or nothing (UTC); "
    "e.g. 2026-10-01T00:00:00Z or 2026-10-01 00:00:00+00:00"
)


def _canonical_time(text: pl.Expr) -> pl.Expr:
    """Any accepted spelling → ``YYYY-MM-DDTHH:MM:SS.f±HHMM``; null when none fits."""
    parts = text.str.strip_chars().str.to_uppercase().str.extract_groups(_ISO_8601)

    def part(index: int, default: str) -> pl.Expr:
        return parts.struct.field(str(index)).fill_null(default)

    zone = parts.struct.field("6")
    digits = zone.str.replace(":", "", literal=True)
    offset = (
        pl.when(zone.is_null() | zone.is_in(["Z", "UTC", "GMT"]))
        .then(pl.lit("+0000"))
        .when(digits.str.len_chars() == 3)
        .then(digits + "00")
        .otherwise(digits)
    )
    return pl.concat_str(
        parts.struct.field("1"),
        pl.lit("T"),
        part(2, "00"),
        pl.lit(":"),
        part(3, "00"),
        pl.lit(":"),
        part(4, "00"),
        pl.lit("."),
        part(5, "0"),
        offset,
    )


def parse_utc_time(text: pl.Expr) -> pl.Expr:
    """A UTC timestamp from ISO 8601 / RFC 3339 text (see :data:`TIME_FORMS`); null if none fits."""
    return (
        _canonical_time(text)
        .str.to_datetime(_CANONICAL, time_zone="UTC", time_unit="us", strict=False)
        .cast(UTC_TIME)
    )


def utc_time(column: str, dtype: pl.DataType) -> pl.Expr:
    """A UTC timestamp from a text or temporal column; null where the text is no timestamp.

    Text is parsed once per distinct value of each batch: exports repeat the same few hundred
    hours on millions of rows.
    """
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if isinstance(dtype, pl.Date):
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return on_distinct(column, parse_utc_time, UTC_TIME)


def money(column: str, dtype: pl.DataType) -> pl.Expr:
    """An exact ``Decimal(38, 18)`` from text or a number; null where the text is no number."""
    col = pl.col(column)
    if isinstance(dtype, pl.Decimal) or dtype.is_integer():
        return col.cast(MONEY)
    # Floats go through their shortest text form: the value the exporter meant to write.
    return col.cast(pl.String).str.strip_chars().str.to_decimal(scale=18)


def quantity(column: str, dtype: pl.DataType) -> pl.Expr:
    """A usage quantity as Float64 (quantities are measurements, not money)."""
    col = pl.col(column)
    if dtype.is_numeric():
        return col.cast(pl.Float64)
    return col.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


# NaN and infinity as exports and their tools spell them (Python, Arrow, Excel, Java).
_NON_FINITE_TEXT: Final = r"^[+-]?(?i:nan|inf|infinity)$"
AMOUNT_LIMIT: Final = "10^20"  # what Decimal(38, 18) holds: larger amounts are no bill


def not_finite(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """True where a number cell is NaN or ±infinity, as a float or spelled as text.

    Such a value is never money: parsing makes it null, and the row must be refused with this
    reason rather than stored as empty or zero.
    """
    if dtype.is_float():
        return raw.is_nan() | raw.is_infinite()
    if dtype == pl.String:
        return raw.str.strip_chars().str.contains(_NON_FINITE_TEXT)
    return pl.lit(False)


def beyond_amount_range(raw: pl.Expr, dtype: pl.DataType, parsed: pl.Expr) -> pl.Expr:
    """True where a finite number (``1e308``) was given that no amount column can hold."""
    if not (dtype.is_float() or dtype == pl.String):
        return pl.lit(False)
    number = raw.str.strip_chars().cast(pl.Float64, strict=False) if dtype == pl.String else raw
    return parsed.is_null() & number.is_finite().fill_null(False)


def unparsed(raw: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """True where the source had a value that parsing turned into null."""
    return raw.is_not_null() & (raw.cast(pl.String).str.strip_chars() != "") & parsed.is_null()


def on_distinct(column: str, parse: Callable[[pl.Expr], pl.Expr], dtype: pl.DataType) -> pl.Expr:
    """``parse`` of a text column, computed once per distinct value of each batch.

    Billing exports repeat a few values (SKU details, enumerations) on millions of rows; parsing
    each distinct text once and mapping it back keeps the expression row-wise and cheap.
    """

    def apply(series: pl.Series) -> pl.Series:
        text = series.cast(pl.String)
        table = pl.DataFrame({"_text": text.unique()}).with_columns(
            parse(pl.col("_text")).cast(dtype).alias("_parsed")
        )
        joined = pl.DataFrame({"_text": text}).join(
            table, on="_text", how="left", maintain_order="left", nulls_equal=True
        )
        return joined.get_column("_parsed").alias(series.name)

    return pl.col(column).map_batches(apply, return_dtype=dtype, is_elementwise=True)


def on_distinct_rows(columns: Sequence[str], build: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``build`` (an expression over ``columns``), computed once per distinct combination of
    their values in each batch and mapped back to every row.

    For values a bill repeats on millions of rows (tag sets, instance types, provider columns).
    A batch whose combinations are mostly distinct is computed directly: the lookup would cost
    more than it saves.
    """

    def apply(rows: pl.Series) -> pl.Series:
        frame = rows.struct.unnest()
        table = frame.unique()
        if 2 * table.height > frame.height:
            return frame.select(build.alias(rows.name)).to_series()
        joined = frame.join(
            table.with_columns(build.alias(_BUILT)),
            on=list(columns),
            how="left",
            maintain_order="left",
            nulls_equal=True,
        )
        return joined.get_column(_BUILT).alias(rows.name)

    return pl.struct(columns).map_batches(apply, return_dtype=dtype, is_elementwise=True)


_BUILT: Final = "_built"


def canonical_value(column: str, allowed: Sequence[str]) -> pl.Expr:
    """The spec spelling of an enumerated value, matched case-insensitively; null if unknown."""
    lookup = {value.casefold(): value for value in allowed}
    return on_distinct(
        column,
        lambda text: (
            text.str.strip_chars()
            .str.to_lowercase()
            .replace_strict(lookup, default=None, return_dtype=pl.String)
        ),
        pl.String(),
    )


def json_field(column: str, key: str) -> pl.Expr:
    """One top-level key of a JSON-object text column (``SkuPriceDetails``, ``x_SkuDetails``)."""
    return on_distinct(column, lambda text: text.str.json_path_match(f"$.{key}"), pl.String())


def _tags_of(text: str, origin: str) -> list[dict[str, str]] | None:
    """Key/value pairs of one JSON object; None when the text is not a JSON object."""
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    return [
        {"key": str(key), "value": _tag_text(value), "origin": origin}
        for key, value in decoded.items()
    ]


def _tag_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def tags_from_json(column: str, origin: str) -> pl.Expr:
    """FOCUS ``Tags`` (a JSON object per row) as ``List(Struct{key, value, origin})``.

    Decoded once per distinct text (exports repeat the same few tag sets on many rows). Null or
    empty text gives an empty list; text that is not a JSON object gives null, which the caller
    quarantines. Non-string values keep their JSON spelling (``500``, ``true``).
    """
    return (
        pl.col(column)
        .cast(pl.String)
        .map_batches(
            lambda series: _decode_distinct(series, origin), return_dtype=TAGS, is_elementwise=True
        )
    )


def _decode_distinct(series: pl.Series, origin: str) -> pl.Series:
    distinct = series.unique()
    blank = (distinct.is_null() | (distinct.str.strip_chars() == "")).to_list()
    table = pl.DataFrame(
        {
            "_text": distinct,
            "_tags": pl.Series(
                [
                    [] if empty else _tags_of(t, origin)
                    for t, empty in zip(distinct, blank, strict=True)
                ],
                dtype=TAGS,
            ),
        },
        schema={"_text": pl.String, "_tags": TAGS},
    )
    frame = pl.DataFrame({"_text": series}).join(
        table, on="_text", how="left", maintain_order="left", nulls_equal=True
    )
    return frame.get_column("_tags").alias(series.name)


def utc_time_of(text: str) -> datetime | None:
    """One ISO 8601 / RFC 3339 text (a manifest's field) as a UTC datetime; None if none fits."""
    parsed = pl.select(parse_utc_time(pl.lit(text, dtype=pl.String))).item()
    return parsed if isinstance(parsed, datetime) else None
