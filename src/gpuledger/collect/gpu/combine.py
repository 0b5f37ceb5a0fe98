"""GPU telemetry rows → one row per (bucket, GPU, workload), before they are stored."""

from __future__ import annotations

import polars as pl

from gpuledger.schema import GPU_USAGE_SCHEMA, Usage

MEASUREMENTS = frozenset(
    {
        Usage.active_seconds,
        Usage.sm_util,
        Usage.mem_used_bytes,
        Usage.power_w,
        Usage.samples,
        Usage.util_method,
        Usage.mem_total_bytes,
    }
)
WORKLOAD_ID = [name for name in GPU_USAGE_SCHEMA.names() if name not in MEASUREMENTS]
_METHOD_RANK = {"device": 0, "process": 1, "memory_share": 2}


def combine_duplicates(usage: pl.DataFrame) -> pl.DataFrame:
    """One row per (bucket, GPU, workload): the parts' activity added up.

    Several rows of one workload on one GPU-bucket are parts of its activity (two processes of
    one job, or an agent's shutdown file and its successor's), so they combine by adding:

    - ``active_seconds`` = sum of the parts' active_seconds, capped at ``bucket_seconds``;
    - ``sm_util`` such that ``active_seconds × sm_util`` = sum of the parts'
      ``active_seconds × sm_util``, that product capped at ``bucket_seconds × 100``
      (parts without sm_util add nothing; null when no part has one);
    - ``samples`` summed, ``mem_used_bytes`` and ``mem_total_bytes`` their maximum, ``power_w``
      the sample-weighted mean (one device's power, not the workload's), ``util_method`` the
      least precise of the parts'.

    Two processes of one job at 39.4 % and 50.9 % over a 300-s bucket are one row of 300 s at
    90.3 %, so the job weighs what its processes weigh together against other workloads.
    Only rows whose identity repeats are grouped; the rest pass through untouched.
    """
    repeated = _repeated_identity(usage)
    if not repeated.any():
        return usage
    weight = pl.col(Usage.samples).cast(pl.Float64)
    rank = pl.col(Usage.util_method).replace_strict(_METHOD_RANK, default=-1)
    has_util = pl.col(Usage.sm_util).is_not_null()
    combined = (
        usage.filter(repeated)
        .group_by(WORKLOAD_ID, maintain_order=True)
        .agg(
            pl.col(Usage.active_seconds).sum(),
            (pl.col(Usage.active_seconds) * pl.col(Usage.sm_util)).sum().alias("__util_seconds"),
            has_util.any().alias("__has_util"),
            pl.col(Usage.mem_used_bytes).max(),
            pl.col(Usage.mem_total_bytes).max(),
            _weighted(Usage.power_w, weight),
            pl.col(Usage.samples).sum(),
            pl.col(Usage.util_method).sort_by(rank).last(),
        )
    )
    bucket = pl.col(Usage.bucket_seconds).cast(pl.Float64)
    active = pl.min_horizontal(Usage.active_seconds, bucket)
    util_seconds = pl.min_horizontal("__util_seconds", bucket * 100)
    sm_util = (
        pl.when(pl.col("__has_util") & (active > 0))
        .then(pl.min_horizontal(util_seconds / active, pl.lit(100.0)))
        .otherwise(pl.when(pl.col("__has_util")).then(pl.lit(0.0)))
    )
    combined = combined.with_columns(
        active.alias(Usage.active_seconds), sm_util.alias(Usage.sm_util)
    ).select(GPU_USAGE_SCHEMA.names())
    return pl.concat([usage.filter(~repeated), combined], how="vertical")


def _repeated_identity(usage: pl.DataFrame) -> pl.Series:
    """Which rows share their identity (``WORKLOAD_ID``) hash with another row.

    Only rows whose (bucket, GPU) hash repeats can; identities are hashed on those few (GPUs
    shared by several workloads), not on every row. A rare hash collision only sends a row
    through the group-by.
    """
    gpu_bucket = pl.col(Usage.gpu_uuid).hash() ^ pl.col(Usage.bucket_start).hash()
    candidates = _repeats(usage.select(gpu_bucket).to_series())
    if not candidates.any():
        return candidates
    rows = candidates.arg_true()
    identity = _repeats(usage[rows].select(pl.struct(WORKLOAD_ID).hash()).to_series())
    return pl.repeat(False, usage.height, dtype=pl.Boolean, eager=True).scatter(rows, identity)


def _repeats(hashes: pl.Series) -> pl.Series:
    """Which values occur more than once: by sorting, several times faster than a hash table."""
    ordered = hashes.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    return hashes.is_in(repeated.implode())


def _weighted(column: str, weight: pl.Expr) -> pl.Expr:
    """Sample-weighted mean of ``column`` over the rows that have it; null when none has."""
    present = weight.filter(pl.col(column).is_not_null()).sum()
    mean = (pl.col(column) * weight).sum() / present
    return pl.when(present > 0).then(mean).otherwise(None).alias(column)
