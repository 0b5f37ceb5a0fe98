"""`gpuledger ingest focus SRC`: any FOCUS 1.0 / 1.1 / 1.2 cost and usage export → ``cost``.

Part of ``collect/``: this is how Azure (Cost Management FOCUS export), OCI and other providers
arrive. SRC is a file or folder (CSV, gzip CSV, Parquet) on disk, ``s3://`` or ``gs://``. For each
file: the header is checked (version, mandatory columns; a wrong header refuses the whole ingest
with exit 2), every row is mapped by :func:`~gpuledger.collect.focus.mapping.parse_focus` and
staged to Parquet in slices of :data:`SLICE_ROWS` rows (:mod:`~gpuledger.collect.staging`), so
a large export is never mapped whole; rows that cannot be stored
go to the quarantine with their reason and source row, and the staged rows go through
:func:`~gpuledger.collect.ingest.ingest_cost`, which replaces each (account, period) partition.
Memory follows the store's write chunk, not the size of the export.

A file that ends inside a row, or holds another number of rows than its export run's manifest
says, is refused; so is an ingest whose manifest lists a file that is not there. A row that
repeats an earlier row whole (:class:`~gpuledger.collect.quarantine.RepeatedRows`), or whose
billing period the export run does not cover, is quarantined.

Conservation: the stored sums of BilledCost and EffectiveCost equal the file's sums, less the
quarantined rows (whose amounts the quarantine shows).
"""

from __future__ import annotations

import gzip
import io
from fnmatch import fnmatch
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import polars as pl

from gpuledger.collect.currency import harmonize_currency
from gpuledger.collect.files import (
    SourceFile,
    list_files,
    polars_storage_options,
    read_bytes,
    refuse_cut_short,
)
from gpuledger.collect.focus.manifests import ExportRun, export_runs, run_of
from gpuledger.collect.focus.mapping import (
    numbered,
    parse_focus,
    quarantine_with_source,
    with_gpu_facts,
)
from gpuledger.collect.focus.spec import check_header
from gpuledger.collect.focus.verdicts import LINE_KEY, FileVerdicts
from gpuledger.collect.ingest import CostBatch, Delivery, IngestResult, ingest_cost
from gpuledger.collect.quarantine import (
    REASON,
    RepeatedRows,
)
from gpuledger.collect.staging import Staging
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.progress import progress_bar
from gpuledger.schema import QUARANTINE_SCHEMA, Cost
from gpuledger.store.delta import Store

SOURCE = "focus"
PATTERNS = ("*.csv", "*.csv.gz", "*.parquet")
_NULL_TEXTS = ["NULL", "null"]  # FOCUS sample data and the spec's examples spell null this way
# Rows mapped and staged at a time: memory follows the slice, not the file.
SLICE_ROWS = 500_000


def ingest(
    store: Store, settings: Settings, src: str, *, force: bool = False, **options: Any
) -> IngestResult:
    """Ingest every FOCUS file under ``src``; see the module docstring.

    A month whose export run (manifest) is older than the stored one is refused unless ``force``.
    """
    with TemporaryDirectory(prefix="gpuledger-focus-") as staging:
        return ingest_cost(
            store,
            SOURCE,
            src,
            lambda _run_id: read_focus(src, settings, Path(staging)),
            force=force,
        )


def read_focus(src: str, settings: Settings, staging: Path) -> CostBatch:
    """The canonical rows (staged under ``staging``) and refused rows of every FOCUS file."""
    listing = list_files(src)
    files = [f for f in listing if any(fnmatch(f.name, pattern) for pattern in PATTERNS)]
    if not files:
        raise InputError(
            f"{src}: no FOCUS files found", expected="*.csv, *.csv.gz or *.parquet files"
        )
    runs = export_runs(src, listing)  # refuses a run whose manifest lists a missing file
    staged = Staging(staging)
    repeated = RepeatedRows()
    refused: list[pl.DataFrame] = []
    with progress_bar() as progress:
        task = progress.add_task("FOCUS files", total=len(files))
        for file in files:
            raw = scan_table(file)
            check_header(raw.collect_schema().names(), file.uri)
            total = raw.select(pl.len()).collect().item()
            run = run_of(file.uri, runs)
            _check_row_count(file, total, run)
            judge = FileVerdicts(
                repeated.of(numbered(raw), Cost.x_SourceRow, LINE_KEY),
                None if run is None else run.months,
            )
            for start in range(0, max(total, 1), SLICE_ROWS):
                mapped = judge(_mapped(raw.slice(start, SLICE_ROWS), file, first_row=start + 1))
                refused.append(quarantine_with_source(staged.stage(mapped), raw, file.uri))
            progress.advance(task)
    rows = harmonize_currency(staged.rows(), settings)
    present = [frame for frame in refused if frame.height]
    return CostBatch(
        rows=rows,
        quarantine=pl.concat(present) if present else pl.DataFrame(schema=QUARANTINE_SCHEMA),
        deliveries=_deliveries(rows, runs),
    )


def _check_row_count(file: SourceFile, rows: int, run: ExportRun | None) -> None:
    """A file holds as many rows as its manifest says, or it is not the file that was exported."""
    stated = None if run is None else run.row_counts.get(file.uri)
    if stated is not None and stated != rows:
        raise InputError(
            f"holds {rows:,} data row(s), but its manifest says {stated:,}: the file is "
            "incomplete or not the one exported",
            file=file.uri,
            expected=f"dataRowCount {stated:,} as in {run.manifest if run else 'the manifest'}",
        )


def read_focus_file(file: SourceFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cost rows, quarantine rows) of one FOCUS file, in memory: for tests and small files."""
    raw = scan_table(file)
    check_header(raw.collect_schema().names(), file.uri)
    mapped = _mapped(raw, file).collect()
    rows = mapped.filter(pl.col(REASON).is_null()).drop(REASON, "_column")
    refused = mapped.filter(pl.col(REASON).is_not_null())
    return rows, quarantine_with_source(refused, raw, file.uri)


def _mapped(raw: pl.LazyFrame, file: SourceFile, first_row: int = 1) -> pl.LazyFrame:
    """Rows of one file (or of a slice starting at file row ``first_row``) mapped, with their
    verdict; a row-wise plan."""
    mapped = with_gpu_facts(parse_focus(raw, first_row))
    return mapped.with_columns(pl.lit(file.uri).alias(Cost.x_SourceFile))


def scan_table(file: SourceFile) -> pl.LazyFrame:
    """A FOCUS file, lazily: Parquet scanned typed, CSV read as text (money parsed later)."""
    if file.name.lower().endswith(".parquet"):
        try:
            frame = pl.scan_parquet(
                file.uri,
                storage_options=polars_storage_options(file.uri),
                hive_partitioning=False,
                glob=False,
            )
            frame.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable(file, exc) from exc
        return frame
    return read_table(file).lazy()


def read_table(file: SourceFile) -> pl.DataFrame:
    """A FOCUS file as a frame: CSV cells as text (money is parsed later, exactly), Parquet typed."""
    data = read_bytes(file.uri)
    name = file.name.lower()
    try:
        if name.endswith(".parquet"):
            return pl.read_parquet(io.BytesIO(data))
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        refuse_cut_short(file, data)
        frame = pl.read_csv(
            io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")),
            infer_schema=False,
            null_values=_NULL_TEXTS,
        )
    except (pl.exceptions.PolarsError, OSError, EOFError) as exc:
        raise _unreadable(file, exc) from exc
    # Blank lines between records (seen in the FOCUS spec's own examples) are not rows.
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))


def _unreadable(file: SourceFile, exc: Exception) -> InputError:
    return InputError(
        f"cannot read: {exc}".splitlines()[0],
        file=file.uri,
        expected="a CSV file with a header row (optionally gzip-compressed) or Parquet",
    )


def _deliveries(rows: pl.LazyFrame, runs: list[ExportRun]) -> list[Delivery]:
    """Per (account, period): invoiced once every row carries the provider's invoice id.

    The delivery is the export run (manifest) of the period's files when they all have one,
    named by its run id and dated by its time; otherwise it is named by the invoice ids.
    """
    periods = (
        rows.group_by(Cost.BillingAccountId, pl.col(Cost.BillingPeriodStart))
        .agg(
            pl.col(Cost.x_InvoiceId).is_not_null().all().alias("invoiced"),
            pl.col(Cost.x_InvoiceId).drop_nulls().unique().sort().str.join(",").alias("invoices"),
            pl.col(Cost.x_SourceFile).unique().alias("files"),
        )
        .sort(Cost.BillingAccountId, Cost.BillingPeriodStart)
        .collect(engine="streaming")
    )
    deliveries = []
    for item in periods.iter_rows(named=True):
        found = {run_of(uri, runs) for uri in item["files"]}
        run = found.pop() if len(found) == 1 else None
        deliveries.append(
            Delivery(
                billing_account=str(item[Cost.BillingAccountId]),
                period=item[Cost.BillingPeriodStart].strftime("%Y-%m"),
                delivery_id=(run.run_id if run else None) or item["invoices"] or None,
                invoiced=bool(item["invoiced"]),
                delivered_at=run.delivered_at if run else None,
            )
        )
    return deliveries
