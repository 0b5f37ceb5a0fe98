"""Cell-level parsing shared by the FOCUS and GCP collectors: times, money, tags, enumerations.

Part of ``collect/``: every function here is a Polars expression builder, so a million-row export
is parsed column-wise. A cell that cannot be parsed becomes null, and the caller pairs the parsed
column with :func:`unparsed` to quarantine the row with a reason instead of storing a null.

Money is parsed from its text, never through a float, so ``0.1`` stays exactly ``0.1``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Final

import polars as pl

from gpuledger.schema import MONEY, TAGS

# The timestamp spellings met in real exports: ISO 8601 with Z or an offset (the spec),
# "YYYY-MM-DD HH:MM:SS" (FOCUS sample data), "… UTC" (BigQuery's `bq extract`), a bare date.
_TIME_FORMATS: Final = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f UTC",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%MZ",
)


def utc_time(column: str, dtype: pl.DataType) -> pl.Expr:
    """A UTC timestamp from a text or temporal column; null where the text is no timestamp."""
    col = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if isinstance(dtype, pl.Date):
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    text = col.cast(pl.String).str.strip_chars()
    parsed = [text.str.to_datetime(f, time_zone="UTC", strict=False) for f in _TIME_FORMATS]
    dates = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    parsed.append(dates.dt.replace_time_zone("UTC"))
    return pl.coalesce(parsed).dt.cast_time_unit("us")


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
    text = pl.col(column).cast(pl.String)
    decoded = text.map_batches(
        lambda series: _decode_distinct(series, origin), return_dtype=TAGS, is_elementwise=True
    )
    empty = text.is_null() | (text.str.strip_chars() == "")
    return pl.when(empty).then(pl.lit([], dtype=TAGS)).otherwise(decoded)


def _decode_distinct(series: pl.Series, origin: str) -> pl.Series:
    distinct = series.drop_nulls().unique()
    table = pl.DataFrame(
        {
            "_text": distinct,
            "_tags": pl.Series([_tags_of(t, origin) for t in distinct], dtype=TAGS),
        },
        schema={"_text": pl.String, "_tags": TAGS},
    )
    frame = pl.DataFrame({"_text": series}).join(
        table, on="_text", how="left", maintain_order="left"
    )
    return frame.get_column("_tags").alias(series.name)
