"""Slurm jobs → ``gpu_usage`` rows: allocated GPU time per node, 5-minute bucket, GPU and job.

A job of N GPUs on k nodes holds, on each node, the GPU indexes ``gres_detail`` names, else
N spread evenly over its nodes (the first N mod k nodes one more), indexes 0, 1, …. Every GPU it
holds gets one row per 5-minute bucket its [start, end) touches, with ``active_seconds`` = the
seconds of the bucket inside the job. ``sm_util`` stays null and ``samples`` 0: the scheduler knows
the allocation, not the activity (``util_method`` ``slurm-allocation``, ``source`` ``slurm``). The GPU is named
``slurm:<host>/<index>`` (sacct knows no UUID); the engine meets agent rows on the GPU index.

Team: the ``[teams.X]`` whose ``slurm_accounts`` lists the job's account (case-insensitive), else
the account itself through :func:`~gpuledger.config.canonical_team`. ResourceId: the host through
``[telemetry.hosts]`` (the mapping DCGM rows use), else the host name, which is how on-premises
hosts are billed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final

import polars as pl

from gpuledger.collect.gpu.files import billing_period
from gpuledger.collect.gpu.nodes import NODE, attach_resource_ids
from gpuledger.collect.slurm.sacct import SlurmJob
from gpuledger.config import Settings, canonical_team
from gpuledger.schema import GPU_USAGE_SCHEMA, UTC_TIME, Usage

SOURCE_NAME: Final = "slurm"
UTIL_METHOD: Final = "slurm-allocation"
BUCKET_SECONDS: Final = 300
_END: Final = "_end"
_START: Final = "_start"


def slurm_team(settings: Settings, account: str) -> str | None:
    """The team a Slurm account belongs to (``[teams.X] slurm_accounts``), else its own name."""
    wanted = account.casefold()
    for team, team_config in settings.teams.items():
        if wanted in {a.casefold() for a in team_config.slurm_accounts}:
            return team
    return canonical_team(settings, account)


def held_gpus(job: SlurmJob) -> list[tuple[str, int]]:
    """(host, GPU index) of every GPU the job holds (module docstring)."""
    if job.gpu_indexes:
        return [
            (host, index)
            for host, indexes in zip(job.hosts, job.gpu_indexes, strict=True)
            for index in indexes
        ]
    share, extra = divmod(job.gpus, len(job.hosts))
    return [
        (host, index)
        for position, host in enumerate(job.hosts)
        for index in range(share + (1 if position < extra else 0))
    ]


def allocation_rows(jobs: Iterable[SlurmJob], settings: Settings) -> pl.DataFrame:
    """The ``gpu_usage`` rows (``GPU_USAGE_SCHEMA``) of ``jobs``; see the module docstring."""
    held = pl.DataFrame(_held_rows(jobs, settings), schema=_HELD_SCHEMA, orient="row")
    if held.is_empty():
        return pl.DataFrame(schema=GPU_USAGE_SCHEMA)
    step = timedelta(seconds=BUCKET_SECONDS)
    first = pl.col(_START).dt.truncate(f"{BUCKET_SECONDS}s")
    last = (pl.col(_END) - pl.duration(microseconds=1)).dt.truncate(f"{BUCKET_SECONDS}s")
    buckets = (
        held.filter(pl.col(_END) > pl.col(_START))
        .with_columns(pl.datetime_ranges(first, last, step).alias(Usage.bucket_start))
        .explode(Usage.bucket_start)
    )
    bucket_end = pl.col(Usage.bucket_start) + step
    inside = pl.min_horizontal(_END, bucket_end) - pl.max_horizontal(_START, Usage.bucket_start)
    rows = buckets.with_columns(
        (inside.dt.total_microseconds() / 1e6).alias(Usage.active_seconds),
        pl.lit(BUCKET_SECONDS, pl.Int32).alias(Usage.bucket_seconds),
        pl.col(Usage.host).alias(Usage.ResourceId),
        pl.format("slurm:{}/{}", Usage.host, Usage.gpu_index).alias(Usage.gpu_uuid),
        pl.lit(0, pl.Int32).alias(Usage.samples),
        pl.lit(UTIL_METHOD).alias(Usage.util_method),
        pl.lit(SOURCE_NAME).alias(Usage.source),
    )
    rows = rows.with_columns(billing_period(rows))
    rows = attach_resource_ids(rows, _NO_NODES, settings.telemetry.hosts)
    missing = [name for name in GPU_USAGE_SCHEMA.names() if name not in rows.columns]
    typed = rows.with_columns(pl.lit(None).alias(name) for name in missing)
    return typed.select(pl.col(name).cast(dtype) for name, dtype in GPU_USAGE_SCHEMA.items()).sort(
        Usage.bucket_start, Usage.host, Usage.gpu_index, Usage.job
    )


_HELD_SCHEMA: Final[Mapping[str, Any]] = {
    Usage.job: pl.String,
    Usage.team: pl.String,
    Usage.host: pl.String,
    Usage.gpu_index: pl.Int32,
    Usage.gpu_model: pl.String,
    _START: UTC_TIME,
    _END: UTC_TIME,
}
_NO_NODES: Final = pl.DataFrame(
    schema={NODE: pl.String, Usage.bucket_start: UTC_TIME, Usage.ResourceId: pl.String}
)


def _held_rows(jobs: Iterable[SlurmJob], settings: Settings) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    teams: dict[str, str | None] = {}
    for job in jobs:
        if job.account not in teams:
            teams[job.account] = slurm_team(settings, job.account)
        rows.extend(
            (job.job_id, teams[job.account], host, index, job.gpu_model, job.start, job.end)
            for host, index in held_gpus(job)
        )
    return rows
