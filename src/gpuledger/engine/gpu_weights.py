"""gpu_usage → per-GPU-hour workload weights: the only form in which telemetry meets the bill.

Millions of bucket rows are reduced, before any cost row is touched, to one row per (instance,
hour, workload) holding the GPU-seconds that workload used in that hour; the attribution engine
then joins those few rows to the hourly cost rows. No cost × bucket product is ever built.

How a bucket is shared (rule 2 of :mod:`gpuledger.engine.attribute`):

* A row's *slot* is the GPU it describes: a whole GPU, or a MIG instance worth
  ``compute slices of its profile / slices of the GPU`` of its parent (``3g.40gb`` → 3/7 on
  A100/H100, 4 slices in all on A30).
* Within one bucket of one slot, the workloads on it share ``bucket_seconds × slot`` in proportion
  to ``active_seconds × sm_util``, or equally when all of those are zero. A bucket whose only row
  has no workload (namespace, pod, job and pid_command all null) is idle time of that slot.
* A bucket belongs to the hour its ``bucket_start`` falls in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import polars as pl

from gpuledger.schema import Usage

HOUR: Final = "_hour"
IS_WORK: Final = "_is_work"
GPU_SECONDS: Final = "_gpu_seconds"  # GPU-seconds of one workload (or of idle time) in one hour
WORKLOAD: Final = "_workload"
TEAM_LABEL: Final = "_team_label"  # the workload's telemetry ``team`` label, as reported
MODEL_LABEL: Final = "_model_label"

_WORKLOAD_COLUMNS: Final = (Usage.namespace, Usage.pod, Usage.job, Usage.pid_command)
_LABELS: Final = (*_WORKLOAD_COLUMNS, Usage.team, Usage.model)
_TWO_32: Final = 1 << 32
CHUNK_ROWS: Final = 8_000_000  # telemetry rows reduced at a time: about 1.5 GiB of working set
_GPU_SLICES_A30: Final = 4.0
_GPU_SLICES: Final = 7.0


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


def bucket_rows(usage: pl.LazyFrame, start: datetime, end: datetime) -> pl.LazyFrame:
    """The telemetry rows of [start, end) reduced to what sharing needs, labels as categoricals.

    Row by row, so it streams: each row becomes its slot's GPU-seconds and its activity.
    """
    is_work = pl.any_horizontal(pl.col(c).is_not_null() for c in _WORKLOAD_COLUMNS)
    activity = pl.col(Usage.active_seconds).fill_null(0.0) * pl.col(Usage.sm_util).fill_null(0.0)
    return usage.filter(
        pl.col(Usage.bucket_start).is_between(start, end, closed="left")
        & pl.col(Usage.ResourceId).is_not_null()
    ).select(
        # Categoricals: the window and the group-by of the next step work on integer codes.
        pl.col(Usage.ResourceId, Usage.gpu_uuid, *_LABELS).cast(pl.Categorical),
        Usage.bucket_start,
        is_work.alias(IS_WORK),
        (
            pl.col(Usage.bucket_seconds).cast(pl.Float64)
            * slot_fraction(pl.col(Usage.mig_profile), pl.col(Usage.gpu_model))
        ).alias("_slot_seconds"),
        pl.when(is_work).then(activity).otherwise(0.0).alias("_activity"),
    )


def bucket_shares(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Each row's GPU-seconds: its slot's bucket time times its share of that bucket.

    Almost every slot-bucket has one row (one workload, or idle), whose share is 1. A row whose
    (GPU, bucket start) — one integer: the GPU's categorical code and the bucket's second — is
    unique is certainly alone and skips the window; only rows whose (GPU, bucket) repeats
    (time-sliced GPUs, or one GPU id reported by two instances) are shared out exactly.
    """
    bucket = [Usage.ResourceId, Usage.gpu_uuid, Usage.bucket_start]
    gpu_code = pl.col(Usage.gpu_uuid).to_physical().cast(pl.UInt64)
    second = pl.col(Usage.bucket_start).dt.epoch("s").cast(pl.UInt64) % _TWO_32
    slot_bucket = gpu_code * _TWO_32 + second
    keyed = rows.with_columns(slot_bucket.is_duplicated().alias("_shared"))
    alone = keyed.filter(~pl.col("_shared")).with_columns(
        pl.col("_slot_seconds").alias(GPU_SECONDS)
    )
    total_activity = pl.col("_activity").sum().over(bucket)
    workloads = pl.col(IS_WORK).sum().over(bucket)
    share = (
        pl.when(pl.col(IS_WORK))
        .then(
            pl.when(total_activity > 0)
            .then(pl.col("_activity") / total_activity)
            .otherwise(1.0 / workloads)
        )
        .when(workloads == 0)
        .then(1.0 / pl.len().over(bucket))
        .otherwise(0.0)
    )
    together = keyed.filter(pl.col("_shared")).with_columns(
        (pl.col("_slot_seconds") * share).alias(GPU_SECONDS)
    )
    return pl.concat([alone, together], how="vertical")


def hourly_gpu_seconds(rows: pl.LazyFrame) -> pl.LazyFrame:
    """GPU-seconds per (``ResourceId``, hour, team label, model label, workload).

    ``rows`` come from :func:`bucket_rows`. Idle time is kept as rows with :data:`IS_WORK` false
    (labels null) so that the hour's covered GPU time is known; a workload row's
    :data:`GPU_SECONDS` is its share of each bucket it ran in.
    """
    return (
        bucket_shares(rows)
        .group_by(
            Usage.ResourceId,
            pl.col(Usage.bucket_start).dt.truncate("1h").alias(HOUR),
            IS_WORK,
            *_LABELS,
        )
        .agg(pl.col(GPU_SECONDS).sum())
        .with_columns(pl.col(Usage.ResourceId, *_LABELS).cast(pl.String))
        .select(
            Usage.ResourceId,
            HOUR,
            IS_WORK,
            pl.when(IS_WORK).then(pl.col(Usage.team)).alias(TEAM_LABEL),
            pl.when(IS_WORK).then(pl.col(Usage.model)).alias(MODEL_LABEL),
            pl.when(IS_WORK).then(workload_name()).alias(WORKLOAD),
            GPU_SECONDS,
        )
    )


def reduce_usage(
    usage: pl.LazyFrame, start: datetime, end: datetime, rows_per_chunk: int = CHUNK_ROWS
) -> pl.DataFrame:
    """:func:`hourly_gpu_seconds` of [start, end), computed in chunks of whole instances.

    An instance's hours never span two chunks (chunks split by a hash of ``ResourceId``), so
    the chunks' results are simply stacked; memory stays near one chunk's rows whatever the
    size of the fleet.
    """
    period = usage.filter(pl.col(Usage.bucket_start).is_between(start, end, closed="left"))
    total = period.select(pl.len()).collect(engine="streaming").item()
    chunks = max(1, -(-int(total) // rows_per_chunk))
    results = []
    for chunk in range(chunks):
        part = usage
        if chunks > 1:
            part = usage.filter(pl.col(Usage.ResourceId).hash(seed=0) % chunks == chunk)
        rows = bucket_rows(part, start, end).collect(engine="streaming")
        results.append(hourly_gpu_seconds(rows.lazy()).collect(engine="in-memory"))
        del rows
    return pl.concat(results, how="vertical")


def gpus_seen(hourly: pl.LazyFrame) -> pl.LazyFrame:
    """Per ``ResourceId``, the GPUs its telemetry covers: the most GPU-hours seen in any hour.

    Used as the GPU count of an instance whose cost rows do not carry ``x_GpuCount``.
    """
    return (
        hourly.group_by(Usage.ResourceId, HOUR)
        .agg(pl.col(GPU_SECONDS).sum())
        .group_by(Usage.ResourceId)
        .agg((pl.col(GPU_SECONDS).max() / 3600.0 - 1e-9).ceil().clip(1.0).alias("_gpus_seen"))
    )
