"""Benchmark data: a synthetic GPU fleet's telemetry as gpu_usage files (not the sample company).

Usage: ``python -m bench.fleet OUT [--instances 100] [--days 30] [--layout month|daily|spool]``

Deterministic from ``--seed``: the same knobs write the same rows. Built day by day (a month file
through one Parquet writer, in row groups of Polars' default size), so memory follows one day of
the fleet. Knobs: instance mix, days, bucket seconds, the share of GPU-buckets shared by several workloads, processes
per workload (rows of one workload on one GPU-bucket that ingest must combine), agent gaps (hours
a host sent nothing), the share of A100/H100 GPUs split into MIG instances, and the share of hosts
without a cloud instance id.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from gpuledger.schema import GPU_USAGE_SCHEMA, Usage

GIB = 2**30
ROW_GROUP_ROWS = 262_144  # Polars' default, as in the daily files


@dataclass(frozen=True)
class Shape:
    """One instance type: its GPUs and what a GPU of it draws."""

    name: str
    provider: str
    gpu_model: str
    gpus: int
    mem_gib: int
    idle_w: float
    busy_w: float
    mig_profile: str | None = None  # how a MIG-split GPU of this shape is cut (two halves)


SHAPES = {
    "h100x8": Shape("p5.48xlarge", "aws", "H100", 8, 80, 70, 650, "3g.40gb"),
    "a100x8": Shape("p4d.24xlarge", "aws", "A100", 8, 40, 55, 380, "3g.20gb"),
    "l4x4": Shape("g6.12xlarge", "aws", "L4", 4, 24, 16, 70),
    "a10gx1": Shape("g5.xlarge", "aws", "A10G", 1, 24, 20, 280),
    "a3": Shape("a3-highgpu-8g", "gcp", "H100", 8, 80, 70, 650, "3g.40gb"),
    "a2": Shape("a2-highgpu-1g", "gcp", "A100", 1, 40, 55, 380, "3g.20gb"),
}
DEFAULT_MIX = "h100x8=0.12,a100x8=0.12,l4x4=0.2,a10gx1=0.4,a3=0.04,a2=0.12"
TEAMS = ("nlp", "vision", "search", "ads", "research", "platform")
MODELS = ("llama-70b", "resnet-152", "bert-large", "ranker-v3", "mixtral-8x7b", "whisper")


@dataclass(frozen=True)
class Knobs:
    """What the generated fleet looks like."""

    instances: int = 100
    mix: dict[str, float] = field(default_factory=lambda: parse_mix(DEFAULT_MIX))
    start: date = date(2026, 3, 1)
    days: int = 30
    bucket_seconds: int = 300
    shared_share: float = 0.1  # GPU-buckets with two workloads (2 to max_workloads)
    max_workloads: int = 2  # most workloads on one shared GPU-bucket
    processes: int = 2  # processes (rows) per workload in a multi-process bucket
    multi_process_share: float = 0.05  # busy GPU-buckets whose workload ran several processes
    gap_share: float = 0.01  # host-hours the agent sent nothing
    mig_share: float = 0.1  # A100/H100 GPUs split into two MIG instances
    no_resource_share: float = 0.02  # hosts without a cloud instance id
    seed: int = 7


def parse_mix(text: str) -> dict[str, float]:
    """``"h100x8=0.2,l4x4=0.8"`` → weights by shape name."""
    mix = {}
    for part in text.split(","):
        name, weight = part.split("=")
        if name not in SHAPES:
            raise SystemExit(f"unknown shape {name!r}; expected one of {', '.join(SHAPES)}")
        mix[name] = float(weight)
    return mix


def gpus(knobs: Knobs) -> pl.DataFrame:
    """The fleet's GPUs (MIG instances count as GPUs): host, instance id, uuid, model, memory."""
    rng = np.random.default_rng(knobs.seed)
    names = list(knobs.mix)
    weights = np.array([knobs.mix[n] for n in names]) / sum(knobs.mix.values())
    picks = rng.choice(len(names), size=knobs.instances, p=weights)
    rows: list[dict[str, object]] = []
    for number, pick in enumerate(picks):
        shape = SHAPES[names[pick]]
        host = f"{shape.provider}-{shape.name}-{number:05d}"
        resource = None if rng.random() < knobs.no_resource_share else f"i-{number:017x}"
        for index in range(shape.gpus):
            uuid = f"GPU-{number:05d}-{index}"
            mem = shape.mem_gib * GIB
            if shape.mig_profile and rng.random() < knobs.mig_share:
                for half in range(2):
                    rows.append(_gpu(host, resource, f"MIG-{uuid}-{half}", index, shape, mem // 2))
                    rows[-1] |= {Usage.mig_profile: shape.mig_profile, Usage.parent_gpu_uuid: uuid}
            else:
                rows.append(_gpu(host, resource, uuid, index, shape, mem))
    return pl.DataFrame(rows).with_row_index("__gpu")


def _gpu(
    host: str, resource: str | None, uuid: str, index: int, shape: Shape, mem: int
) -> dict[str, object]:
    return {
        Usage.host: host,
        Usage.ResourceId: resource,
        Usage.gpu_uuid: uuid,
        Usage.gpu_index: index,
        Usage.gpu_model: shape.gpu_model,
        Usage.mig_profile: None,
        Usage.parent_gpu_uuid: None,
        Usage.mem_total_bytes: mem,
        "__idle_w": shape.idle_w,
        "__busy_w": shape.busy_w,
    }


def day_rows(knobs: Knobs, fleet: pl.DataFrame, day: date) -> pl.DataFrame:
    """One day of the fleet's gpu_usage rows in canonical columns, bucket by bucket."""
    rng = np.random.default_rng([knobs.seed, day.toordinal()])
    per_day = 86_400 // knobs.bucket_seconds
    n = fleet.height * per_day
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    bucket = np.repeat(np.arange(per_day), fleet.height)
    gpu = np.tile(np.arange(fleet.height), per_day)
    busy = rng.random(n) < 0.75
    shared = busy & (rng.random(n) < knobs.shared_share)
    multi = busy & (rng.random(n) < knobs.multi_process_share)
    copies = np.where(shared, _workloads_per_shared_bucket(rng, knobs, n), 1)
    base = pl.DataFrame(
        {
            "__gpu": gpu.astype(np.uint32),
            "__bucket": bucket.astype(np.int32),
            "__busy": busy,
            "__copies": copies.astype(np.int32),
            "__procs": np.where(multi, knobs.processes, 1).astype(np.int32),
            "__util": rng.uniform(5, 95, n),
            "__mem": rng.uniform(0.05, 0.9, n),
        }
    ).join(fleet, on="__gpu", how="left")
    base = _drop_gaps(base, rng, knobs, per_day)
    rows = base.with_columns(pl.int_ranges("__copies").alias("__workload")).explode("__workload")
    rows = rows.with_columns(pl.int_ranges("__procs").alias("__proc")).explode("__proc")
    return _canonical(rows, knobs, start)


def _workloads_per_shared_bucket(rng: np.random.Generator, knobs: Knobs, n: int) -> np.ndarray:
    """Workloads on each shared GPU-bucket: 2, or 2 to ``max_workloads`` drawn evenly.

    Two workloads draw nothing, so the default fleet's rows stay as they were.
    """
    if knobs.max_workloads <= 2:
        return np.full(n, 2)
    return rng.integers(2, knobs.max_workloads + 1, size=n)


def _drop_gaps(
    base: pl.DataFrame, rng: np.random.Generator, knobs: Knobs, per_day: int
) -> pl.DataFrame:
    """Whole host-hours without telemetry: the agent was down."""
    hosts = base[Usage.host].unique().sort()
    per_hour = max(1, 3600 // knobs.bucket_seconds)
    hours = max(1, per_day // per_hour)
    gone = pl.DataFrame(
        {
            Usage.host: np.repeat(hosts.to_numpy(), hours),
            "__hour": np.tile(np.arange(hours, dtype=np.int32), hosts.len()),
            "__gone": rng.random(hosts.len() * hours) < knobs.gap_share,
        }
    ).filter("__gone")
    hour = (pl.col("__bucket") // per_hour).cast(pl.Int32).alias("__hour")
    return base.with_columns(hour).join(gone, on=[Usage.host, "__hour"], how="anti")


def _canonical(rows: pl.DataFrame, knobs: Knobs, start: datetime) -> pl.DataFrame:
    seconds = float(knobs.bucket_seconds)
    busy, workload, procs = pl.col("__busy"), pl.col("__workload"), pl.col("__procs")
    tenant = (pl.col("__gpu") // 4 + workload * 7) % len(TEAMS)
    share = seconds / procs.cast(pl.Float64)
    util = pl.col("__util") / (workload + 1)
    return rows.select(
        (pl.lit(start) + pl.duration(seconds=pl.col("__bucket") * knobs.bucket_seconds))
        .dt.cast_time_unit("us")
        .alias(Usage.bucket_start),
        pl.lit(knobs.bucket_seconds, pl.Int32).alias(Usage.bucket_seconds),
        Usage.host,
        Usage.ResourceId,
        Usage.gpu_uuid,
        Usage.gpu_index,
        Usage.gpu_model,
        Usage.mig_profile,
        Usage.parent_gpu_uuid,
        pl.when(busy).then(pl.lit("ml-") + _pick(TEAMS, tenant)).alias(Usage.namespace),
        pl.when(busy)
        .then(pl.format("{}-{}-{}", _pick(MODELS, tenant), pl.col("__gpu") // 8, workload))
        .alias(Usage.pod),
        pl.when(busy).then(pl.lit("main")).alias(Usage.container),
        pl.when(busy).then(pl.format("job-{}", pl.col("__gpu") // 8)).alias(Usage.job),
        pl.when(busy).then(pl.lit("python")).alias(Usage.pid_command),
        pl.when(busy).then(_pick(TEAMS, tenant)).alias(Usage.team),
        pl.when(busy).then(_pick(MODELS, tenant)).alias(Usage.model),
        pl.when(busy).then(share).otherwise(seconds).alias(Usage.active_seconds),
        pl.when(busy).then(util).otherwise(0.0).alias(Usage.sm_util),
        (pl.col("__mem") * pl.col(Usage.mem_total_bytes) / procs)
        .cast(pl.Int64)
        .alias(Usage.mem_used_bytes),
        Usage.mem_total_bytes,
        pl.when(busy).then(pl.col("__busy_w")).otherwise(pl.col("__idle_w")).alias(Usage.power_w),
        (pl.lit(knobs.bucket_seconds) // procs).cast(pl.Int32).alias(Usage.samples),
        pl.when(pl.col("__copies") > 1)
        .then(pl.lit("process"))
        .otherwise(pl.lit("device"))
        .alias(Usage.util_method),
        pl.lit("agent").alias(Usage.source),
    ).cast({k: v for k, v in GPU_USAGE_SCHEMA.items() if k != Usage.x_BillingPeriod})


def _pick(values: tuple[str, ...], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values)).get(index.cast(pl.Int64))


def days_of(knobs: Knobs) -> Iterator[tuple[date, pl.DataFrame]]:
    """The fleet's rows day by day."""
    fleet = gpus(knobs)
    for offset in range(knobs.days):
        day = knobs.start + timedelta(days=offset)
        yield day, day_rows(knobs, fleet, day)


def write(knobs: Knobs, out: Path, layout: str) -> tuple[list[Path], int]:
    """Write the fleet's telemetry under ``out``; returns the files and the row count."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        for day, frame in days_of(knobs):
            rows += frame.height
            if layout == "month":
                table = frame.to_arrow()
                if writer is None:
                    files.append(out / f"gpu_usage-{knobs.start:%Y-%m}.parquet")
                    writer = pq.ParquetWriter(files[0], table.schema)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            elif layout == "daily":
                files.append(out / f"gpu_usage-{day:%Y%m%d}.parquet")
                frame.write_parquet(files[-1])
            else:
                for (start,), part in frame.partition_by(Usage.bucket_start, as_dict=True).items():
                    assert isinstance(start, datetime)
                    files.append(out / f"gpu_usage-fleet-{start:%Y%m%dT%H%M%SZ}.parquet")
                    part.write_parquet(files[-1])
    finally:
        if writer is not None:
            writer.close()
    return files, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"shape=weight,… of {', '.join(SHAPES)}")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 3, 1))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--bucket-seconds", type=int, default=300)
    parser.add_argument("--shared-share", type=float, default=0.1)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--multi-process-share", type=float, default=0.05)
    parser.add_argument("--gap-share", type=float, default=0.01)
    parser.add_argument("--mig-share", type=float, default=0.1)
    parser.add_argument("--layout", choices=["month", "daily", "spool"], default="daily")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    knobs = Knobs(
        instances=args.instances,
        mix=parse_mix(args.mix),
        start=args.start,
        days=args.days,
        bucket_seconds=args.bucket_seconds,
        shared_share=args.shared_share,
        processes=args.processes,
        multi_process_share=args.multi_process_share,
        gap_share=args.gap_share,
        mig_share=args.mig_share,
        seed=args.seed,
    )
    files, rows = write(knobs, args.out, args.layout)
    print(f"wrote {rows:,} rows in {len(files):,} file(s) under {args.out}")


if __name__ == "__main__":
    main()
