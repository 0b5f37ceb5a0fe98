"""Benchmark of `gpuledger attribute`: the Polars engine vs a pandas reference vs the read floor.

    .venv/bin/python -m bench.attribution --scale 62          # ≈ 1,000 GPU instances, 30 days
    .venv/bin/python -m bench.attribution --scale 62 --tile 4 --skip pandas   # 4× that
    .venv/bin/python -m bench.attribution --scale 62 --repeat 3   # best of 3 (noisy machine)

The data is the sample company (``gpuledger sample-data --scale S``) ingested by the real
collectors into a ledger home cached under ``.bench-data/`` (built once, reused). ``--tile N``
stacks N copies of that store's cost and gpu_usage with distinct resource ids, for scales whose
generation would not fit in memory. Each variant runs in a fresh process; the table shows its
wall time (work only, no interpreter start-up), input rows per second and peak RSS, and the
engine and the pandas reference must agree on every team × model total to the cent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import Measurement, emit, run_measured
from gpuledger.config import load_settings
from gpuledger.schema import Cost, Usage
from gpuledger.store.delta import Store

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".bench-data"
CONFIG = REPO / "src" / "gpuledger" / "data" / "gpuledger.toml"
GPULEDGER = Path(sys.executable).parent / "gpuledger"
SOURCES = (("aws", "aws"), ("gcp", "gcp"), ("focus", "azure"), ("gpu", "gpu"))

# The columns the rules read: what the floor reads and sums.
COST_COLUMNS = (
    Cost.x_BillingPeriod, Cost.BillingPeriodStart, Cost.ChargePeriodStart, Cost.ChargePeriodEnd,
    Cost.ProviderName, Cost.BillingAccountId, Cost.SubAccountId, Cost.SubAccountName,
    Cost.ResourceId, Cost.ResourceName, Cost.x_ParentResourceId, Cost.x_GpuModel,
    Cost.x_GpuCount, Cost.ServiceName, Cost.ChargeCategory, Cost.PricingCategory,
    Cost.BillingCurrency, Cost.EffectiveCost, Cost.Tags, Cost.x_LineItemType,
)  # fmt: skip
USAGE_COLUMNS = (
    Usage.bucket_start, Usage.bucket_seconds, Usage.ResourceId, Usage.gpu_uuid,
    Usage.mig_profile, Usage.gpu_model, Usage.namespace, Usage.pod, Usage.job,
    Usage.pid_command, Usage.team, Usage.model, Usage.active_seconds, Usage.sm_util,
)  # fmt: skip


def build_home(scale: float, period: str) -> Path:
    """The cached ledger home of the sample company at ``scale``: sample-data, then ingest."""
    root = DATA / f"scale-{scale:g}"
    home = root / "home"
    if (root / "ready").exists():
        return home
    shutil.rmtree(root, ignore_errors=True)
    exports = root / "exports"
    started = time.perf_counter()
    _gpuledger(["sample-data", "--out", str(exports), "--scale", f"{scale:g}", "--period", period])
    for source, folder in SOURCES:
        _gpuledger(["--home", str(home), "ingest", source, str(exports / folder)])
    shutil.rmtree(exports)
    (root / "ready").write_text(f"built in {time.perf_counter() - started:.0f} s\n")
    return home


def _gpuledger(args: list[str]) -> None:
    print("$ gpuledger " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run([str(GPULEDGER), *args], check=True, stdout=subprocess.DEVNULL)


def tile_home(home: Path, copies: int, period: str) -> Path:
    """A home with ``copies`` copies of ``home``'s period, resource and GPU ids suffixed."""
    tiled = home.parent / f"tile-{copies}"
    if (tiled / "ready").exists():
        return tiled
    shutil.rmtree(tiled, ignore_errors=True)
    source, target = Store(home), Store(tiled)
    cost = source.scan("cost").filter(pl.col(Cost.x_BillingPeriod) == period)
    usage = source.scan("gpu_usage")
    for copy in range(copies):
        suffix = f"-t{copy}" if copy else ""
        for part in cost.select(Cost.x_Source).unique().collect().to_series():
            rows = cost.filter(pl.col(Cost.x_Source) == part).with_columns(
                pl.col(Cost.ResourceId) + suffix, pl.col(Cost.x_ParentResourceId) + suffix
            )
            target.append("cost", rows.collect())
        for part in usage.select(Usage.source).unique().collect().to_series():
            buckets = usage.filter(pl.col(Usage.source) == part).with_columns(
                pl.col(Usage.ResourceId) + suffix, pl.col(Usage.gpu_uuid) + suffix
            )
            target.append("gpu_usage", buckets.collect())
    (tiled / "ready").write_text("tiled\n")
    return tiled


def input_rows(home: Path, period: str) -> tuple[int, int]:
    store = Store(home)
    cost = store.scan("cost").filter(pl.col(Cost.x_BillingPeriod) == period).select(pl.len())
    usage = store.scan("gpu_usage").select(pl.len())
    return int(cost.collect().item()), int(usage.collect().item())


def worker(variant: str, home: str, period: str, totals: str) -> None:
    """Run one variant in this process; report its wall and CPU time (totals to ``totals``)."""
    settings = load_settings(CONFIG)
    store = Store(home)
    started, cpu = time.perf_counter(), _cpu_seconds()
    if variant == "engine":
        from gpuledger.engine.attribution.attribute import attribute

        frame = attribute(store.scan("cost"), store.scan("gpu_usage"), settings, period).collect()
        result = frame.group_by("currency", "team", "model").agg(pl.col("cost").sum())
    elif variant == "polars":
        from bench.polars_reference import attribute_totals as polars_totals

        result = polars_totals(store.scan("cost"), store.scan("gpu_usage"), settings, period)
    elif variant == "pandas":
        from deltalake import DeltaTable

        from bench.pandas_reference import attribute_totals

        cost = DeltaTable(store.uri("cost")).to_pandas(
            columns=list(COST_COLUMNS),
            filters=[(Cost.x_BillingPeriod, "=", period)],
            types_mapper=_arrow_lists,
        )
        usage = DeltaTable(store.uri("gpu_usage")).to_pandas(columns=list(USAGE_COLUMNS))
        result = pl.from_pandas(attribute_totals(cost, usage, settings, period))
    else:
        result = floor(store, period)
    wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    result.write_parquet(totals)
    emit({"wall_s": wall, "cpu_s": cpu, "rows_out": result.height})


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads."""
    times = os.times()
    return times.user + times.system


def _arrow_lists(dtype: Any) -> Any:
    """Keep list columns (tags) in Arrow memory in pandas instead of millions of Python dicts."""
    import pandas as pd

    return pd.ArrowDtype(dtype) if str(dtype).startswith(("list<", "large_list<")) else None


def floor(store: Store, period: str) -> pl.DataFrame:
    """Read the columns the rules read from both tables and touch every value (sum or length)."""

    def touch(frame: pl.LazyFrame, columns: tuple[str, ...]) -> pl.LazyFrame:
        schema = frame.collect_schema()
        exprs = []
        for name in columns:
            dtype = schema[name]
            if dtype == pl.String:
                exprs.append(pl.col(name).str.len_bytes().sum())
            elif isinstance(dtype, pl.List):
                exprs.append(pl.col(name).list.len().sum())
            elif isinstance(dtype, pl.Datetime):
                exprs.append(pl.col(name).max().dt.epoch("s"))
            else:
                exprs.append(pl.col(name).sum().cast(pl.Float64))
        return frame.select(pl.sum_horizontal(e.cast(pl.Float64) for e in exprs).alias("sum"))

    cost = store.scan("cost").filter(pl.col(Cost.x_BillingPeriod) == period)
    both = pl.concat([touch(cost, COST_COLUMNS), touch(store.scan("gpu_usage"), USAGE_COLUMNS)])
    return both.collect()


def compare(engine: Path, reference: Path) -> str:
    """'same' when every (currency, team, model) total agrees to the cent, else the differences."""
    keys = ["currency", "team", "model"]
    ours = pl.read_parquet(engine).with_columns(pl.col("cost").cast(pl.Float64))
    theirs = pl.read_parquet(reference).rename({"amount": "reference"})
    joined = ours.join(theirs, on=keys, how="full", coalesce=True).fill_null(0.0)
    off = joined.filter((pl.col("cost") - pl.col("reference")).abs() >= 0.005)
    return "same (to the cent)" if off.is_empty() else f"DIFFERENT:\n{off}"


def best_of(runs: list[Measurement]) -> Measurement:
    """The fastest run's time with the highest peak RSS of all runs (a shared, noisy machine)."""
    fastest = min(runs, key=lambda m: m.wall_s)
    peak = max(m.peak_rss_bytes for m in runs)
    return Measurement(fastest.name, fastest.wall_s, peak, fastest.report)


def table(measured: list[Measurement], rows: int, label: str) -> str:
    lines = [
        f"| {label} | wall time | rows/s | peak RSS | vs floor |",
        "|---|---:|---:|---:|---:|",
    ]
    floor_wall = next((m.wall_s for m in measured if m.name == "floor"), None)
    for m in measured:
        ratio = f"{m.wall_s / floor_wall:.1f}×" if floor_wall else "–"
        lines.append(
            f"| {m.name} | {m.wall_s:.1f} s | {rows / m.wall_s:,.0f} | "
            f"{m.peak_rss_gib:.2f} GiB | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=62.0)
    parser.add_argument("--tile", type=int, default=1, help="stack N copies of the store")
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--skip", action="append", default=[], help="engine, pandas or floor")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of floor and engine; the fastest counts"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--totals", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.home, args.period, args.totals)
        return
    home = build_home(args.scale, args.period)
    if args.tile > 1:
        home = tile_home(home, args.tile, args.period)
    cost_rows, usage_rows = input_rows(home, args.period)
    out = home.parent / "results"
    out.mkdir(exist_ok=True)
    measured: list[Measurement] = []
    for variant in ("floor", "engine", "pandas"):
        if variant in args.skip:
            continue
        totals = out / f"{variant}-{args.tile}.parquet"
        worker_args = ["bench.attribution", "--worker", variant, "--home", str(home)]
        worker_args += ["--period", args.period, "--totals", str(totals)]
        runs = 1 if variant == "pandas" else max(1, args.repeat)
        measured.append(best_of([run_measured(variant, worker_args) for _ in range(runs)]))
        print(f"{variant}: {measured[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
    label = f"scale {args.scale:g} × {args.tile}"
    print(f"\n{cost_rows:,} cost rows + {usage_rows:,} gpu_usage rows ({label})\n")
    print(table(measured, cost_rows + usage_rows, label))
    names = {m.name for m in measured}
    if {"engine", "pandas"} <= names:
        engine, pandas = (next(m for m in measured if m.name == n) for n in ("engine", "pandas"))
        same = compare(out / f"engine-{args.tile}.parquet", out / f"pandas-{args.tile}.parquet")
        print(f"\nteam × model totals: {same}")
        print(
            f"engine vs pandas: {pandas.wall_s / engine.wall_s:.1f}× faster, "
            f"{engine.peak_rss_bytes / pandas.peak_rss_bytes:.2f}× the memory"
        )


if __name__ == "__main__":
    main()
