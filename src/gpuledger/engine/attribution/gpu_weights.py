"""gpu_usage → per-GPU-hour workload weights: the only form in which telemetry meets the bill.

Millions of bucket rows are reduced, before any cost row is touched, to one row per (instance,
hour, workload) holding the GPU-seconds that workload used in that hour; the attribution engine
then joins those few rows to the hourly cost rows. No cost × bucket product is ever built.

How a bucket is shared (rule 2 of :mod:`gpuledger.engine.attribution.attribute`):

* A row's *slot* is the GPU it describes: a whole GPU, or a MIG instance worth
  ``compute slices of its profile / slices of the GPU`` of its parent (``3g.40gb`` → 3/7 on
  A100/H100, 4 slices in all on A30).
* Within one bucket of one slot, the workloads on it share ``bucket_seconds × slot`` in proportion
  to ``active_seconds × sm_util``, or equally when all of those are zero. A bucket whose only row
  has no workload (namespace, pod, job and pid_command all null) is idle time of that slot.
* A bucket belongs to the hour its ``bucket_start`` falls in.

Scheduler allocation rows (``source`` ``slurm``: a job held the GPU, activity unknown) meet
measured rows (the agent, DCGM) first, per GPU slot — (ResourceId, ``gpu_index``, 5-minute bucket)
— in :func:`prefer_measured`: where a GPU was measured, the measurement wins and the allocation row
is dropped; a measured workload (a process the agent saw) without ``job`` or ``team`` takes the
job's. A GPU the agent saw idle stays idle although a job held it: its time follows the idle
policy. Allocation rows of slots nothing measured count as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import polars as pl

from gpuledger.engine.attribution.keys import disagrees, row_key
from gpuledger.engine.attribution.sums import exact_sum
from gpuledger.schema import Usage

HOUR: Final = "_hour"
IS_WORK: Final = "_is_work"
GPU_SECONDS: Final = "_gpu_seconds"  # GPU-seconds of one workload (or of idle time) in one hour
WORKLOAD: Final = "_workload"
TEAM_LABEL: Final = "_team_label"  # the workload's telemetry ``team`` label, as reported
MODEL_LABEL: Final = "_model_label"
RESOURCE: Final = "_resource"  # an instance's 64-bit key (:func:`keyed`)
LABELS_ID: Final = "_labels_id"  # the 64-bit key of (team label, model label, workload)

_WORKLOAD_COLUMNS: Final = (Usage.namespace, Usage.pod, Usage.job, Usage.pid_command)
_LABELS: Final = (*_WORKLOAD_COLUMNS, Usage.team, Usage.model)
_BUCKET: Final = (Usage.ResourceId, Usage.gpu_uuid, Usage.bucket_start)  # one slot's bucket
# What makes two rows one workload of one hour: the slot (MIG profile of a GPU model) included.
_WORKLOAD_KEY: Final = (Usage.ResourceId, *_LABELS, Usage.mig_profile, Usage.gpu_model)
# Two independent seeds: rows are grouped by the first hash and the second checks the grouping.
_KEY_SEED: Final = 0x6770756C
_CHECK_SEED: Final = 0x6C656467
_RESOURCE_SEED: Final = 0x72657363
_LABELS_SEED: Final = 0x6C61626C
_KEY: Final = "_workload_key"
_CHECK: Final = "_workload_check"
_SLOT_BUCKET: Final = "_slot_bucket"
_SECONDS: Final = "_seconds"  # bucket time of a row, then of a workload's hour
_SHARED_SECONDS: Final = "_shared_seconds"  # a row's part of a bucket it shares
_ACTIVITY: Final = "_activity"
_ROW: Final = "_row"
CHUNK_ROWS: Final = 40_000_000  # telemetry rows reduced at a time: about 2 GiB of working set
_GPU_SLICES_A30: Final = 4.0
_GPU_SLICES: Final = 7.0
SCHEDULER_SOURCES: Final = ("slurm",)  # gpu_usage sources that know allocation, not activity
SLOT_SECONDS: Final = 300  # allocation rows' bucket: measured rows meet them on this grid
_SLOT_START: Final = "_slot_start"
_SLOT: Final = (Usage.ResourceId, Usage.gpu_index, _SLOT_START)


def slot_fraction(mig_profile: pl.Expr, gpu_model: pl.Expr) -> pl.Expr:
    """The share of a physical GPU one row describes: 1 for a whole GPU, slices/total for MIG."""
    slices = mig_profile.str.extract(r"^(\d+)g\.", 1).cast(pl.Float64)
    total = (
        pl.when(gpu_model.str.contains("(?i)a30"))
        .then(pl.lit(_GPU_SLICES_A30))
        .otherwise(pl.lit(_GPU_SLICES))
    )
    return (
        pl.when(mig_profile.is_null())
        .then(pl.lit(1.0))
        .otherwise((slices / total).clip(0.0, 1.0).fill_null(1.0))
    )


def workload_name() -> pl.Expr:
    """A workload's display name: ``namespace/pod``, else the job, else the process command."""
    pod = pl.concat_str(
        pl.col(Usage.namespace).fill_null(""), pl.lit("/"), pl.col(Usage.pod)
    ).str.strip_prefix("/")
    return pl.coalesce(pod, pl.col(Usage.job), pl.col(Usage.pid_command))


def bucket_rows(usage: pl.LazyFrame) -> pl.LazyFrame:
    """Each telemetry row reduced to numbers: its index, keys, hour, bucket time and activity.

    Row by row, so it streams. ``usage`` carries :data:`_ROW` (its row index). The keys are 64-bit
    hashes — two independent ones of the row's workload (instance, labels, MIG profile, GPU model)
    and one of its slot-bucket — so that what follows works on integers, and no string of the
    millions of rows is held: the labels are read back only for the rows that stand for a group.
    """
    workload = [pl.col(name) for name in _WORKLOAD_KEY]
    started = pl.col(Usage.bucket_start).dt.epoch("us").cast(pl.UInt64)
    return usage.select(
        _ROW,
        row_key(workload, _KEY_SEED).alias(_KEY),
        row_key(workload, _CHECK_SEED).alias(_CHECK),
        (pl.col(Usage.gpu_uuid).hash(_KEY_SEED) ^ started).alias(_SLOT_BUCKET),
        pl.col(Usage.bucket_start).dt.truncate("1h").alias(HOUR),
        pl.col(Usage.bucket_seconds).cast(pl.Float64).alias(_SECONDS),
        (pl.col(Usage.active_seconds).fill_null(0.0) * pl.col(Usage.sm_util).fill_null(0.0)).alias(
            _ACTIVITY
        ),
    )


def repeated_buckets(rows: pl.DataFrame) -> pl.Series:
    """Slot-bucket hashes that occur more than once in ``rows`` (from :func:`bucket_rows`).

    Found by sorting the hashes, which is cheaper than a hash table of millions of keys. Such
    buckets are time-sliced GPUs or one GPU reported twice; a hash collision merely adds a bucket.
    """
    keys = rows.get_column(_SLOT_BUCKET).sort()
    return keys.filter(keys == keys.shift(1)).unique()


def working() -> pl.Expr:
    """Whether a telemetry row is a workload: any of namespace, pod, job or command is known."""
    return pl.any_horizontal(pl.col(c).is_not_null() for c in _WORKLOAD_COLUMNS)


def shared_bucket_seconds(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Bucket time of rows that share a slot-bucket, each row's by its share of the bucket.

    The workloads on it share it in proportion to ``active_seconds × sm_util``, equally when all
    of those are zero; a bucket with no workload at all is idle time split over its rows.
    """
    is_work = pl.col(IS_WORK)
    total_activity = exact_sum(pl.col(_ACTIVITY).filter(is_work)).over(_BUCKET)
    workloads = is_work.sum().over(_BUCKET)
    share = (
        pl.when(is_work)
        .then(
            pl.when(total_activity > 0)
            .then(pl.col(_ACTIVITY) / total_activity)
            .otherwise(1.0 / workloads)
        )
        .when(workloads == 0)
        .then(1.0 / pl.len().over(_BUCKET))
        .otherwise(0.0)
    )
    return rows.with_columns(working().alias(IS_WORK)).select(
        _ROW, (pl.col(_SECONDS) * share).alias(_SHARED_SECONDS)
    )


def _read_back(usage: pl.LazyFrame, rows: pl.Series, columns: Sequence[str]) -> pl.LazyFrame:
    """``columns`` of the telemetry rows whose index is in ``rows``, with :data:`_ROW`."""
    return usage.filter(pl.col(_ROW).is_in(rows.implode())).select(_ROW, *columns)


def hourly_gpu_seconds(rows: pl.DataFrame, usage: pl.LazyFrame) -> pl.DataFrame:
    """GPU-seconds per (``ResourceId``, hour, team label, model label, workload).

    ``rows`` come from :func:`bucket_rows` of ``usage`` (which carries :data:`_ROW`). A row alone
    in its slot-bucket — almost all of them — counts its whole bucket time; the others their
    share (:func:`shared_bucket_seconds`). Sums per workload and hour are then scaled by the slot
    (whole GPU or MIG slices). Idle time is kept as rows with :data:`IS_WORK` false (labels null)
    so that the hour's covered GPU time is known.

    Rows are grouped by the workload hash; should two workloads ever share it, the second hash
    disagrees within the group and the grouping is redone on the columns themselves, so a
    collision costs time, never money. ``rows`` is only read lazily: a derived column on it would
    first copy all of its millions of rows into one piece.
    """
    numbers = rows.lazy()
    seconds = pl.col(_SECONDS)
    repeated = repeated_buckets(rows)
    if not repeated.is_empty():
        sliced = numbers.filter(pl.col(_SLOT_BUCKET).is_in(repeated.implode())).collect()
        detail = _read_back(usage, sliced.get_column(_ROW), [*_BUCKET, *_WORKLOAD_COLUMNS])
        shares = shared_bucket_seconds(sliced.lazy().join(detail, on=_ROW))
        numbers = numbers.join(shares, on=_ROW, how="left")
        seconds = pl.coalesce(_SHARED_SECONDS, _SECONDS)
    sums = (exact_sum(seconds).alias(_SECONDS), pl.col(_ROW).first())
    grouped = (
        numbers.group_by(_KEY, HOUR)
        .agg(*sums, disagrees(_CHECK).alias("_collided"))
        .collect(engine="streaming")
    )
    if grouped.get_column("_collided").any():
        labelled = numbers.join(usage.select(_ROW, *_WORKLOAD_KEY), on=_ROW)
        grouped = labelled.group_by(*_WORKLOAD_KEY, HOUR).agg(*sums).collect(engine="streaming")
    firsts = grouped.select(_ROW, HOUR, _SECONDS)
    is_work = pl.col(IS_WORK)
    return (
        _read_back(usage, firsts.get_column(_ROW), _WORKLOAD_KEY)
        .join(firsts.lazy(), on=_ROW)
        .with_columns(working().alias(IS_WORK))
        .select(
            Usage.ResourceId,
            HOUR,
            IS_WORK,
            pl.when(is_work).then(pl.col(Usage.team)).alias(TEAM_LABEL),
            pl.when(is_work).then(pl.col(Usage.model)).alias(MODEL_LABEL),
            pl.when(is_work).then(workload_name()).alias(WORKLOAD),
            (
                pl.col(_SECONDS) * slot_fraction(pl.col(Usage.mig_profile), pl.col(Usage.gpu_model))
            ).alias(GPU_SECONDS),
        )
        .collect(engine="streaming")
    )


def prefer_measured(usage: pl.LazyFrame, start: datetime, end: datetime) -> pl.LazyFrame:
    """``usage`` of [start, end) with scheduler rows merged into measured ones (module docstring).

    Without scheduler rows in the period the telemetry is returned as it is; otherwise only the
    measured rows of the instances a scheduler reported are joined, the rest pass untouched.
    Every reader of telemetry that counts GPU time (attribution, waste) should read it so.
    """
    in_period = pl.col(Usage.bucket_start).is_between(start, end, closed="left")
    from_scheduler = pl.col(Usage.source).is_in(SCHEDULER_SOURCES).fill_null(False)
    slot = pl.col(Usage.bucket_start).dt.truncate(f"{SLOT_SECONDS}s").alias(_SLOT_START)
    allocated = _scheduler_rows(usage, start, end)
    if allocated.is_empty():
        return usage.filter(in_period)
    columns = usage.collect_schema().names()
    measured = usage.filter(in_period & ~from_scheduler)
    scheduled = (
        pl.col(Usage.ResourceId)
        .is_in(allocated.get_column(Usage.ResourceId).drop_nulls().unique().implode())
        .fill_null(False)
    )
    nearby = measured.filter(scheduled).with_columns(slot).collect()
    labels = (
        allocated.sort(Usage.job, nulls_last=True)
        .group_by(_SLOT)
        .agg(pl.col(Usage.job).first().alias("_job"), pl.col(Usage.team).first().alias("_team"))
    )
    work = working()
    enriched = nearby.join(labels, on=_SLOT, how="left", maintain_order="left").with_columns(
        pl.when(work).then(pl.coalesce(Usage.job, "_job")).otherwise(Usage.job).alias(Usage.job),
        pl.when(work)
        .then(pl.coalesce(Usage.team, "_team"))
        .otherwise(Usage.team)
        .alias(Usage.team),
    )
    unmeasured = allocated.join(nearby.select(_SLOT).unique(), on=_SLOT, how="anti")
    return pl.concat(
        [
            measured.filter(~scheduled),
            enriched.select(columns).lazy(),
            unmeasured.select(columns).lazy(),
        ],
        how="vertical",
    )


def _indexed_period(usage: pl.LazyFrame, start: datetime, end: datetime) -> pl.LazyFrame:
    """The period's rows with an instance, numbered (:data:`_ROW`) for reading back.

    Without scheduler rows the index is taken on the scan itself, before the filter, which the
    streaming engine runs without holding the period (numbering a filtered or merged frame holds
    it whole: 1.6 GiB more on a 32 M-row month); with them, the merged rows are numbered.
    """
    kept = pl.col(Usage.ResourceId).is_not_null()
    if _scheduler_rows(usage, start, end).is_empty():
        in_period = pl.col(Usage.bucket_start).is_between(start, end, closed="left")
        return usage.with_row_index(_ROW).filter(in_period & kept)
    return prefer_measured(usage, start, end).filter(kept).with_row_index(_ROW)


def _scheduler_rows(usage: pl.LazyFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """The scheduler allocation rows of [start, end), each with its 5-minute slot."""
    in_period = pl.col(Usage.bucket_start).is_between(start, end, closed="left")
    from_scheduler = pl.col(Usage.source).is_in(SCHEDULER_SOURCES).fill_null(False)
    slot = pl.col(Usage.bucket_start).dt.truncate(f"{SLOT_SECONDS}s").alias(_SLOT_START)
    return usage.filter(in_period & from_scheduler).with_columns(slot).collect()


def reduce_usage(
    usage: pl.LazyFrame, start: datetime, end: datetime, rows_per_chunk: int = CHUNK_ROWS
) -> pl.DataFrame:
    """:func:`hourly_gpu_seconds` of [start, end), computed in chunks of whole instances.

    A period of up to ``rows_per_chunk`` rows is one chunk, read in one pass. A larger one is
    split by a hash of ``ResourceId``, so an instance's hours never span two chunks and the
    chunks' results are simply stacked; memory stays near one chunk's rows whatever the size
    of the fleet.
    """
    period = _indexed_period(usage, start, end)
    rows = bucket_rows(period).head(rows_per_chunk + 1).collect(engine="streaming")
    if rows.height <= rows_per_chunk:
        return hourly_gpu_seconds(rows, period)
    del rows
    total = period.select(pl.len()).collect(engine="streaming").item()
    chunks = -(-int(total) // rows_per_chunk)
    results = []
    for chunk in range(chunks):
        part = period.filter(pl.col(Usage.ResourceId).hash(seed=0) % chunks == chunk)
        rows = bucket_rows(part).collect(engine="streaming")
        results.append(hourly_gpu_seconds(rows, part))
        del rows
    return pl.concat(results, how="vertical")


def _injective_seed(frame: pl.DataFrame, columns: Sequence[str], seed: int) -> int:
    """The first seed from ``seed`` under which the distinct ``columns`` of ``frame`` have
    distinct :func:`~gpuledger.engine.attribution.keys.row_key` s, so the key identifies them exactly."""
    distinct = frame.lazy().select(columns).unique().collect(engine="streaming")
    keys = [pl.col(name) for name in columns]
    while distinct.select(row_key(keys, seed)).to_series().n_unique() != distinct.height:
        seed += 1
    return seed


def resource_key(resource: pl.Expr, seed: int) -> pl.Expr:
    """An instance id's 64-bit key under ``seed`` (from :func:`keyed`)."""
    return row_key([resource], seed)


def keyed(hourly: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``hourly`` with integer keys for its instance (:data:`RESOURCE`) and labels (:data:`LABELS_ID`).

    Cost rows meet the telemetry on (instance key, hour), and workloads are summed by labels
    key: integers instead of strings. Each key's seed is chosen so that distinct values have
    distinct keys. Returns the frame and the instance key's seed, for keying cost rows alike.
    """
    resource_seed = _injective_seed(hourly, [Usage.ResourceId], _RESOURCE_SEED)
    labels = [TEAM_LABEL, MODEL_LABEL, WORKLOAD]
    labels_seed = _injective_seed(hourly, labels, _LABELS_SEED)
    return hourly.with_columns(
        resource_key(pl.col(Usage.ResourceId), resource_seed).alias(RESOURCE),
        row_key([pl.col(name) for name in labels], labels_seed).alias(LABELS_ID),
    ), resource_seed


def gpus_seen(hourly: pl.LazyFrame) -> pl.LazyFrame:
    """Per instance, the GPUs its telemetry covers: the most GPU-hours seen in any hour.

    Used as the GPU count of an instance whose cost rows do not carry ``x_GpuCount``. ``hourly``
    carries :data:`RESOURCE`.
    """
    return (
        hourly.group_by(RESOURCE, HOUR)
        .agg(exact_sum(pl.col(GPU_SECONDS)).alias(GPU_SECONDS))
        .group_by(RESOURCE)
        .agg((pl.col(GPU_SECONDS).max() / 3600.0 - 1e-9).ceil().clip(1.0).alias("_gpus_seen"))
    )
