"""Reading one file of the GCP billing export (``bq extract`` NDJSON, gzip NDJSON, Parquet).

Part of ``collect/gcp``. Every reader returns the file in ``EXPORT_SCHEMA``: nested records as
the export has them, money and times as text (parsed exactly later). Newline-delimited JSON is
parsed by Arrow's multi-threaded JSON reader, with FLOAT64 fields read as doubles and turned into
their shortest decimal text, which is the number ``bq extract`` wrote. A file Arrow cannot read
is read again by Polars, and if that fails too the first line that is not an export row is named.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Collection
from typing import Final

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.json as pa_json  # type: ignore[import-untyped]
from polars.datatypes import DataTypeClass

from gpuledger.collect.files import SourceFile, read_bytes
from gpuledger.collect.gcp.lines import EXPORT_SCHEMA
from gpuledger.errors import InputError

# The export's FLOAT64 fields; the rest of the schema is inferred from the file.
_ARROW_NUMBERS: Final = pa.schema(
    [
        ("cost", pa.float64()),
        ("cost_at_list", pa.float64()),
        ("currency_conversion_rate", pa.float64()),
        (
            "usage",
            pa.struct(
                [
                    ("amount", pa.float64()),
                    ("unit", pa.string()),
                    ("amount_in_pricing_units", pa.float64()),
                    ("pricing_unit", pa.string()),
                ]
            ),
        ),
        (
            "credits",
            pa.list_(
                pa.struct(
                    [
                        ("name", pa.string()),
                        ("amount", pa.float64()),
                        ("full_name", pa.string()),
                        ("id", pa.string()),
                        ("type", pa.string()),
                    ]
                )
            ),
        ),
    ]
)


# Fields without which no row of the export can be placed or priced: a file lacking one is
# refused (its rows would all be quarantined while the month's old copy stayed).
REQUIRED: Final = (
    "billing_account_id",
    "cost",
    "currency",
    "invoice",
    "usage_start_time",
    "usage_end_time",
    "cost_type",
)


def read_export(file: SourceFile) -> pl.DataFrame:
    """One export file in ``EXPORT_SCHEMA`` (optional fields it lacks are null).

    An empty file (no bytes, or no row) and a file lacking a required field are refused.
    """
    name = file.name.lower()
    if name.endswith(".avro"):
        raise InputError(
            "Avro exports are not supported",
            file=file.uri,
            expected="bq extract --destination_format NEWLINE_DELIMITED_JSON or PARQUET",
        )
    data = read_bytes(file.uri)
    compressed = name.endswith(".gz")
    if name.endswith(".parquet"):
        frame = _read_parquet(_gunzip(data, file) if compressed else data, file)
    else:
        frame = _read_ndjson(data, file, compressed=compressed)
    if frame.is_empty():
        raise InputError(
            "holds no rows (an empty file is not a delivery of the export)",
            file=file.uri,
            expected="newline-delimited JSON or Parquet rows of the billing export",
        )
    return frame


def _check_required(fields: Collection[str], file: SourceFile) -> None:
    """Refuse a file that lacks a field every export row has."""
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise InputError(
            "missing required field(s) " + ", ".join(missing),
            file=file.uri,
            column=missing[0],
            expected="the Cloud Billing detailed usage cost export schema",
        )


def _gunzip(data: bytes, file: SourceFile) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise InputError(f"not gzip data ({exc})", file=file.uri) from exc


def _read_ndjson(data: bytes, file: SourceFile, *, compressed: bool) -> pl.DataFrame:
    """Arrow reads the (decompressing) stream; the text is only held whole when it fails."""
    stream = gzip.GzipFile(fileobj=io.BytesIO(data)) if compressed else io.BytesIO(data)
    try:
        options = pa_json.ParseOptions(explicit_schema=_ARROW_NUMBERS)
        frame = pl.from_arrow(pa_json.read_json(stream, parse_options=options))
        assert isinstance(frame, pl.DataFrame)
        exported = to_export_schema(frame)
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError, EOFError):
        pass  # not as Arrow expects it: let Polars try, and name the line if it fails too
    else:
        if frame.height:  # the explicit schema gives an empty file its number fields
            _check_required(frame.columns, file)
        return exported
    text = _gunzip(data, file) if compressed else data
    if not text.strip():
        return pl.DataFrame(schema=EXPORT_SCHEMA)
    try:
        frame = pl.read_ndjson(io.BytesIO(text), schema=EXPORT_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise _json_error(text, file) from exc
    _check_required(_fields_in(text), file)
    return frame


def _fields_in(text: bytes) -> set[str]:
    """Every top-level field some line of newline-delimited JSON has."""
    fields: set[str] = set()
    for line in text.splitlines():
        decoded = json.loads(line) if line.strip() else None
        if isinstance(decoded, dict):
            fields.update(decoded)
    return fields


def _json_error(data: bytes, file: SourceFile) -> InputError:
    """Name the first line that is not a JSON object of the export."""
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            decoded = json.loads(line)
        except ValueError as exc:
            return InputError(
                f"not JSON ({exc})",
                file=file.uri,
                row=number,
                expected="newline-delimited JSON, one export row per line",
            )
        if not isinstance(decoded, dict):
            return InputError(
                "not a JSON object", file=file.uri, row=number, expected="one object per line"
            )
    return InputError(
        "fields do not have the billing export's types",
        file=file.uri,
        expected="the Cloud Billing detailed usage cost export schema",
    )


def _read_parquet(data: bytes, file: SourceFile) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
        _check_required(frame.columns, file)
        return to_export_schema(frame)
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"cannot read as the billing export: {exc}".splitlines()[0],
            file=file.uri,
            expected="a Parquet file of the Cloud Billing detailed usage cost export",
        ) from exc


def to_export_schema(frame: pl.DataFrame) -> pl.DataFrame:
    """A typed frame of the export (Arrow JSON, Parquet) in ``EXPORT_SCHEMA``."""
    return frame.select(
        [
            _conform(pl.col(name), frame.schema[name], dtype).alias(name)
            if name in frame.schema
            else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in EXPORT_SCHEMA.items()
        ]
    )


def _conform(
    expr: pl.Expr, have: pl.DataType | DataTypeClass, want: pl.DataType | DataTypeClass
) -> pl.Expr:
    """One typed column in the export's read schema (money and times as text)."""
    if isinstance(want, pl.Struct) and isinstance(have, pl.Struct):
        present = {f.name: f.dtype for f in have.fields}
        return pl.struct(
            [
                _conform(expr.struct.field(f.name), present[f.name], f.dtype).alias(f.name)
                if f.name in present
                else pl.lit(None, dtype=f.dtype).alias(f.name)
                for f in want.fields
            ]
        )
    if isinstance(want, pl.List) and isinstance(have, pl.List):
        return expr.list.eval(_conform(pl.element(), have.inner, want.inner))
    if isinstance(have, pl.Datetime):
        zoned = expr.dt.replace_time_zone("UTC") if have.time_zone is None else expr
        return zoned.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    return expr.cast(want)
