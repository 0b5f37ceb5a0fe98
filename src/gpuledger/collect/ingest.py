"""The one ingest path every billing collector goes through: validate, quarantine, replace, record.

A collector turns its source into a :class:`CostBatch` (canonical rows plus the rows it refused)
and never writes the store itself. :func:`ingest_cost` then, in this order:

1. stamps lineage (``x_Source``, ``x_IngestId``, ``x_BillingPeriod``) on every row;
2. checks that each (billing account, period) is billed in one currency, and that no delivery
   is older than the one stored for its partition (see below);
3. replaces the (source, billing account, billing period) partitions of ``cost`` in one commit,
   validating every row on the way (in chunks when the batch is lazy, so memory stays bounded);
   an invalid row aborts the write before its commit;
4. replaces the quarantine rows of the touched partitions;
5. records each period's delivery and invoice state, and the run, in the state database.

A failure at any step (any exception) leaves the earlier ``cost`` version in place and records the
run as failed.

**An older delivery never replaces a newer one.** Providers restate a month by delivering it
again (a new CUR assembly or Data Exports execution, a new Azure export run). The state database
keeps, per (source, billing account, period), the delivery the stored rows came from and when it
was made (its manifest's time). A later ingest offering a *different* delivery made *earlier* is
refused before anything is written, unless forced; the same delivery again, or one whose time is
unknown, is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from gpuledger.errors import InputError, SchemaError
from gpuledger.schema import QUARANTINE_SCHEMA, Cost, Quarantine, validate
from gpuledger.store.delta import Store
from gpuledger.store.state import StateDB, run_failure

PARTITION_KEYS = (Cost.x_Source, Cost.BillingAccountId, Cost.x_BillingPeriod)


@dataclass(frozen=True)
class Delivery:
    """What the source said about one (billing account, period): its delivery id and finality."""

    billing_account: str
    period: str
    delivery_id: str | None = None
    invoiced: bool = False
    delivered_at: datetime | None = None  # when the provider made the delivery (its manifest)


@dataclass
class CostBatch:
    """A collector's output: canonical rows, refused rows, and per-period delivery facts."""

    rows: pl.DataFrame | pl.LazyFrame  # lazy (staged files) to stream millions of rows
    quarantine: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUARANTINE_SCHEMA))
    deliveries: list[Delivery] = field(default_factory=list)


@dataclass(frozen=True)
class IngestResult:
    run_id: str
    source: str
    rows: int
    quarantined: int
    partitions: list[tuple[str, str]]  # (billing account, period)
    cost_version: int | None
    # The most frequent quarantine reasons with their row counts, most frequent first.
    reasons: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        periods = ", ".join(f"{account} {period}" for account, period in self.partitions)
        text = f"{self.source}: stored {self.rows:,} line items ({periods or 'no periods'})"
        if self.quarantined:
            why = "; ".join(f"{count:,} {reason}" for reason, count in self.reasons)
            text += f"; {self.quarantined:,} row(s) quarantined ({why}), see `gpuledger status`"
        return text


def billing_period_of(column: str = Cost.BillingPeriodStart) -> pl.Expr:
    """``YYYY-MM`` of a UTC timestamp column: the partition key of cost rows."""
    return pl.col(column).dt.strftime("%Y-%m")


def ingest_cost(
    store: Store,
    source: str,
    src: str,
    read: Callable[[str], CostBatch],
    *,
    force: bool = False,
) -> IngestResult:
    """Run one collector over ``src`` and store its rows; see the module docstring for the steps.

    ``force`` stores a delivery even when it is older than the one the store holds.
    """
    run_id = store.state.start_ingest(source, src)
    try:
        batch = read(run_id)
        _check_stampable(batch.rows, src)
        rows = batch.rows.lazy().with_columns(
            pl.lit(source).alias(Cost.x_Source),
            pl.lit(run_id).alias(Cost.x_IngestId),
            billing_period_of().alias(Cost.x_BillingPeriod),
        )
        validate(rows.head(0).collect(), "cost", source=src)  # columns and types first
        facts = _partition_facts(rows)
        _check_one_currency(facts, rows)
        partitions = [(str(a), str(p)) for a, p in facts.select(PARTITION_KEYS[1:]).iter_rows()]
        row_count = int(facts["rows"].sum())
        quarantine = validate(
            batch.quarantine.with_columns(
                pl.lit(source).alias(Quarantine.x_Source),
                pl.lit(run_id).alias(Quarantine.x_IngestId),
            ),
            "quarantine",
        )
        refuse_older_deliveries(store.state, source, batch.deliveries, force=force)
        version = store.replace_partitions("cost", rows, PARTITION_KEYS) if row_count else None
        _replace_quarantine(store, source, quarantine, partitions)
        for delivery in batch.deliveries:
            store.state.record_billing_period(
                source,
                delivery.billing_account,
                delivery.period,
                invoiced=delivery.invoiced,
                delivery=delivery.delivery_id,
                delivered_at=delivery.delivered_at,
            )
    except BaseException as exc:  # any failure, not only ours: no run is left `running`
        store.state.finish_ingest(run_id, status="failed", message=run_failure(exc))
        raise
    store.state.finish_ingest(
        run_id,
        status="ok",
        rows=row_count,
        quarantined=quarantine.height,
        partitions=[list(p) for p in partitions],
    )
    return IngestResult(
        run_id, source, row_count, quarantine.height, partitions, version, _top_reasons(quarantine)
    )


def _top_reasons(quarantine: pl.DataFrame, most: int = 3) -> tuple[tuple[str, int], ...]:
    """The ``most`` commonest quarantine reasons and their row counts (ties by reason)."""
    counts = (
        quarantine.group_by(Quarantine.reason)
        .len()
        .sort(["len", Quarantine.reason], descending=[True, False])
        .head(most)
    )
    return tuple((str(reason), int(count)) for reason, count in counts.iter_rows())


def _partition_facts(rows: pl.LazyFrame) -> pl.DataFrame:
    """Rows and currencies per (billing account, period), in one streaming pass."""
    # Grouped by the timestamp first: formatting the period of every row would cost more.
    return (
        rows.group_by(Cost.BillingAccountId, Cost.BillingPeriodStart)
        .agg(
            pl.len().alias("rows"),
            pl.col(Cost.BillingCurrency).drop_nulls().unique().alias("currencies"),
        )
        .with_columns(billing_period_of().alias(Cost.x_BillingPeriod))
        .group_by(Cost.BillingAccountId, Cost.x_BillingPeriod)
        .agg(
            pl.col("rows").sum(),
            pl.col("currencies")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort(),
        )
        .sort(Cost.BillingAccountId, Cost.x_BillingPeriod)
        .collect(engine="streaming")
    )


def _check_stampable(rows: pl.DataFrame | pl.LazyFrame, src: str) -> None:
    """The lineage step derives the partition key from BillingPeriodStart: it must be there."""
    names = set(rows.collect_schema().names())
    if Cost.BillingPeriodStart not in names:
        raise SchemaError(
            f"{src}: cost: missing required column(s) {Cost.BillingPeriodStart}",
            column=Cost.BillingPeriodStart,
            expected="the columns of the cost table",
        )


def _check_one_currency(facts: pl.DataFrame, rows: pl.LazyFrame) -> None:
    """One billing period of one account is billed in one currency; a mix means a broken file.

    The error names the first line of each currency, by its file and that file's own row.
    """
    mixed = facts.filter(pl.col("currencies").list.len() > 1)
    if not mixed.height:
        return
    first = mixed.row(0, named=True)
    account, period = first[Cost.BillingAccountId], first[Cost.x_BillingPeriod]
    names = rows.collect_schema().names()
    where_from = [
        pl.col(c) if c in names else pl.lit(None).alias(c)
        for c in (Cost.x_SourceFile, Cost.x_SourceRow)
    ]
    lines = (
        rows.with_columns(where_from)
        .filter(
            (pl.col(Cost.BillingAccountId) == account) & (pl.col(Cost.x_BillingPeriod) == period)
        )
        .group_by(Cost.BillingCurrency)
        .agg(pl.col(Cost.x_SourceFile, Cost.x_SourceRow).first())
        .sort(Cost.BillingCurrency)
        .collect()
    )
    where = [f"{c} first in {file} row {row}" for c, file, row in lines.iter_rows()]
    raise InputError(
        f"billing account {account} period {period} mixes currencies "
        f"{', '.join(first['currencies'])} ({'; '.join(where)})",
        file=lines.item(-1, Cost.x_SourceFile),
        row=lines.item(-1, Cost.x_SourceRow),
        column=Cost.BillingCurrency,
        expected="one currency per billing account and period",
    )


def _replace_quarantine(
    store: Store, source: str, quarantine: pl.DataFrame, partitions: list[tuple[str, str]]
) -> None:
    """Quarantine follows its partitions: a re-ingest replaces the rows it refused last time."""
    clear = [
        {Quarantine.x_Source: source, Quarantine.BillingAccountId: a, Quarantine.x_BillingPeriod: p}
        for a, p in partitions
    ]
    keys = [Quarantine.x_Source, Quarantine.BillingAccountId, Quarantine.x_BillingPeriod]
    if quarantine.height or (clear and store.exists("quarantine")):
        quarantine = quarantine.with_columns(
            pl.col(Quarantine.BillingAccountId).fill_null(""),
            pl.col(Quarantine.x_BillingPeriod).fill_null(""),
        )
        store.replace_partitions("quarantine", quarantine, keys, replace=clear)


def refuse_older_deliveries(
    state: StateDB, source: str, deliveries: Iterable[Delivery], *, force: bool = False
) -> None:
    """Raise if any offered delivery is older than the one the store holds for its partition."""
    if force:
        return
    for offered in deliveries:
        if offered.delivered_at is None:
            continue
        stored = state.delivery_time_of(source, offered.billing_account, offered.period)
        if stored is None:
            continue
        stored_id, stored_at = stored
        if offered.delivery_id == stored_id or offered.delivered_at >= stored_at:
            continue
        raise InputError(
            f"{source} billing account {offered.billing_account} period {offered.period}: "
            f"the store holds delivery {stored_id or '(unnamed)'} made {_when(stored_at)}; "
            f"the delivery offered, {offered.delivery_id or '(unnamed)'}, was made "
            f"{_when(offered.delivered_at)}, earlier. Nothing was written. Ingest the newer "
            "delivery, or pass --force to store the older one anyway",
            expected="a delivery at least as recent as the stored one",
        )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
