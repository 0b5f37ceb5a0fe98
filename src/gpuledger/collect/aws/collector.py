"""`gpuledger ingest aws SRC`: AWS billing exports (CUR 2.0, legacy CUR, FOCUS) → ``cost``.

Collect step, AWS. The flow, each part in its own module:

1. :mod:`~gpuledger.collect.aws.deliveries` lists ``SRC`` (folder, file or ``s3://``) and keeps
   the newest complete delivery of every period, refusing one whose manifest names missing files;
2. :mod:`~gpuledger.collect.aws.read` reads each file of those deliveries (streaming, one file
   at a time) and maps it with :mod:`~gpuledger.collect.aws.cur2` or
   :mod:`~gpuledger.collect.aws.focus_export`;
3. :func:`gpuledger.collect.ingest.ingest_cost` validates everything and replaces each
   (billing account, period) partition in one commit, so a re-delivery replaces the old copy.

``athena://<workgroup>/<database>.<table>`` reads a CUR table through one Athena query instead
(:mod:`~gpuledger.collect.aws.athena`), for the billing periods asked for (``periods``, ``YYYY-MM``)
or, when none are, the months still open (this month and the last, unless closed), as ``bq://``
does: a scheduled ingest never scans the table's whole history.

Any file-level fault (a CSV that ends inside a row, a manifest of the wrong shape) raises before
the store is touched. A row that repeats an earlier line item whole, or whose billing period is
not its delivery's, is quarantined. A period counts as invoiced once every
one of its rows carries an invoice id (``bill_invoice_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import polars as pl

from gpuledger.collect.aws.athena import download_answer, is_athena, stage_answer
from gpuledger.collect.aws.deliveries import AwsDelivery, find_deliveries
from gpuledger.collect.aws.read import stage_file
from gpuledger.collect.ingest import (
    CostBatch,
    Delivery,
    IngestResult,
    billing_period_of,
    ingest_cost,
)
from gpuledger.collect.quarantine import RepeatedRows
from gpuledger.collect.staging import Staging
from gpuledger.config import Settings
from gpuledger.errors import UsageError
from gpuledger.period import Period
from gpuledger.progress import progress_bar
from gpuledger.schema import QUARANTINE_SCHEMA, Cost
from gpuledger.store.delta import Store

SOURCE = "aws"


def ingest(
    store: Store,
    settings: Settings,
    src: str,
    *,
    periods: Sequence[str] = (),
    force: bool = False,
    **options: Any,
) -> IngestResult:
    """Ingest every AWS billing delivery under ``src`` into the store.

    A delivery older than the one stored for its period is refused unless ``force``.
    ``periods`` only applies to ``athena://`` tables; ``options`` are passed on to
    :func:`~gpuledger.collect.aws.athena.download_answer`.
    """
    with TemporaryDirectory(prefix="gpuledger-aws-") as staging:
        if is_athena(src):
            options.setdefault("unload_prefix", settings.aws.athena_unload_prefix)
            months = athena_periods(store, periods)
            return ingest_cost(
                store,
                SOURCE,
                src,
                lambda run_id: read_athena(src, months, Path(staging), **options),
                force=force,
            )
        if periods:
            raise UsageError(
                f"{src}: --period applies to athena:// tables; a file or folder is read whole"
            )
        return ingest_cost(
            store, SOURCE, src, lambda run_id: read_batch(src, Path(staging)), force=force
        )


def athena_periods(
    store: Store, periods: Sequence[str], now: datetime | None = None
) -> list[Period]:
    """The billing periods to read from Athena: those asked for, else the months still open."""
    if periods:
        return sorted({Period.parse(period) for period in periods})
    this_month = Period.of(now or datetime.now(UTC))
    months = [m for m in (this_month.previous(), this_month) if not store.state.is_closed(str(m))]
    if not months:
        raise UsageError(f"{this_month.previous()} and {this_month} are closed: name a --period")
    return months


def read_athena(src: str, periods: list[Period], staging: Path, **options: Any) -> CostBatch:
    """The rows of THE Athena query's answer, refused rows, and each period's invoice state.

    Athena does not say which delivery a table's rows came from: the delivery is left unknown.
    """
    files = download_answer(src, periods, staging / "answer", **options)
    (staging / "rows").mkdir()
    rows, refused = stage_answer(files, src, staging / "rows")
    return CostBatch(rows=rows, quarantine=refused, deliveries=period_deliveries(rows, {}))


def read_batch(src: str, staging: Path) -> CostBatch:
    """All rows of the current deliveries under ``src``, their refused rows and delivery facts.

    Each file's rows are staged to a Parquet file in ``staging`` as soon as they are mapped; the
    batch is a lazy scan of those files, which the store streams into Delta in chunks. Memory
    therefore holds one source file's working set, never the whole month.
    """
    deliveries = find_deliveries(src)
    refused: list[pl.DataFrame] = []
    delivery_of: dict[str, AwsDelivery] = {}
    staged = Staging(staging)
    repeated = RepeatedRows()
    files = [(d, f) for d in deliveries for f in d.files]
    with progress_bar() as progress:
        task = progress.add_task(f"AWS {src}", total=len(files))
        for delivery, file in files:
            refused.append(stage_file(file, staged, period=delivery.period, repeated=repeated))
            delivery_of[file.uri] = delivery
            progress.advance(task)
    frame = staged.rows()
    return CostBatch(
        rows=frame,
        quarantine=_concat(refused, QUARANTINE_SCHEMA),
        deliveries=period_deliveries(frame, delivery_of),
    )


def _concat(frames: list[pl.DataFrame], schema: pl.Schema) -> pl.DataFrame:
    """One frame from per-file frames whose optional columns may differ."""
    present = [f for f in frames if f.height]
    if not present:
        return pl.DataFrame(schema=schema)
    return pl.concat(present, how="diagonal_relaxed", rechunk=False)


def period_deliveries(
    rows: pl.DataFrame | pl.LazyFrame, delivery_of: dict[str, AwsDelivery]
) -> list[Delivery]:
    """Per (billing account, period): the delivery it came from and whether it is invoiced."""
    # Grouped by the timestamp first: formatting the period of every row would cost more.
    periods = (
        rows.lazy()
        .group_by(Cost.BillingAccountId, Cost.BillingPeriodStart)
        .agg(
            pl.col(Cost.x_SourceFile).first().alias("file"),
            pl.col(Cost.x_InvoiceId).is_not_null().all().alias("invoiced"),
        )
        .sort(Cost.BillingAccountId, Cost.BillingPeriodStart)
        .group_by(Cost.BillingAccountId, billing_period_of().alias("period"), maintain_order=True)
        .agg(pl.col("file").first(), pl.col("invoiced").all())
        .sort(Cost.BillingAccountId, "period")
        .collect(engine="streaming")
    )
    deliveries = []
    for row in periods.iter_rows(named=True):
        source = delivery_of.get(row["file"])
        deliveries.append(
            Delivery(
                billing_account=row[Cost.BillingAccountId],
                period=row["period"],
                delivery_id=_delivery_id(source),
                invoiced=bool(row["invoiced"]),
                delivered_at=None if source is None else source.delivered_at,
            )
        )
    return deliveries


def _delivery_id(delivery: AwsDelivery | None) -> str | None:
    if delivery is None:
        return None
    return delivery.delivery_id or delivery.manifest or delivery.files[0].uri
