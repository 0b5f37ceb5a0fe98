"""`gpuledger ingest gcp SRC`: the GCP Cloud Billing detailed usage cost export → ``cost``.

Part of ``collect/``. SRC is one of

* a file or folder of the export as ``bq extract`` writes it (newline-delimited JSON, optionally
  gzip-compressed, or Parquet), on disk or under ``gs://bucket/prefix``;
* ``bq://project.dataset.table``: the export table itself, queried in BigQuery with Application
  Default Credentials (see :mod:`gpuledger.collect.gcp.bigquery`).

``--period YYYY-MM`` (repeatable) names invoice months; files are filtered to them, and BigQuery
reads only them (default there: the current and previous invoice month, unless closed). Rows a
file gets wrong (no invoice month, a cost that is no number, …) are quarantined with their reason;
a file that is not the export at all, is empty, or lacks a required field (``cost``, …) is
refused with exit 2 and the store is left as it was. A row identical to an earlier one (the
export has no line id; the whole row is its key) is quarantined as a second copy.
Each (billing account, invoice month) partition is replaced as a whole, so re-ingesting a month
replaces its earlier copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import polars as pl

from gpuledger.collect.currency import harmonize_currency
from gpuledger.collect.files import SourceFile, list_files
from gpuledger.collect.gcp.bigquery import query_lines
from gpuledger.collect.gcp.files import read_export
from gpuledger.collect.gcp.lines import EXPORT_SCHEMA, SOURCE_ROW, export_lines
from gpuledger.collect.gcp.mapping import check_export, lines_to_cost
from gpuledger.collect.ingest import CostBatch, Delivery, IngestResult, ingest_cost
from gpuledger.collect.quarantine import (
    RAW,
    REASON,
    RepeatedRows,
    quarantine_rows,
    split_refused,
)
from gpuledger.collect.staging import Staging
from gpuledger.collect.values import money
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.period import Period
from gpuledger.progress import progress_bar
from gpuledger.schema import QUARANTINE_SCHEMA, Cost
from gpuledger.store.delta import Store

SOURCE = "gcp"
PATTERNS = ("*.json", "*.jsonl", "*.ndjson", "*.json.gz", "*.jsonl.gz", "*.parquet", "*.avro")


def ingest(
    store: Store,
    settings: Settings,
    src: str,
    *,
    periods: Sequence[str] = (),
    force: bool = False,
    **options: Any,
) -> IngestResult:
    """Ingest the export at ``src`` for the invoice months ``periods`` (``YYYY-MM``).

    ``force`` is passed on to the delivery-order check; GCP exports carry no manifest, so their
    deliveries are undated and never refused.
    """
    months = invoice_months(periods)
    if src.startswith("bq://"):
        wanted = months or default_months(store)
        return ingest_cost(
            store,
            SOURCE,
            src,
            lambda _run: read_bigquery(src, wanted, settings, **options),
            force=force,
        )
    with TemporaryDirectory(prefix="gpuledger-gcp-") as staging:
        return ingest_cost(
            store,
            SOURCE,
            src,
            lambda _run: read_files(src, months, settings, Path(staging)),
            force=force,
        )


def invoice_months(periods: Sequence[str]) -> list[str]:
    """``YYYY-MM`` periods as the export's ``invoice.month`` values (``YYYYMM``)."""
    return sorted({str(Period.parse(period)).replace("-", "") for period in periods})


def default_months(store: Store, now: datetime | None = None) -> list[str]:
    """The invoice months still open: this month and the last, unless a month is closed."""
    this_month = Period.of(now or datetime.now(UTC))
    months = [this_month.previous(), this_month]
    return [str(m).replace("-", "") for m in months if not store.state.is_closed(str(m))]


def read_bigquery(src: str, months: list[str], settings: Settings, **options: Any) -> CostBatch:
    """Cost rows from THE query over a BigQuery export table."""
    lines = query_lines(
        src,
        months,
        client_options=options.get("client_options"),
        credentials=options.get("credentials"),
    )
    rows = lines_to_cost(lines.lazy()).collect().with_columns(pl.lit(src).alias(Cost.x_SourceFile))
    converted = harmonize_currency(rows.lazy(), settings).collect()
    return CostBatch(rows=converted, deliveries=_deliveries(converted.lazy()))


def read_files(src: str, months: list[str], settings: Settings, staging: Path) -> CostBatch:
    """Cost rows (staged under ``staging``, one file at a time) and refused rows of the export."""
    files = list_files(src, PATTERNS)
    if not files:
        raise InputError(
            f"{src}: no billing export files found",
            expected="newline-delimited JSON (.json, .jsonl, .json.gz) or Parquet files",
        )
    staged = Staging(staging)
    repeated = RepeatedRows()
    refused: list[pl.DataFrame] = []
    with progress_bar() as progress:
        task = progress.add_task("GCP export files", total=len(files))
        for file in files:
            rows, rejected = read_export_file(file, months, repeated)
            staged.stage(rows)
            del rows  # one file's rows at a time
            refused.append(rejected)
            progress.advance(task)
    rows_of_all = harmonize_currency(staged.rows(), settings)
    present = [frame for frame in refused if frame.height]
    quarantine = pl.concat(present) if present else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return CostBatch(rows=rows_of_all, quarantine=quarantine, deliveries=_deliveries(rows_of_all))


def read_export_file(
    file: SourceFile, months: list[str], repeated: RepeatedRows | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cost rows, quarantine rows) of one export file, limited to ``months`` when given.

    Rows keep their position in the file (``_source_row``) whatever the month filter leaves;
    ``repeated`` remembers earlier files' rows, so a row delivered twice is stored once.
    """
    raw = read_export(file).lazy().with_row_index(SOURCE_ROW, offset=1)
    if months:
        month = pl.col("invoice").struct.field("month")
        raw = raw.filter(month.is_in(months) | ~month.str.contains(r"^\d{6}$").fill_null(True))
    again = (repeated or RepeatedRows()).of(raw, SOURCE_ROW)
    sound, refused = split_refused(check_export(raw, again).collect())
    del raw  # the export is large; keep only what the next steps need
    refused = refused.with_columns(
        pl.struct(list(EXPORT_SCHEMA.names())).struct.json_encode().alias(RAW)
    )
    rows = (
        lines_to_cost(export_lines(sound.lazy()))
        .collect()
        .with_columns(pl.lit(file.uri).alias(Cost.x_SourceFile))
    )
    return rows, quarantine_rows(_as_cost_columns(refused), file.uri)


def _as_cost_columns(refused: pl.DataFrame) -> pl.DataFrame:
    """The few ``cost`` columns a quarantine row shows, from refused export rows."""
    if refused.is_empty():
        return refused.with_columns(
            pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias(Cost.BillingPeriodStart)
        )
    month = pl.col("invoice").struct.field("month")
    return refused.with_columns(
        (month + "01")
        .str.to_date("%Y%m%d", strict=False)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
        .alias(Cost.BillingPeriodStart),
        pl.col("billing_account_id").alias(Cost.BillingAccountId),
        pl.col(SOURCE_ROW).alias(Cost.x_SourceRow),
        money("cost", pl.String()).alias(Cost.BilledCost),
        pl.col("currency").alias(Cost.BillingCurrency),
    ).filter(pl.col(REASON).is_not_null())


def _deliveries(rows: pl.LazyFrame) -> list[Delivery]:
    """Each (account, invoice month) seen; GCP exports do not say when a month is invoiced."""
    seen = (
        rows.select(Cost.BillingAccountId, Cost.BillingPeriodStart)
        .unique()
        .collect(engine="streaming")
    )
    return [
        Delivery(billing_account=str(a), period=p.strftime("%Y-%m"))
        for a, p in seen.sort(Cost.BillingAccountId, Cost.BillingPeriodStart).iter_rows()
    ]
