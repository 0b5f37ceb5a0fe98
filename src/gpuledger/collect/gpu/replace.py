"""Canonical GPU telemetry → the gpu_usage table: delivered buckets replace stored ones.

A delivered (source, host, gpu_uuid, bucket_start) replaces every stored row of that key,
whatever workloads they named, and keeps all other rows. The write is one Delta commit with a
predicate that names only the delivered buckets' time windows (contiguous runs of buckets, per
source and month) and, for a delivery from a few hosts, those hosts. Delta rewrites only the files
whose rows match it, so a 5-minute ingest costs what a 5-minute bucket holds, not what the month
holds. Stored rows inside the windows that the delivery does not replace (another GPU of a
listed host, a host not delivered) are read and written back in the same commit.

The delivery comes in parts of whole buckets in time order (days from a spill or from memory,
slices of day-ordered files), so the write holds one part whatever the delivery's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl

from gpuledger.collect.gpu.combine import combine_duplicates
from gpuledger.collect.gpu.files import billing_period
from gpuledger.collect.gpu.staging import DaySpill
from gpuledger.errors import GpuledgerError
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage
from gpuledger.store import telemetry_index
from gpuledger.store.delta import Store

REPLACE_KEY = [Usage.source, Usage.host, Usage.gpu_uuid, Usage.bucket_start]
WINDOW_KEYS = [Usage.source, Usage.x_BillingPeriod, Usage.bucket_start, Usage.bucket_seconds]
MAX_WINDOWS = 400  # more runs than this: one window per day instead, to keep the predicate short
MAX_HOSTS = 64  # a delivery from more hosts names no hosts: its windows hold the fleet anyway
TARGET_FILE_BYTES = 8 * 2**20  # ~350k rows: a restated bucket rewrites one small file


@dataclass
class Stored:
    """What one write stored: counts for the ingest summary."""

    version: int | None = None
    rows: int = 0
    buckets: int = 0
    gpus: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    periods: set[str] = field(default_factory=set)


Part = tuple[datetime | None, pl.DataFrame]
"""Delivered rows of whole buckets, and the end of their time range (None: no end)."""


def replace_buckets(store: Store, parts: Iterable[Part], delivery: Delivery) -> Stored:
    """Store the delivery in one commit; ``delivery`` covers every delivered row at least
    (:func:`delivery_of`).

    ``parts`` cut time into consecutive ranges, oldest first: a part holds every delivered row
    from the previous part's end up to its own end (exclusive), so each bucket is whole in one
    part. Each part is prepared (duplicates combined, index tally, the stored rows of its range
    that it leaves in place) as the write asks for it.
    """
    stored = Stored()
    if delivery.windows.is_empty():
        stored.version = store.version("gpu_usage")
        return stored
    hosts = delivery.hosts if len(delivery.hosts) <= MAX_HOSTS else None
    where = _where(_runs(delivery.windows), hosts)
    added: list[pl.DataFrame] = []
    removed: list[pl.DataFrame] = []
    refused: list[GpuledgerError] = []

    def frames(prepared: Iterable[_Part]) -> Iterator[pl.DataFrame]:
        for part in prepared:
            added.append(part.added)
            removed.append(part.removed)
            _count(stored, part.delivered, part.added)
            yield part.frame
            del part  # one part in memory: release it before taking the next

    with store.write_lock("gpu_usage"), DaySpill() as old:
        before = store.version("gpu_usage")
        _read_stored(store, delivery, where, old)
        prepared = _prepared(parts, _StoredRows(old), refused)
        try:
            version = store.replace_where(
                "gpu_usage",
                frames(prepared),
                where.sql,
                target_file_size=TARGET_FILE_BYTES,
                lock=False,
            )
        except GpuledgerError as exc:
            if refused and exc is not refused[0]:  # the input was refused, not the write
                raise refused[0] from exc
            raise
    telemetry_index.apply_change(
        store, _concat(added), _concat(removed), version, previous_version=before
    )
    stored.version = version
    return stored


@dataclass(frozen=True)
class _Part:
    """One part ready to write: its delivered rows, the frame written, and index tallies."""

    delivered: pl.DataFrame
    frame: pl.DataFrame
    added: pl.DataFrame
    removed: pl.DataFrame


def _prepared(
    parts: Iterable[Part], old: _StoredRows, refused: list[GpuledgerError]
) -> Iterator[_Part]:
    """Each part with the stored rows of its range that it does not replace; then the stored
    rows after the last part's end (windows of rows the read refused), kept whole.

    A refusal of the input is noted in ``refused``: the write reports it in its own words.
    """
    start: datetime | None = None
    ended = False  # a part without an end took every stored row after its start
    try:
        for end, rows in parts:
            delivered = combine_duplicates(rows.select(GPU_USAGE_SCHEMA.names()))
            del rows  # the delivered copy replaces the part as read
            added = telemetry_index.tally(delivered.lazy())
            stored = old.between(start, end)
            start, ended = end, end is None
            if stored.is_empty():
                yield _Part(delivered, delivered, added, _concat([]))
                continue
            keys = delivered.select(REPLACE_KEY).unique()
            kept = stored.join(keys, on=REPLACE_KEY, how="anti", nulls_equal=True)
            replaced = stored.join(keys, on=REPLACE_KEY, how="semi", nulls_equal=True)
            frame = pl.concat([kept, delivered], how="vertical")
            yield _Part(delivered, frame, added, telemetry_index.tally(replaced.lazy()))
    except GpuledgerError as exc:
        refused.append(exc)
        raise
    rest = pl.DataFrame(schema=GPU_USAGE_SCHEMA) if ended else old.between(start, None)
    if not rest.is_empty():
        yield _Part(pl.DataFrame(schema=GPU_USAGE_SCHEMA), rest, _concat([]), _concat([]))


class _StoredRows:
    """The stored rows spilled by :func:`_read_stored`, read by consecutive time ranges; the
    day last read is kept, so parts shorter than a day read each day once."""

    def __init__(self, spill: DaySpill) -> None:
        self._spill = spill
        self._days = spill.dates()
        self._cached: tuple[date, pl.DataFrame] | None = None

    def between(self, start: datetime | None, end: datetime | None) -> pl.DataFrame:
        """Stored rows with ``start <= bucket_start < end`` (None: unbounded)."""
        days = [
            day
            for day in self._days
            if (start is None or day >= start.date()) and (end is None or day <= end.date())
        ]
        when = pl.col(Usage.bucket_start)
        wanted = pl.lit(True)
        if start is not None:
            wanted = wanted & (when >= start)
        if end is not None:
            wanted = wanted & (when < end)
        frames = [self._day(day).filter(wanted) for day in days]
        return _concat_rows(frames)

    def _day(self, day: date) -> pl.DataFrame:
        if self._cached is None or self._cached[0] != day:
            self._cached = (day, self._spill.rows(day))
        return self._cached[1]


def _concat_rows(frames: list[pl.DataFrame]) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema=GPU_USAGE_SCHEMA)
    return pl.concat(frames, how="vertical")


def _read_stored(store: Store, delivery: Delivery, where: _Where, old: DaySpill) -> None:
    """Spill the stored rows that ``where`` names, day by day, before the write replaces them.

    The table is read here, before the write starts: Delta cannot be read from inside it.
    """
    table = store.scan("gpu_usage")
    for day in delivery.dates():
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        in_day = pl.col(Usage.bucket_start).is_between(
            midnight, midnight + timedelta(days=1), closed="left"
        )
        old.add(table.filter(where.expr & in_day).collect().select(GPU_USAGE_SCHEMA.names()))


@dataclass(frozen=True)
class Delivery:
    """What a delivery covers: its distinct ``WINDOW_KEYS`` rows and its hosts."""

    windows: pl.DataFrame
    hosts: list[str]

    def dates(self) -> list[date]:
        """The UTC days of the delivered buckets, oldest first."""
        days = self.windows.select(pl.col(Usage.bucket_start).dt.date().unique().sort())
        return days.to_series().to_list()


def delivery_of(rows: pl.LazyFrame | None) -> Delivery:
    """The buckets and hosts of some rows (None: no rows); their month is their bucket's."""
    if rows is None:
        return Delivery(pl.DataFrame(schema={k: GPU_USAGE_SCHEMA[k] for k in WINDOW_KEYS}), [])
    buckets = [Usage.source, Usage.bucket_start, Usage.bucket_seconds]
    distinct = rows.select(buckets).unique().drop_nulls(Usage.bucket_start)
    windows = distinct.collect(engine="streaming")
    windows = windows.with_columns(billing_period(windows)).select(WINDOW_KEYS)
    hosts = rows.select(pl.col(Usage.host).unique()).collect(engine="streaming")
    return Delivery(windows, sorted(hosts[Usage.host].drop_nulls().to_list()))


def day_parts(days: Iterable[tuple[date, pl.DataFrame]]) -> Iterator[Part]:
    """Rows by UTC day, oldest first, as the parts :func:`replace_buckets` takes."""
    for day, rows in days:
        yield datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1), rows


def days_of(usage: pl.DataFrame) -> list[tuple[date, pl.DataFrame]]:
    """In-memory rows by UTC day, oldest first."""
    day = pl.col(Usage.bucket_start).dt.date().alias("__day")
    parts = usage.with_columns(day).partition_by("__day", as_dict=True, include_key=False)
    return sorted(((key[0], part) for key, part in parts.items()), key=lambda item: item[0])


@dataclass(frozen=True)
class _Where:
    sql: str
    expr: pl.Expr


def _runs(windows: pl.DataFrame) -> pl.DataFrame:
    """Contiguous runs of delivered buckets per (source, month): first and last bucket_start."""
    keys = [Usage.source, Usage.x_BillingPeriod]
    buckets = (
        windows.group_by([*keys, Usage.bucket_start])
        .agg(pl.col(Usage.bucket_seconds).max())
        .sort([*keys, Usage.bucket_start])
    )
    end = pl.col(Usage.bucket_start) + pl.duration(seconds=pl.col(Usage.bucket_seconds))
    gap = (pl.col(Usage.bucket_start) > end.shift(1).over(keys)).fill_null(True)
    runs = (
        buckets.with_columns(gap.cum_sum().alias("__run"))
        .group_by([*keys, "__run"])
        .agg(
            pl.col(Usage.bucket_start).min().alias("first"),
            pl.col(Usage.bucket_start).max().alias("last"),
        )
    )
    if runs.height > MAX_WINDOWS:
        day = pl.col(Usage.bucket_start).dt.date().alias("__run")
        runs = buckets.group_by([*keys, day]).agg(
            pl.col(Usage.bucket_start).min().alias("first"),
            pl.col(Usage.bucket_start).max().alias("last"),
        )
    return runs.sort([*keys, "first"])


def _where(runs: pl.DataFrame, hosts: list[str] | None) -> _Where:
    """The same condition for Delta (SQL) and for reading the stored rows (Polars)."""
    sql_terms, exprs = [], []
    for run in runs.iter_rows(named=True):
        sql_terms.append(
            f"({Usage.source} = {_sql(run[Usage.source])}"
            f" AND {Usage.x_BillingPeriod} = {_sql(run[Usage.x_BillingPeriod])}"
            f" AND {Usage.bucket_start} >= {_sql(run['first'].isoformat())}"
            f" AND {Usage.bucket_start} <= {_sql(run['last'].isoformat())})"
        )
        exprs.append(
            (pl.col(Usage.source) == run[Usage.source])
            & (pl.col(Usage.x_BillingPeriod) == run[Usage.x_BillingPeriod])
            & pl.col(Usage.bucket_start).is_between(run["first"], run["last"], closed="both")
        )
    sql = "(" + " OR ".join(sql_terms) + ")"
    expr = pl.any_horizontal(exprs)
    if hosts is not None:
        sql += f" AND {Usage.host} IN ({', '.join(_sql(h) for h in hosts)})"
        expr = expr & pl.col(Usage.host).is_in(hosts)
    return _Where(sql, expr)


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _count(stored: Stored, delivered: pl.DataFrame, tallied: pl.DataFrame) -> None:
    """Add one part's rows to the counts; GPUs, hosts and months come from its index tally."""
    stored.rows += delivered.height
    stored.buckets += delivered[Usage.bucket_start].n_unique()
    stored.gpus.update(tallied["gpu_uuids"].explode().drop_nulls().to_list())
    stored.hosts.update(tallied["host"].drop_nulls().to_list())
    stored.periods.update(tallied["period"].drop_nulls().to_list())


def _concat(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    items = list(frames)
    return (
        pl.concat(items, how="vertical")
        if items
        else pl.DataFrame(schema=telemetry_index.TALLY_SCHEMA)
    )
