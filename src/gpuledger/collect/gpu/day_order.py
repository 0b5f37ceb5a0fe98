"""Telemetry ingest: local Parquet files whose rows come in day order, streamed without a spill.

Parquet keeps the minimum and maximum ``bucket_start`` of every row group. When each row group
starts no earlier than the day the previous one ended (daily files, a month file written in time
order), files taken in order of their first day, the input is read once straight into the store:
after each slice, the rows that start before every unread row group's minimum are complete
buckets and go on as one part (:func:`~.replace.replace_buckets`); the rest waits for the next
slice. Memory holds about a slice, not a day. What the delivery covers (its windows and hosts,
needed before the write starts) comes from a read of four key columns. Any other input takes
the spill (:mod:`.staging`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gpuledger.collect.files import SourceFile
from gpuledger.collect.gpu import files
from gpuledger.collect.gpu.replace import Delivery, Part, delivery_of
from gpuledger.errors import InputError
from gpuledger.schema import Usage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


@dataclass(frozen=True)
class _RowGroups:
    """One file's row groups that hold timestamps: where each ends (in rows), its earliest
    bucket_start, and the UTC days of its earliest and latest."""

    file: SourceFile
    rows: int
    ends: list[int]
    starts: list[datetime]
    first_days: list[date]
    last_days: list[date]


class DayOrdered:
    """A day-ordered input (:func:`day_ordered`): its delivery, and its rows part by part."""

    def __init__(self, groups: list[_RowGroups]) -> None:
        self._groups = groups

    @property
    def files(self) -> list[SourceFile]:
        return [group.file for group in self._groups]

    def delivery(self) -> Delivery:
        """The windows and hosts of every row, refused ones included (a wider predicate only
        reads back more stored rows; it never loses one)."""
        keys = [files.bucket_keys(group.file) for group in self._groups]
        return delivery_of(pl.concat(keys, how="vertical"))

    def parts(
        self, now: datetime, refused: list[pl.DataFrame], file_done: Callable[[], None]
    ) -> Iterator[Part]:
        """The checked rows as the parts :func:`replace_buckets` takes: after each slice, the
        rows that start before every unread row group. Each file's quarantined rows go to
        ``refused``; ``file_done`` is called after each file."""
        pending = None
        done: datetime | None = None  # every row before this was handed on
        for index, group in enumerate(self._groups):
            read = 0
            for rows, quarantine in files.read_usage_slices(group.file, files.SLICE_ROWS, now):
                read = min(read + files.SLICE_ROWS, group.rows)
                refused.append(quarantine)
                _check_after(rows, done, group.file)
                held = rows if pending is None else pl.concat([pending, rows], how="vertical")
                bound = self._unread_from(index, read)
                ready, pending = _split(held, bound)
                if not ready.is_empty():
                    yield bound, ready
                    done = bound
                del rows, held, ready  # one slice in memory: release it before the next
            file_done()

    def _unread_from(self, index: int, read: int) -> datetime | None:
        """The earliest bucket_start the input may still hold after ``read`` rows of file
        ``index``; None when nothing is left."""
        group = self._groups[index]
        unread = [start for end, start in zip(group.ends, group.starts, strict=True) if end > read]
        for later in self._groups[index + 1 :]:
            unread.extend(later.starts)
        return min(unread, default=None)


def _check_after(rows: pl.DataFrame, done: datetime | None, file: SourceFile) -> None:
    """Refuse rows earlier than what was already handed on: statistics that lie about the rows
    would otherwise split a bucket across two parts."""
    if done is None or rows.is_empty():
        return
    earliest = rows[Usage.bucket_start].min()
    if isinstance(earliest, datetime) and earliest < done:
        raise InputError(
            f"a bucket of {earliest} after rows of {done}: the file's row group statistics "
            "do not match its rows",
            file=file.uri,
            column=Usage.bucket_start,
        )


def _split(rows: pl.DataFrame, bound: datetime | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Rows before ``bound`` (all when None) and the rest, without copying time-ordered rows."""
    if bound is None:
        return rows, None
    start = rows[Usage.bucket_start]
    if start.is_sorted():
        count = int(start.search_sorted(bound, side="left"))
        return rows.head(count), rows.slice(count)
    before = start < bound
    return rows.filter(before), rows.filter(~before)


def day_ordered(sources: list[SourceFile]) -> DayOrdered | None:
    """The input as a :class:`DayOrdered`, or None when it is not local Parquet in day order."""
    groups = []
    for file in sources:
        found = _row_groups(file)
        if found is None:
            return None
        groups.append(found)
    groups.sort(key=lambda g: (g.first_days[0] if g.first_days else date.min, g.file.uri))
    ended = date.min
    for group in groups:
        for first, last in zip(group.first_days, group.last_days, strict=True):
            if first < ended:
                return None
            ended = last
    return DayOrdered(groups)


def _row_groups(file: SourceFile) -> _RowGroups | None:
    """The day span of each row group from its statistics; None when they do not tell."""
    if "://" in file.uri or not file.name.endswith(".parquet"):
        return None
    try:
        metadata = pq.ParquetFile(file.uri).metadata
    except (OSError, ValueError):
        return None  # the read reports an unreadable file in its own words
    names = metadata.schema.names
    if Usage.bucket_start not in names:
        return None
    column = names.index(Usage.bucket_start)
    per_second = _units_per_second(metadata.schema.to_arrow_schema().field(column).type)
    if per_second is None:
        return None
    ends, starts, firsts, lasts, end = [], [], [], [], 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        end += group.num_rows
        stats = group.column(column).statistics
        if stats is not None and not stats.has_min_max and stats.null_count == group.num_rows:
            continue  # no timestamps at all: the read quarantines these rows
        if stats is None or not stats.has_min_max or stats.physical_type != "INT64":
            return None
        earliest = _utc_time(stats.min_raw, per_second)
        ends.append(end)
        starts.append(earliest)
        firsts.append(earliest.date())
        lasts.append(_utc_time(stats.max_raw, per_second).date())
    return _RowGroups(file, metadata.num_rows, ends, starts, firsts, lasts)


def _units_per_second(kind: pa.DataType) -> int | None:
    """Units per second of a timestamp column, for its statistics' raw 64-bit values; None for
    a column that is not a timestamp."""
    return _PER_SECOND[kind.unit] if pa.types.is_timestamp(kind) else None


def _utc_time(raw: int, per_second: int) -> datetime:
    """A raw timestamp statistic as a UTC time, floored to the microsecond as the read casts it
    (a naive timestamp is UTC, as the read takes it)."""
    return EPOCH + timedelta(microseconds=raw * 10**6 // per_second)
