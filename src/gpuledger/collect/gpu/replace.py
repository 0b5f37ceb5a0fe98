"""Canonical GPU telemetry → the gpu_usage table: delivered buckets replace stored ones.

A delivered (source, host, gpu_uuid, bucket_start) replaces every stored row of that key,
whatever workloads they named, and keeps all other rows. The write is one Delta commit with a
predicate that names only the delivered buckets' time windows (contiguous runs of buckets, per
source and month) and, for a delivery from a few hosts, those hosts. Delta rewrites only the files
whose rows match it, so a 5-minute ingest costs what a 5-minute bucket holds, not what the month
holds. Stored rows inside the windows that the delivery does not replace (another GPU of a
listed host, a host not delivered) are read and written back in the same commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import polars as pl

from gpuledger.collect.gpu.combine import combine_duplicates
from gpuledger.collect.gpu.staging import DaySpill
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


class Days(Protocol):
    """A delivery day by day: its UTC days, and the rows of each."""

    def dates(self) -> list[date]: ...

    def rows(self, day: date) -> pl.DataFrame: ...


def replace_buckets(store: Store, days: Days, delivery: Delivery) -> Stored:
    """Store the delivery ``days`` (every bucket whole in its day) in one commit."""
    stored = Stored()
    if delivery.windows.is_empty():
        stored.version = store.version("gpu_usage")
        return stored
    hosts = delivery.hosts if len(delivery.hosts) <= MAX_HOSTS else None
    where = _where(_runs(delivery.windows), hosts)
    added: list[pl.DataFrame] = []

    def frames(kept: DaySpill) -> Iterator[pl.DataFrame]:
        for day in days.dates():
            delivered = combine_duplicates(days.rows(day).select(GPU_USAGE_SCHEMA.names()))
            tallied = telemetry_index.tally(delivered.lazy())
            added.append(tallied)
            _count(stored, delivered, tallied)
            left = kept.rows(day) if day in kept.dates() else None
            yield delivered if left is None else pl.concat([left, delivered], how="vertical")
            del delivered, left  # one day in memory: release it before reading the next

    with store.write_lock("gpu_usage"), DaySpill() as kept:
        before = store.version("gpu_usage")
        removed = _keep_unreplaced(store, days, where, kept)
        version = store.replace_where(
            "gpu_usage",
            frames(kept),
            where.sql,
            target_file_size=TARGET_FILE_BYTES,
            lock=False,
        )
    telemetry_index.apply_change(store, _concat(added), removed, version, previous_version=before)
    stored.version = version
    return stored


def _keep_unreplaced(store: Store, days: Days, where: _Where, kept: DaySpill) -> pl.DataFrame:
    """Spill the stored rows inside the windows that the delivery leaves in place.

    Returns the index tally of the stored rows it replaces. The table is read here, before the
    write starts: Delta cannot be read from inside it.
    """
    table = store.scan("gpu_usage")
    removed: list[pl.DataFrame] = []
    for day in days.dates():
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        in_day = pl.col(Usage.bucket_start).is_between(
            midnight, midnight + timedelta(days=1), closed="left"
        )
        old = table.filter(where.expr & in_day).collect()
        if old.is_empty():
            continue
        keys = days.rows(day).select(REPLACE_KEY).unique()
        kept.add(
            old.join(keys, on=REPLACE_KEY, how="anti", nulls_equal=True).select(
                GPU_USAGE_SCHEMA.names()
            )
        )
        replaced = old.join(keys, on=REPLACE_KEY, how="semi", nulls_equal=True)
        removed.append(telemetry_index.tally(replaced.lazy()))
    return _concat(removed)


@dataclass(frozen=True)
class Delivery:
    """What a delivery covers: its distinct ``WINDOW_KEYS`` rows and its hosts."""

    windows: pl.DataFrame
    hosts: list[str]


def delivery_of(rows: pl.LazyFrame | None) -> Delivery:
    """The buckets and hosts of some rows (None: no rows)."""
    if rows is None:
        return Delivery(pl.DataFrame(schema={k: GPU_USAGE_SCHEMA[k] for k in WINDOW_KEYS}), [])
    windows = rows.select(WINDOW_KEYS).unique().collect(engine="streaming")
    hosts = rows.select(pl.col(Usage.host).unique()).collect(engine="streaming")
    return Delivery(windows, sorted(hosts[Usage.host].drop_nulls().to_list()))


class InMemoryDays:
    """An in-memory delivery as the :class:`Days` that :func:`replace_buckets` takes."""

    def __init__(self, usage: pl.DataFrame) -> None:
        day = pl.col(Usage.bucket_start).dt.date().alias("__day")
        parts = usage.with_columns(day).partition_by("__day", as_dict=True, include_key=False)
        self._parts = {key[0]: part for key, part in parts.items()}

    def dates(self) -> list[date]:
        return sorted(self._parts)

    def rows(self, day: date) -> pl.DataFrame:
        return self._parts[day]


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
    """Add one day's rows to the counts; GPUs, hosts and months come from its index tally."""
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
