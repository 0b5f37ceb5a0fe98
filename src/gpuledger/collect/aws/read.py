"""One AWS export file → its ``cost`` rows and its refused rows.

Collect step, AWS: the I/O side of the collector for a single file. It opens the file lazily
(Parquet or CSV, gzip or not, local or ``s3://``), recognizes the format from the header, hands
the rows to the pure mapping of that format. :func:`stage_file` streams the mapped rows of a CUR
file straight to the staging folder, so no file is ever held whole in memory;
:func:`read_file` collects them, for tests and small files.

Formats, told apart by their columns, never by flags:

* legacy CUR: ``lineItem/LineItemType`` (CSV) or legacy Parquet names;
* CUR 2.0: ``line_item_line_item_type``;
* AWS FOCUS export: the FOCUS mandatory columns (``BilledCost``, ``ChargeCategory``…).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final, Literal

import polars as pl

from gpuledger.collect.aws.columns import IDENTITY, ISO_4217, TIME_COLUMNS, Cur
from gpuledger.collect.aws.cur2 import map_cur2
from gpuledger.collect.aws.focus_export import read_focus_export
from gpuledger.collect.aws.legacy import is_legacy, to_cur2_names
from gpuledger.collect.aws.parse import ROW, check_required, parse_raw
from gpuledger.collect.files import SourceFile, polars_storage_options, refuse_cut_short
from gpuledger.collect.focus.mapping import numbered
from gpuledger.collect.focus.verdicts import LINE_KEY, FileVerdicts
from gpuledger.collect.quarantine import DUPLICATE, REASON, RepeatedRows
from gpuledger.collect.staging import STATED_COST, Staging
from gpuledger.collect.values import TIME_FORMS
from gpuledger.errors import InputError
from gpuledger.period import Period
from gpuledger.schema import COST_SCHEMA, QUARANTINE_SCHEMA, Cost, Quarantine

Format = Literal["legacy-cur", "cur2", "focus"]
PRODUCT: Final = "product"  # CUR 2.0's map of product attributes
FOCUS_MARKERS: Final = frozenset({"BilledCost", "ChargeCategory", "BillingPeriodStart"})


def scan(file: SourceFile) -> pl.LazyFrame:
    """The file's rows, lazily: Parquet typed, CSV as text (types are decided by the mapping).

    The name is a file, never a pattern: ``[`` and ``*`` in folder names are literal.
    """
    options = polars_storage_options(file.uri)
    if file.uri.lower().endswith(".parquet"):
        return pl.scan_parquet(
            file.uri, storage_options=options, hive_partitioning=False, glob=False
        )
    return pl.scan_csv(file.uri, infer_schema=False, storage_options=options, glob=False)


def detect_format(columns: list[str], file: str) -> Format:
    if is_legacy(columns):
        return "legacy-cur"
    if Cur.line_item_line_item_type in columns:
        return "cur2"
    if set(columns) >= FOCUS_MARKERS:
        return "focus"
    raise InputError(
        "not an AWS billing export: no line item type column and no FOCUS columns",
        file=file,
        column=Cur.line_item_line_item_type,
        expected="a CUR 2.0, legacy CUR or AWS FOCUS export file",
    )


def read_file(file: SourceFile) -> tuple[pl.DataFrame, pl.DataFrame, Format]:
    """(cost rows, quarantine rows, format) of one file, in memory: for tests and small files.

    Any file-level fault raises InputError.
    """
    with _read_errors(file):
        raw, fmt = _opened(file)
        if fmt == "focus":
            rows, refused = read_focus_export(raw, file.uri)
            return rows, refused, fmt
        mapped, named = _cur_rows(raw, file.uri)
        frame = mapped.collect(engine="streaming")
        rows = frame.filter(pl.col(REASON).is_null()).drop(REASON, STATED_COST)
        judged = frame.filter(pl.col(REASON).is_not_null())
        return rows, _cur_quarantine(judged, rows.height, named, file.uri), fmt


def stage_file(
    file: SourceFile,
    staged: Staging,
    *,
    period: str | None = None,
    repeated: RepeatedRows | None = None,
) -> pl.DataFrame:
    """Map one file and stage its rows (a CUR file streamed, never whole in memory); return its
    quarantine rows. Any file-level fault raises InputError.

    ``period`` (``YYYY-MM``) is the billing period of the delivery the file belongs to: a row of
    another period is quarantined rather than opening a month the delivery is not about.
    ``repeated`` remembers the rows of earlier files, so a line delivered twice counts once.
    """
    with _read_errors(file):
        raw, fmt = _opened(file)
        if fmt == "focus":
            months = None if period is None else (Period.parse(period),) * 2
            again = (repeated or RepeatedRows()).of(numbered(raw), Cost.x_SourceRow, LINE_KEY)
            rows, refused = read_focus_export(raw, file.uri, FileVerdicts(again, months))
            staged.stage(rows)
            return refused
        mapped, named = _cur_rows(raw, file.uri)
        mapped = _judged(mapped, named, period, repeated or RepeatedRows())
        judged = staged.stage(mapped)
        return _cur_quarantine(judged, staged.sound_rows[-1], named, file.uri)


def _opened(file: SourceFile) -> tuple[pl.LazyFrame, Format]:
    """The file scanned and its format; a CSV file cut short refused, a FOCUS file's currencies
    checked."""
    if not file.uri.lower().endswith(".parquet"):
        refuse_cut_short(file)
    raw = scan(file)
    fmt = detect_format(raw.collect_schema().names(), file.uri)
    if fmt == "focus":
        _check_currencies(raw, file.uri, Cost.BillingCurrency)
    return raw, fmt


@contextmanager
def _read_errors(file: SourceFile) -> Iterator[None]:
    """Polars and OS errors while reading a file, as one InputError naming the file."""
    try:
        yield
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(
            f"cannot be read ({type(exc).__name__}: {first_line})", file=file.uri
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot be read ({exc})", file=file.uri) from exc


def _cur_rows(raw: pl.LazyFrame, uri: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(every row mapped with its verdict and stated cost, the file's rows renamed and numbered).

    A row-wise plan in file order: it streams, and slices like the file.
    """
    named = _with_product_name(to_cur2_names(raw)).with_row_index(ROW, offset=1)
    check_required(named.collect_schema().names(), uri)
    _check_currencies(named, uri, Cur.line_item_currency_code)
    typed = parse_raw(named, uri)
    mapped = map_cur2(
        typed.with_columns(
            pl.lit(uri).alias(Cost.x_SourceFile), pl.col(ROW).cast(pl.Int64).alias(Cost.x_SourceRow)
        )
    )
    keep = [name for name in COST_SCHEMA.names() if name in mapped.collect_schema()]
    stated_cost = pl.col(Cur.line_item_unblended_cost).alias(STATED_COST)
    return mapped.select(*keep, REASON, stated_cost), named


def _judged(
    mapped: pl.LazyFrame, named: pl.LazyFrame, period: str | None, repeated: RepeatedRows
) -> pl.LazyFrame:
    """``mapped`` with two more verdicts on rows that are otherwise sound: a billing period
    other than the delivery's, and a repeat of an earlier row (see :class:`RepeatedRows`)."""
    verdicts = [pl.col(REASON)]
    if period is not None:
        start, end = Period.parse(period).bounds()
        outside = (pl.col(Cost.BillingPeriodStart) < start) | (
            pl.col(Cost.BillingPeriodStart) >= end
        )
        verdicts.append(
            pl.when(outside).then(
                pl.lit(
                    f"{Cur.bill_billing_period_start_date}: not the billing period of its "
                    f"delivery ({period})"
                )
            )
        )
    again = repeated.of(named, ROW, IDENTITY)
    if again.len():
        verdicts.append(
            pl.when(pl.col(Cost.x_SourceRow).is_in(again.cast(pl.Int64).implode())).then(
                pl.lit(f"{Cur.identity_line_item_id}: {DUPLICATE}")
            )
        )
    return mapped.with_columns(pl.coalesce(verdicts).alias(REASON))


def _cur_quarantine(
    refused: pl.DataFrame, sound_rows: int, named: pl.LazyFrame, uri: str
) -> pl.DataFrame:
    """Quarantine rows of a CUR file's refused rows; a file with no sound row names its fault."""
    if refused.height and not sound_rows:
        _refuse_hopeless_column(refused, named, uri)
    return _quarantine(refused, named, uri)


def _with_product_name(frame: pl.LazyFrame) -> pl.LazyFrame:
    """CUR 2.0 keeps the service's name in the ``product`` map; lift it out for the mapping."""
    schema = frame.collect_schema()
    if Cur.product_product_name in schema or not isinstance(schema.get(PRODUCT), pl.Map):
        return frame
    return frame.with_columns(
        pl.col(PRODUCT).map.get("product_name").alias(Cur.product_product_name)
    )


def _refuse_hopeless_column(refused: pl.DataFrame, named: pl.LazyFrame, uri: str) -> None:
    """Every row refused for the same column's values: that column has the wrong type.

    The error names the first row and its value, and for a time column the accepted forms.
    """
    reasons = refused.get_column(REASON).unique()
    if reasons.len() == 1 and "not a valid" in str(reasons[0]):
        column, expected = str(reasons[0]).split(": not a valid ", 1)
        row = int(refused.get_column(Cost.x_SourceRow).min())  # type: ignore[arg-type]
        value = named.filter(pl.col(ROW) == row).select(column).collect().item()
        expected = TIME_FORMS if column in TIME_COLUMNS else f"a {expected}"
        raise InputError(
            f"no value of the column could be read ({refused.height:,} rows; this one has "
            f"{value!r})",
            file=uri,
            row=row,
            column=column,
            expected=f"{expected} in each row",
        )


def _quarantine(refused: pl.DataFrame, named: pl.LazyFrame, uri: str) -> pl.DataFrame:
    """Refused rows with their reason and their original content as JSON text."""
    if refused.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    rows = refused.get_column(Cost.x_SourceRow)
    originals = (
        named.filter(pl.col(ROW).is_in(rows.implode()))
        .select(
            pl.col(ROW).cast(pl.Int64).alias(Cost.x_SourceRow),
            pl.struct(pl.exclude(ROW)).struct.json_encode().alias(Quarantine.raw),
        )
        .collect()
    )
    return (
        refused.join(originals, on=Cost.x_SourceRow, how="left")
        .select(
            pl.lit(None, dtype=pl.String).alias(Quarantine.x_Source),
            pl.col(Cost.BillingPeriodStart)
            .dt.strftime("%Y-%m")
            .fill_null("")
            .alias(Quarantine.x_BillingPeriod),
            pl.col(Cost.BillingAccountId).fill_null("").alias(Quarantine.BillingAccountId),
            pl.lit(uri).alias(Quarantine.file),
            pl.col(Cost.x_SourceRow).alias(Quarantine.row),
            pl.col(REASON).str.split(":").list.first().alias(Quarantine.column),
            pl.col(REASON).alias(Quarantine.reason),
            pl.col(Quarantine.raw),
            pl.col(STATED_COST).alias(Quarantine.cost),
            pl.col(Cost.BillingCurrency).alias(Quarantine.currency),
            pl.lit(None, dtype=pl.String).alias(Quarantine.x_IngestId),
        )
        .cast(dict(QUARANTINE_SCHEMA.items()))
    )


def _check_currencies(raw: pl.LazyFrame, uri: str, column: str) -> None:
    """A currency code outside ISO 4217 means the file is not what it claims to be.

    Checked on the raw column, before any row is mapped; an empty cell is a row problem
    (quarantined by the mapping), an unknown code a file problem.
    """
    code = pl.col(column).cast(pl.String).str.strip_chars()
    unknown = (
        raw.with_row_index("_at", offset=1)
        .filter(code.is_not_null() & (code != "") & ~code.is_in(sorted(ISO_4217)))
        .select("_at", code.alias(column))
        .head(1)
        .collect()
    )
    if unknown.height:
        row, value = unknown.row(0)
        raise InputError(
            f"unknown currency {value!r}",
            file=uri,
            row=row,
            column=column,
            expected="an ISO 4217 currency code such as USD",
        )
