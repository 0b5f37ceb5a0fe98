"""Benchmark: `gpuledger ingest gpu` on a synthetic fleet, whole months and single buckets.

Usage: ``python -m bench.ingest_gpu [--instances 100] [--days 30] [--table-rows 1000000 …]
[--work .bench-data/gpu] [--skip month|incremental]`` and the fleet's shape knobs of
:mod:`bench.fleet` (``--mix``, ``--shared-share``, ``--processes``, ``--multi-process-share``,
``--gap-share``, ``--mig-share``).

Data: :mod:`bench.fleet` (the default instance mix; 1,000 instances ≈ 3.7k GPUs ≈ 1.2M rows a day).
Every variant runs in a fresh process, so its peak RSS (``VmHWM``, :mod:`bench.common`) is its own:

(a) the month as one Parquet file and as daily files, each ingested into an empty store, against
    the read floor: plain Polars reading the same files in the same invocation;
(b) incremental: one 5-minute bucket of the fleet (the next one after what the table holds, and a
    restated one from the middle of the month) into a table that already holds about each of the
    ``--table-rows`` counts of the month. Its seconds and peak RSS should not grow with the table.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from bench.common import Measurement, cpu_seconds, emit, run_measured
from bench.fleet import DEFAULT_MIX, Knobs, gpus, parse_mix, write
from bench.fleet import day_rows as fleet_day_rows
from gpuledger.schema import Usage

MIB = 2**20


def ingest_worker(src: str, home: str) -> None:
    """Child: one ``ingest gpu`` of ``src`` into ``home``."""
    from gpuledger.collect.gpu import ingest
    from gpuledger.config import Settings
    from gpuledger.store.delta import Store

    started, cpu = time.perf_counter(), cpu_seconds()
    result = ingest(Store(home), Settings(), src)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    emit({"rows": result.rows, "wall_s": seconds, "cpu_s": cpu})


def floor_worker(src: str) -> None:
    """Child: the read floor, plain Polars reading every Parquet file of ``src`` in the slices
    the ingest reads (whole, a month of a large fleet would not fit in memory)."""
    from gpuledger.collect.gpu.files import SLICE_ROWS

    started, cpu = time.perf_counter(), cpu_seconds()
    rows = 0
    for file in sorted(Path(src).glob("*.parquet")):
        scan = pl.scan_parquet(file)
        total = scan.select(pl.len()).collect().item()
        for offset in range(0, total, SLICE_ROWS):
            rows += scan.slice(offset, SLICE_ROWS).collect().height
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    emit({"rows": rows, "wall_s": seconds, "cpu_s": cpu})


def _ingest(name: str, src: Path, home: Path, limit_gib: float) -> Measurement:
    return run_measured(
        name, ["bench.ingest_gpu", "--child", "ingest", str(src), str(home)], limit_gib
    )


def _floor(name: str, src: Path, limit_gib: float) -> Measurement:
    return run_measured(name, ["bench.ingest_gpu", "--child", "floor", str(src)], limit_gib)


def _row(m: Measurement, rows: int, floor: Measurement | None = None) -> str:
    """A table line; rows/s counts the input rows (ingest stores fewer: duplicates combine)."""
    ratio = f"{m.wall_s / floor.wall_s:.1f}×" if floor else "–"
    return (
        f"| {m.name} | {rows:,} | {int(m.report['rows']):,} | {m.wall_s:.2f} s | "
        f"{m.report['cpu_s']:.1f} s | {rows / m.wall_s:,.0f} | {m.peak_rss_bytes / MIB:,.0f} MiB | "
        f"{ratio} |"
    )


def month(knobs: Knobs, work: Path, limit_gib: float) -> None:
    """(a): the month as one file and as daily files, each against its read floor."""
    print("\n(a) a month of the fleet into an empty store\n")
    print("| variant | rows in | rows out | wall time | CPU time | rows/s | peak RSS | vs floor |")
    print("|---|---|---|---|---|---|---|---|")
    for layout in ("month", "daily"):
        src = work / _data_name(knobs, layout)
        if not src.exists():
            write(knobs, src, layout)
        floor = _floor(f"read floor, {layout} file(s)", src, limit_gib)
        home = work / "home-month"
        shutil.rmtree(home, ignore_errors=True)
        run = _ingest(f"ingest, {layout} file(s)", src, home, limit_gib)
        rows = int(floor.report["rows"])
        print(_row(floor, rows))
        print(_row(run, rows, floor))
        shutil.rmtree(home, ignore_errors=True)


SHAPE_KNOBS = ("shared_share", "processes", "multi_process_share", "gap_share", "mig_share")


def _data_name(knobs: Knobs, layout: str) -> str:
    """The generated files' folder: the layout and size, and every shape knob not at its default."""
    default = Knobs()
    tags = [
        f"-{name}{getattr(knobs, name)}"
        for name in SHAPE_KNOBS
        if getattr(knobs, name) != getattr(default, name)
    ]
    if knobs.mix != default.mix:
        tags.append("-mix" + "+".join(f"{k}{v}" for k, v in sorted(knobs.mix.items())))
    return f"{layout}-{knobs.instances}x{knobs.days}" + "".join(tags)


def incremental(knobs: Knobs, work: Path, table_rows: list[int], limit_gib: float) -> None:
    """(b): one bucket into tables of growing size."""
    print("\n(b) one 5-minute bucket into a table of the month\n")
    print("| table rows | table files | bucket | rows | wall time | CPU time | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    fleet = gpus(knobs)
    per_day = fleet_day_rows(knobs, fleet, knobs.start).height
    home = work / "home-incremental"
    shutil.rmtree(home, ignore_errors=True)
    filled = 0

    def day(offset: int) -> pl.DataFrame:
        return fleet_day_rows(knobs, fleet, knobs.start + timedelta(days=offset))

    for target in table_rows:
        want = min(max(1, round(target / per_day)), knobs.days - 1)
        if want > filled:
            batch = work / f"days-{filled + 1}-{want}"
            shutil.rmtree(batch, ignore_errors=True)
            batch.mkdir(parents=True)
            for offset in range(filled, want):
                day(offset).write_parquet(batch / f"gpu_usage-day{offset:02d}.parquet")
            _ingest("prefill", batch, home, limit_gib)
            shutil.rmtree(batch)
            filled = want
        stored, files = _table_size(home)
        for label, bucket in (
            ("next", _bucket(day(filled), 0)),
            ("restated", _restated(day(filled // 2))),
        ):
            src = work / f"bucket-{label}"
            shutil.rmtree(src, ignore_errors=True)
            src.mkdir(parents=True)
            bucket.write_parquet(src / "gpu_usage-fleet-bucket.parquet")
            run = _ingest(label, src, home, limit_gib)
            print(
                f"| {stored:,} | {files:,} | {label} | {int(run.report['rows']):,} | "
                f"{run.wall_s:.2f} s | {run.report['cpu_s']:.2f} s | "
                f"{run.peak_rss_bytes / MIB:,.0f} MiB |"
            )


def _bucket(day: pl.DataFrame, hours: int) -> pl.DataFrame:
    """The rows of the bucket ``hours`` after the day's first."""
    first = day[Usage.bucket_start].min()
    assert isinstance(first, datetime)
    return day.filter(pl.col(Usage.bucket_start) == first + timedelta(hours=hours))


def _restated(day: pl.DataFrame) -> pl.DataFrame:
    """The bucket at 12:00 of a stored day, delivered again with other utilization."""
    return _bucket(day, 12).with_columns((pl.col(Usage.sm_util) * 0.5).alias(Usage.sm_util))


def _table_size(home: Path) -> tuple[int, int]:
    from deltalake import DeltaTable

    table = DeltaTable(str(home / "tables" / "gpu_usage"))
    rows = pl.scan_delta(table).select(pl.len()).collect().item()
    return int(rows), len(table.file_uris())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--table-rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 30_000_000]
    )
    parser.add_argument("--mix", default=DEFAULT_MIX, help="instance mix, as in bench.fleet")
    parser.add_argument("--shared-share", type=float, default=Knobs.shared_share)
    parser.add_argument("--processes", type=int, default=Knobs.processes)
    parser.add_argument("--multi-process-share", type=float, default=Knobs.multi_process_share)
    parser.add_argument("--gap-share", type=float, default=Knobs.gap_share)
    parser.add_argument("--mig-share", type=float, default=Knobs.mig_share)
    parser.add_argument("--work", type=Path, default=Path(".bench-data/gpu"))
    parser.add_argument("--skip", action="append", default=[], help="month or incremental")
    parser.add_argument("--limit-gib", type=float, default=8.0, help="stop a variant past this RSS")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "ingest":
            ingest_worker(*rest)
        else:
            floor_worker(*rest)
        return
    knobs = Knobs(
        instances=args.instances,
        days=args.days,
        mix=parse_mix(args.mix),
        **{name: getattr(args, name) for name in SHAPE_KNOBS},
    )
    shape = ", ".join(f"{name} {getattr(knobs, name)}" for name in SHAPE_KNOBS)
    print(
        f"fleet: {args.instances:,} instances, {gpus(knobs).height:,} GPUs, {args.days} days"
        f" ({shape})"
    )
    if "month" not in args.skip:
        month(knobs, args.work, args.limit_gib)
    if "incremental" not in args.skip:
        incremental(knobs, args.work, args.table_rows, args.limit_gib)


if __name__ == "__main__":
    main()
