"""`gpuledger ingest focus SRC`: any FOCUS 1.0 / 1.1 / 1.2 cost and usage export → ``cost``.

Part of ``collect/``: this is how Azure (Cost Management FOCUS export), OCI and other providers
arrive. SRC is a file or folder (CSV, gzip CSV, Parquet) on disk, ``s3://`` or ``gs://``. For each
file: the header is checked (version, mandatory columns; a wrong header refuses the whole ingest
with exit 2), every row is mapped by :func:`~gpuledger.collect.focus.mapping.parse_focus`, rows
that cannot be stored go to the quarantine with their reason, and the rest goes through
:func:`~gpuledger.collect.ingest.ingest_cost`, which replaces each (account, period) partition.

Conservation: the stored sums of BilledCost and EffectiveCost equal the file's sums, less the
quarantined rows (whose amounts the quarantine shows).
"""

from __future__ import annotations

import gzip
import io
from typing import Any

import polars as pl

from gpuledger.collect.currency import harmonize_currency
from gpuledger.collect.files import SourceFile, list_files, read_bytes
from gpuledger.collect.focus.mapping import parse_focus, with_gpu_facts
from gpuledger.collect.focus.spec import check_header
from gpuledger.collect.ingest import CostBatch, Delivery, IngestResult, ingest_cost
from gpuledger.collect.quarantine import quarantine_rows, split_refused
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.progress import progress_bar
from gpuledger.schema import QUARANTINE_SCHEMA, Cost
from gpuledger.store.delta import Store

SOURCE = "focus"
PATTERNS = ("*.csv", "*.csv.gz", "*.parquet")
_NULL_TEXTS = ["NULL", "null"]  # FOCUS sample data and the spec's examples spell null this way


def ingest(store: Store, settings: Settings, src: str, **options: Any) -> IngestResult:
    """Ingest every FOCUS file under ``src``; see the module docstring."""
    return ingest_cost(store, SOURCE, src, lambda _run_id: read_focus(src, settings))


def read_focus(src: str, settings: Settings) -> CostBatch:
    """The canonical rows and refused rows of every FOCUS file under ``src``."""
    files = list_files(src, PATTERNS)
    if not files:
        raise InputError(
            f"{src}: no FOCUS files found", expected="*.csv, *.csv.gz or *.parquet files"
        )
    kept: list[pl.DataFrame] = []
    refused: list[pl.DataFrame] = []
    with progress_bar() as progress:
        task = progress.add_task("FOCUS files", total=len(files))
        for file in files:
            rows, rejected = read_focus_file(file)
            kept.append(rows)
            refused.append(rejected)
            progress.advance(task)
    rows = harmonize_currency(pl.concat(kept, how="diagonal_relaxed"), settings, src)
    return CostBatch(
        rows=rows,
        quarantine=pl.concat(refused) if refused else pl.DataFrame(schema=QUARANTINE_SCHEMA),
        deliveries=_deliveries(rows),
    )


def read_focus_file(file: SourceFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cost rows, quarantine rows) of one FOCUS file."""
    raw = read_table(file)
    check_header(raw.columns, file.uri)
    parsed = parse_focus(raw.lazy()).collect()
    rows, rejected = split_refused(parsed)
    rows = (
        with_gpu_facts(rows.lazy())
        .collect()
        .with_columns(pl.lit(file.uri).alias(Cost.x_SourceFile))
    )
    return rows, quarantine_rows(rejected, file.uri)


def read_table(file: SourceFile) -> pl.DataFrame:
    """A FOCUS file as a frame: CSV cells as text (money is parsed later, exactly), Parquet typed."""
    data = read_bytes(file.uri)
    name = file.name.lower()
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(io.BytesIO(data))
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        frame = pl.read_csv(
            io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")),
            infer_schema=False,
            null_values=_NULL_TEXTS,
        )
    except (pl.exceptions.PolarsError, OSError, EOFError) as exc:
        raise InputError(
            f"cannot read: {exc}".splitlines()[0],
            file=file.uri,
            expected="a CSV file with a header row (optionally gzip-compressed) or Parquet",
        ) from exc
    # Blank lines between records (seen in the FOCUS spec's own examples) are not rows.
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))


def _deliveries(rows: pl.DataFrame) -> list[Delivery]:
    """Per (account, period): invoiced once every row carries the provider's invoice id."""
    if rows.is_empty():
        return []
    periods = rows.group_by(Cost.BillingAccountId, pl.col(Cost.BillingPeriodStart)).agg(
        pl.col(Cost.x_InvoiceId).is_not_null().all().alias("invoiced"),
        pl.col(Cost.x_InvoiceId).drop_nulls().unique().sort().str.join(",").alias("invoices"),
    )
    return [
        Delivery(
            billing_account=str(item[Cost.BillingAccountId]),
            period=item[Cost.BillingPeriodStart].strftime("%Y-%m"),
            delivery_id=item["invoices"] or None,
            invoiced=bool(item["invoiced"]),
        )
        for item in periods.sort(Cost.BillingAccountId, Cost.BillingPeriodStart).iter_rows(
            named=True
        )
    ]
