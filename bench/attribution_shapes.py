"""Benchmark of attribution over fleet shapes: engine vs idiomatic Polars vs the read floor.

    .venv/bin/python -m bench.attribution_shapes --instances 200 --days 7     # development size
    .venv/bin/python -m bench.attribution_shapes                              # 1×: 1,000 × 30 days
    .venv/bin/python -m bench.attribution_shapes --scale 4 --shape gang-6%    # 4×

Each shape is a generated fleet (:mod:`bench.fleet`) and its bill (:mod:`bench.fleet_bill`)
written straight into a ledger home cached under ``.bench-data/shapes/``. Every shape has
gang-scheduled multi-GPU jobs (one job and pod over a host's GPUs), agent gaps (1 % of
host-hours), hosts without an instance id in their telemetry and 6 % more GPU instances billed
that never report; the shapes differ in what the issue names: the share of GPU-buckets with 2–4
workloads, MIG, duplicate workload rows (two processes of one workload on one GPU-bucket, rows
not merged). Each variant runs in a fresh process (``bench.attribution --worker``); the table
shows wall time, CPU seconds (user + system), peak RSS, seconds per million input rows and the
ratio to the floor, and the engine and the idiomatic Polars version must agree on every
team × model total to the cent (pandas too, with ``--pandas``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from bench.attribution import DATA, compare, input_rows
from bench.common import Measurement, run_measured
from bench.fleet import Knobs
from bench.fleet_bill import BillKnobs, build_home, period_of

BASE = Knobs(
    instances=1000,
    days=30,
    shared_share=0.0,
    processes=1,
    multi_process_share=0.0,
    gap_share=0.01,
    mig_share=0.0,
)


@dataclass(frozen=True)
class FleetShape:
    """A named fleet shape: what differs from :data:`BASE`."""

    name: str
    shared_share: float = 0.0
    max_workloads: int = 2
    mig_share: float = 0.0
    duplicate_share: float = 0.0

    def knobs(self, instances: int, days: int) -> Knobs:
        return replace(
            BASE,
            instances=instances,
            days=days,
            shared_share=self.shared_share,
            max_workloads=self.max_workloads,
            mig_share=self.mig_share,
            processes=2 if self.duplicate_share else 1,
            multi_process_share=self.duplicate_share,
        )


SHAPES = {
    shape.name: shape
    for shape in (
        FleetShape("one-workload"),
        FleetShape("shared-6%", shared_share=0.06),
        FleetShape("shared-30%", shared_share=0.30, max_workloads=4),
        FleetShape("mig-20%", shared_share=0.06, mig_share=0.20),
        FleetShape("duplicates-1.5%", shared_share=0.06, duplicate_share=0.015),
    )
}


def home_of(shape: FleetShape, instances: int, days: int) -> Path:
    """The cached ledger home of ``shape`` at that size (no ``%`` in the path: URIs decode it)."""
    root = DATA / "shapes" / f"{shape.name.replace('%', 'pct')}-{instances}x{days}"
    return build_home(shape.knobs(instances, days), BillKnobs(), root / "home")


def measure(home: Path, period: str, variants: list[str], repeat: int) -> list[Measurement]:
    """Each variant in fresh processes, best of ``repeat``; totals under ``home/../results``."""
    out = home.parent / "results"
    out.mkdir(exist_ok=True)
    measured = []
    for variant in variants:
        args = ["bench.attribution", "--worker", variant, "--home", str(home)]
        args += ["--period", period, "--totals", str(out / f"{variant}.parquet")]
        try:
            runs = [run_measured(variant, args, limit_gib=12.0) for _ in range(repeat)]
        except MemoryError as stopped:
            print(f"  {variant}: {stopped}", file=sys.stderr, flush=True)
            continue
        fastest = min(runs, key=lambda m: m.wall_s)
        peak = max(m.peak_rss_bytes for m in runs)
        measured.append(Measurement(variant, fastest.wall_s, peak, fastest.report))
        print(f"  {variant}: {fastest.wall_s:.1f} s", file=sys.stderr, flush=True)
    return measured


def rows_of(shape: str, rows: tuple[int, int], measured: list[Measurement]) -> list[str]:
    """Table lines of one shape: per variant wall, CPU, RSS, s per M rows and × floor."""
    total = rows[0] + rows[1]
    floor = next((m.wall_s for m in measured if m.name == "floor"), None)
    label = f"{shape} — {rows[0] / 1e6:.2f} M cost + {rows[1] / 1e6:.1f} M gpu_usage rows"
    lines = []
    for m in measured:
        ratio = f"{m.wall_s / floor:.1f}×" if floor else "–"
        lines.append(
            f"| {label} | {m.name} | {m.wall_s:.1f} s | {m.report['cpu_s']:.1f} s | "
            f"{m.peak_rss_gib:.2f} GiB | {m.wall_s / total * 1e6:.2f} s | {ratio} |"
        )
        label = ""
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=int, default=1, help="multiply the instances")
    parser.add_argument("--shape", action="append", choices=list(SHAPES), help="default: all")
    parser.add_argument("--pandas", action="store_true", help="also run the pandas reference")
    parser.add_argument("--skip", action="append", default=[], help="engine, polars or floor")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; fastest counts")
    args = parser.parse_args()
    variants = [v for v in ("floor", "engine", "polars") if v not in args.skip]
    variants += ["pandas"] if args.pandas else []
    instances = args.instances * args.scale
    header = [
        f"| fleet shape ({instances:,} instances × {args.days} days) | variant | wall | CPU "
        "| peak RSS | s per M rows | vs floor |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines, verdicts = list(header), []
    for name in args.shape or list(SHAPES):
        shape = SHAPES[name]
        print(f"{name}: building or reusing the home", file=sys.stderr, flush=True)
        home = home_of(shape, instances, args.days)
        period = period_of(shape.knobs(instances, args.days))
        measured = measure(home, period, variants, args.repeat)
        lines += rows_of(name, input_rows(home, period), measured)
        results = home.parent / "results"
        names = {m.name for m in measured}
        for reference in ("polars", "pandas"):
            if {"engine", reference} <= names:
                same = compare(results / "engine.parquet", results / f"{reference}.parquet")
                verdicts.append(f"{name}: engine vs {reference}: {same}")
    print("\n".join(lines))
    print("\n" + "\n".join(verdicts))


if __name__ == "__main__":
    main()
