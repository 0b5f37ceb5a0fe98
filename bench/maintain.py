"""Benchmark of `gpuledger maintain`: a telemetry scan on an appended, a compacted and a fresh table.

    .venv/bin/python -m bench.maintain                           # 1,000 GPUs, 30 days, hourly appends
    .venv/bin/python -m bench.maintain --append-minutes 5 --days 3   # the 5-minute ingest's files
    .venv/bin/python -m bench.maintain --repeat 3                 # best of 3 (noisy machine)

Builds ``gpu_usage`` under ``.bench-data/maintain/`` by many small appends (synthetic 5-minute
buckets, one append per ``--append-minutes`` of telemetry, as the scheduled GPU ingest writes
them), and the same rows written once ("fresh"). Each variant runs in a fresh process: the read
floor (a plain Polars sum of the scanned columns on the fresh table) and an attribution-like
group-by (GPU-hours and SM use per instance, GPU, hour, team and model) on the appended table,
then on it after ``store.maintain``, then on the fresh table. The issue's target: the maintained
table within 10 % of the fresh one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from bench.common import Measurement, emit, run_measured, run_worker
from gpuledger.schema import TABLES, Usage, validate
from gpuledger.store.delta import Store
from gpuledger.store.maintain import maintain, table_files

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".bench-data" / "maintain"
START = datetime(2026, 10, 1, tzinfo=UTC)
GPUS_PER_HOST = 8
TEAMS = ("nlp", "vision", "speech", "search", "ads")
SCANNED = (
    Usage.x_BillingPeriod, Usage.ResourceId, Usage.gpu_uuid, Usage.bucket_start,
    Usage.team, Usage.model, Usage.active_seconds, Usage.bucket_seconds, Usage.sm_util,
)  # fmt: skip


def telemetry(gpus: int, first: datetime, buckets: int) -> pl.DataFrame:
    """``buckets`` 5-minute buckets from ``first`` for ``gpus`` GPUs, 8 to a host."""
    gpu = pl.int_range(gpus, dtype=pl.Int32).alias("gpu")
    bucket = pl.int_range(buckets, dtype=pl.Int32).alias("bucket")
    grid = pl.select(gpu).join(pl.select(bucket), how="cross")
    host = (pl.col("gpu") // GPUS_PER_HOST).cast(pl.String)
    rows = grid.select(
        (pl.lit(first) + pl.duration(minutes=pl.col("bucket") * 5)).alias(Usage.bucket_start),
        pl.lit(300, pl.Int32).alias(Usage.bucket_seconds),
        ("host-" + host).alias(Usage.host),
        ("i-" + host).alias(Usage.ResourceId),
        ("GPU-" + pl.col("gpu").cast(pl.String)).alias(Usage.gpu_uuid),
        (pl.col("gpu") % GPUS_PER_HOST).alias(Usage.gpu_index),
        pl.lit("H100").alias(Usage.gpu_model),
        pl.lit(TEAMS[0]).alias(Usage.team),  # replaced below
        ("model-" + (pl.col("gpu") % 7).cast(pl.String)).alias(Usage.model),
        ((pl.col("gpu") * 31 + pl.col("bucket") * 7) % 301)
        .cast(pl.Float64)
        .alias(Usage.active_seconds),
        ((pl.col("gpu") * 13 + pl.col("bucket")) % 101).cast(pl.Float64).alias(Usage.sm_util),
        pl.lit(300, pl.Int32).alias(Usage.samples),
        pl.lit("agent").alias(Usage.source),
    ).with_columns(
        pl.col(Usage.bucket_start).dt.strftime("%Y-%m").alias(Usage.x_BillingPeriod),
        pl.Series(Usage.team, TEAMS)
        .gather(grid["gpu"] // GPUS_PER_HOST % len(TEAMS))
        .alias(Usage.team),
    )
    return validate(rows, "gpu_usage")


def build(gpus: int, days: int, append_minutes: int) -> None:
    """Worker: the appended store (one append per ``append_minutes``) and the fresh table.

    A worker of its own, so that the measured processes do not inherit its peak RSS.
    """
    shutil.rmtree(DATA, ignore_errors=True)
    store = Store(DATA / "appended")
    per_append = append_minutes // 5
    appends = days * 24 * 60 // append_minutes
    for n in range(appends):
        store.append(
            "gpu_usage", telemetry(gpus, START + timedelta(minutes=5 * per_append * n), per_append)
        )
        if n % 50 == 0:
            print(f"append {n:,} of {appends:,}", file=sys.stderr, flush=True)
    write_deltalake(
        str(DATA / "fresh"),
        store.scan("gpu_usage").collect().to_arrow(),
        partition_by=list(TABLES["gpu_usage"].partition_by),
    )
    emit({"appends": appends})


def scan(uri: str, variant: str) -> None:
    """Worker: the floor or the group-by over the table at ``uri``; prints its figures."""
    started = time.perf_counter()  # opening the table (its log replay) is part of the scan
    frame = pl.scan_delta(uri).select(SCANNED)
    if variant == "floor":
        result = frame.select(pl.col(Usage.active_seconds).sum(), pl.len()).collect(
            engine="streaming"
        )
    else:
        result = (
            frame.group_by(
                Usage.x_BillingPeriod,
                Usage.ResourceId,
                Usage.gpu_uuid,
                pl.col(Usage.bucket_start).dt.truncate("1h"),
                Usage.team,
                Usage.model,
            )
            .agg(
                (pl.col(Usage.active_seconds).sum() / 3600).alias("gpu_hours"),
                (pl.col(Usage.sm_util) * pl.col(Usage.bucket_seconds)).sum().alias("sm_seconds"),
            )
            .collect(engine="streaming")
        )
    emit({"wall_s": time.perf_counter() - started, "rows_out": result.height})


def measure(name: str, uri: str, variant: str, repeat: int) -> Measurement:
    args = ["bench.maintain", "--worker", variant, "--uri", uri]
    runs = [run_measured(name, args, limit_gib=8.0) for _ in range(max(1, repeat))]
    best = min(runs, key=lambda m: m.wall_s)
    print(f"{name}: {best.wall_s:.2f} s", file=sys.stderr, flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--append-minutes", type=int, default=60, help="a multiple of 5")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; fastest counts")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "build":
        build(args.gpus, args.days, args.append_minutes)
        return
    if args.worker:
        scan(args.uri, args.worker)
        return
    started = time.perf_counter()
    shape = ["--gpus", str(args.gpus), "--days", str(args.days)]
    run_worker(
        "bench.maintain", "--worker", "build", *shape, "--append-minutes", str(args.append_minutes)
    )
    store, fresh = Store(DATA / "appended"), str(DATA / "fresh")
    print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    appended = store.uri("gpu_usage")
    rows = store.scan("gpu_usage").select(pl.len()).collect().item()
    before = table_files(store)["gpu_usage"]
    measured = [
        measure("read floor (fresh)", fresh, "floor", args.repeat),
        measure("group-by, appended", appended, "groupby", args.repeat),
    ]
    (result,) = maintain(store, ["gpu_usage"], retention_hours=0)
    measured.append(measure("group-by, maintained", appended, "groupby", args.repeat))
    measured.append(measure("group-by, fresh", fresh, "groupby", args.repeat))
    fresh_files = len(list(Path(fresh).rglob("*.parquet")))
    print(
        f"\n{rows:,} gpu_usage rows ({args.gpus:,} GPUs, {args.days} days,"
        f" one append per {args.append_minutes} min)"
    )
    print(
        f"files: appended {before.files:,} ({before.bytes / 2**20:,.0f} MiB) → maintained"
        f" {result.after.files:,} ({result.after.bytes / 2**20:,.0f} MiB); fresh {fresh_files:,};"
        f" maintain took {result.seconds:.1f} s, vacuumed {result.files_vacuumed:,} files\n"
    )
    floor, fresh_run = measured[0], measured[-1]
    print(
        f"{'variant':<24}{'seconds':>9}{'rows/s':>14}{'peak RSS':>11}{'× fresh':>9}{'× floor':>9}"
    )
    for m in measured:
        print(
            f"{m.name:<24}{m.wall_s:>9.2f}{rows / m.wall_s:>14,.0f}"
            f"{m.peak_rss_bytes / 2**30:>9.2f} G{m.wall_s / fresh_run.wall_s:>9.2f}"
            f"{m.wall_s / floor.wall_s:>9.2f}"
        )


if __name__ == "__main__":
    main()
