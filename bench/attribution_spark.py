"""Benchmark of attribution on Spark: the local engine vs Spark ``local[N]``, and Spark's partitions.

    .venv/bin/python -m bench.attribution_spark --scale 62                    # 1×, local vs Spark
    .venv/bin/python -m bench.attribution_spark --scale 62 --tile 4           # 4×
    .venv/bin/python -m bench.attribution_spark --scale 5 --partitions 2,4,8,16 --skip local

The data is the engine benchmark's (:mod:`bench.attribution`: the sample company ingested into a
cached ledger home under ``.bench-data/``, ``--tile N`` stacking copies). Each variant runs in a
fresh process: ``local`` is the local engine (both phases in one Polars process), ``spark-P``
the Spark engine on a session of ``--master`` with ``P`` instance partitions. Wall time is the
attribution alone: the JVM's start (``session``) is timed apart. CPU and peak RSS are the driver
process's own; executors run in the JVM and its Python workers, so ``tree`` CPU and RSS add every
process under the driver (sampled every 0.2 s; CPU of workers still alive at the end). Every
variant's allocation is compared with the first variant's: lines and cost must be identical,
GPU-hours equal to 1e-12 of their value.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from bench.attribution import CONFIG, build_home, input_rows, tile_home
from bench.common import Measurement, emit, run_measured
from gpuledger.config import load_settings
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (the JVM, its Python workers), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, resident bytes) of one process; zeros once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / _TICK, int(fields[21]) * _PAGE


class TreeWatch:
    """Peak RSS of this process and all its descendants together, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            pids = [os.getpid(), *descendants(os.getpid())]
            self.peak = max(self.peak, sum(_stat(pid)[1] for pid in pids))


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _tree_cpu_seconds() -> float:
    """CPU seconds of the processes under this one (the driver's own not included)."""
    return sum(_stat(pid)[0] for pid in descendants(os.getpid()))


def worker(variant: str, home: str, period: str, master: str, out: str) -> None:
    """Run one variant in this process; write its allocation to ``out`` and report its figures."""
    settings = load_settings(CONFIG)
    store = Store(home)
    report: dict[str, float] = {}
    with TreeWatch() as watch:
        if variant == "local":
            from gpuledger.engine.attribution.attribute import local_allocation

            started, cpu = time.perf_counter(), _cpu_seconds()
            frame = local_allocation(store, settings, period)
        else:
            from gpuledger.engine.spark import spark_allocation, spark_session

            partitions = int(variant.removeprefix("spark-"))
            engine = settings.engine.model_copy(update={"spark_partitions": partitions})
            settings = settings.model_copy(update={"engine": engine})
            session_started = time.perf_counter()
            session = spark_session(master)
            session.sparkContext.setLogLevel("ERROR")
            report["session_s"] = time.perf_counter() - session_started
            tree_cpu = _tree_cpu_seconds()
            started, cpu = time.perf_counter(), _cpu_seconds()
            frame = spark_allocation(store, settings, period, session)
            report["tree_cpu_s"] = _tree_cpu_seconds() - tree_cpu
        report["wall_s"], report["cpu_s"] = time.perf_counter() - started, _cpu_seconds() - cpu
    report["tree_peak_gib"] = watch.peak / 2**30
    frame.write_parquet(out)
    emit({**report, "rows_out": frame.height})


def same_allocation(first: Path, other: Path) -> str:
    """'identical' when two allocations have the same lines, cost and GPU-hours (to 1e-12)."""
    ours, theirs = (
        pl.read_parquet(path).sort(pl.all(), nulls_last=True) for path in (first, other)
    )
    try:
        others = pl.exclude(Alloc.gpu_hours)
        assert_frame_equal(ours.select(others), theirs.select(others), check_exact=True)
        hours = [Alloc.gpu_hours]
        assert_frame_equal(ours.select(hours), theirs.select(hours), rel_tol=1e-12)
    except AssertionError as different:
        return f"DIFFERENT: {str(different).splitlines()[0]}"
    return "identical"


def table(measured: list[Measurement], rows: int, label: str) -> str:
    """Markdown: per variant wall, session start, driver CPU and RSS, tree CPU and RSS."""
    lines = [
        f"| {label} | wall | JVM start | driver CPU | tree CPU | driver peak RSS | tree peak RSS"
        " | rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in measured:
        session = m.report.get("session_s")
        tree_cpu = m.report.get("tree_cpu_s")
        lines.append(
            f"| {m.name} | {m.wall_s:.1f} s | "
            + (f"{session:.1f} s" if session is not None else "–")
            + f" | {m.report['cpu_s']:.1f} s | "
            + (f"{tree_cpu:.1f} s" if tree_cpu is not None else "–")
            + f" | {m.peak_rss_gib:.2f} GiB | {m.report['tree_peak_gib']:.2f} GiB"
            f" | {rows / m.wall_s:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=62.0)
    parser.add_argument("--tile", type=int, default=1, help="stack N copies of the store")
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--master", default="local[2]", help="Spark master of the Spark variants")
    parser.add_argument("--partitions", default="2", help="comma-separated instance partitions")
    parser.add_argument("--skip", action="append", default=[], help="local")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.home, args.period, args.master, args.out)
        return
    home = build_home(args.scale, args.period)
    if args.tile > 1:
        home = tile_home(home, args.tile, args.period)
    cost_rows, usage_rows = input_rows(home, args.period)
    results = home.parent / "results"
    results.mkdir(exist_ok=True)
    variants = [] if "local" in args.skip else ["local"]
    variants += [f"spark-{int(p)}" for p in args.partitions.split(",")]
    measured, outputs = [], []
    for variant in variants:
        out = results / f"spark-bench-{variant}-{args.tile}.parquet"
        worker_args = ["bench.attribution_spark", "--worker", variant, "--home", str(home)]
        worker_args += ["--period", args.period, "--master", args.master, "--out", str(out)]
        measured.append(run_measured(variant, worker_args, limit_gib=12.0))
        outputs.append(out)
        print(f"{variant}: {measured[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
    label = f"scale {args.scale:g} × {args.tile}, {args.master}"
    print(f"\n{cost_rows:,} cost rows + {usage_rows:,} gpu_usage rows ({label})\n")
    print(table(measured, cost_rows + usage_rows, label))
    for variant, out in zip(variants[1:], outputs[1:], strict=True):
        print(f"{variant} vs {variants[0]}: {same_allocation(outputs[0], out)}")


if __name__ == "__main__":
    main()
