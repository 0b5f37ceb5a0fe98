"""Benchmark: `gpuledger ingest focus` of a generated FOCUS 1.2 Parquet export, against a read floor.

Usage: ``python -m bench.ingest_focus [--rows 300000] [--files 1] [--work .bench-data/focus]
[--writers files delta-rs]`` (the issue's full size: ``--rows 3000000``).

The export is deterministic: row ``i`` of the month is a GPU or storage line of one of a few
thousand resources, with typed Parquet columns as Azure and OCI write them (money as doubles,
timestamps in UTC, ``Tags`` and ``SkuPriceDetails`` as JSON text, a handful of ``x_`` columns),
split into ``--files`` Parquet files. Each variant runs in a fresh process so its peak RSS is its
own: the read floor (plain Polars reading the same files and summing ``BilledCost``), then the
ingest into an empty store with each of ``--writers`` (the store's own file writer, and
delta-rs's partitioned writer as the yardstick). Prints seconds, CPU seconds, rows/s, peak RSS and
each ingest's ratio to the floor.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from itertools import pairwise
from pathlib import Path

import polars as pl

from bench.common import WRITERS, cpu_seconds, emit, ingest_and_report, run_measured

MONTH_START = "2026-10-01"
_TEAMS = ("nlp", "vision", "speech", "search", "ads", "infra", "research", "platform")
_MODELS = ("llama", "mistral", "whisper", "sd-xl", "bert", "t5", "none")
_SIZES = ("NC24ads_A100_v4", "ND96isr_H100_v5", "NC4as_T4_v3", "D8s_v5", "E16s_v5")


def export_rows(start: int, stop: int) -> pl.DataFrame:
    """Rows ``start``..``stop`` of the generated export (the same rows whatever the split)."""
    i = pl.int_range(start, stop, dtype=pl.Int64, eager=True).alias("i").to_frame()
    resource = pl.col("i") // 31
    day = pl.col("i") % 31
    size = pl.lit(pl.Series(_SIZES)).get(resource % len(_SIZES))
    hours = (pl.col("i") % 24 + 1).cast(pl.Float64)
    rate = (resource % 97 + 1).cast(pl.Float64) * 0.137
    period = pl.lit(MONTH_START).str.to_datetime("%Y-%m-%d", time_zone="UTC")
    charge_start = period.dt.offset_by(pl.format("{}d", day))
    tags = pl.format(
        '{{"team":"{}","model":"{}"}}',
        pl.lit(pl.Series(_TEAMS)).get(resource % len(_TEAMS)),
        pl.lit(pl.Series(_MODELS)).get(resource % len(_MODELS)),
    )
    return i.select(
        pl.format("acct-{}", pl.col("i") % 3).alias("BillingAccountId"),
        pl.lit("Contoso").alias("BillingAccountName"),
        pl.lit("Billing Profile").alias("BillingAccountType"),
        pl.format("/subscriptions/sub-{}", resource % 40).alias("SubAccountId"),
        pl.format("team-sub-{}", resource % 40).alias("SubAccountName"),
        pl.lit("Subscription").alias("SubAccountType"),
        pl.lit("USD").alias("BillingCurrency"),
        period.alias("BillingPeriodStart"),
        period.dt.offset_by("1mo").alias("BillingPeriodEnd"),
        charge_start.alias("ChargePeriodStart"),
        charge_start.dt.offset_by("1d").alias("ChargePeriodEnd"),
        (hours * rate).round(6).alias("BilledCost"),
        (hours * rate * 0.8).round(6).alias("EffectiveCost"),
        (hours * rate * 1.1).round(6).alias("ListCost"),
        (hours * rate).round(6).alias("ContractedCost"),
        rate.round(6).alias("ListUnitPrice"),
        pl.lit("Usage").alias("ChargeCategory"),
        pl.lit(None, dtype=pl.String).alias("ChargeClass"),
        size.str.replace_all("_", " ").alias("ChargeDescription"),
        pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.lit("Microsoft").alias("InvoiceIssuerName"),
        pl.lit("Microsoft").alias("ProviderName"),
        pl.lit("Microsoft").alias("PublisherName"),
        pl.lit("Standard").alias("PricingCategory"),
        hours.alias("PricingQuantity"),
        pl.lit("Hours").alias("PricingUnit"),
        hours.alias("ConsumedQuantity"),
        pl.lit("Hours").alias("ConsumedUnit"),
        pl.lit("USD").alias("PricingCurrency"),
        pl.format("/subscriptions/sub-{}/vm/vm-{}", resource % 40, resource).alias("ResourceId"),
        pl.format("vm-{}", resource).alias("ResourceName"),
        pl.lit("Virtual machine").alias("ResourceType"),
        pl.lit("eastus").alias("RegionId"),
        pl.lit("Compute").alias("ServiceCategory"),
        pl.lit("Virtual Machines").alias("ServiceName"),
        size.alias("SkuId"),
        pl.format('{{"InstanceType":"Standard_{}"}}', size).alias("SkuPriceDetails"),
        tags.alias("Tags"),
        pl.lit(None, dtype=pl.String).alias("InvoiceId"),
        pl.lit("Virtual Machines").alias("x_SkuMeterCategory"),
        pl.format('{{"ServiceType":"Standard_{}"}}', size).alias("x_SkuDetails"),
        pl.lit("microsoft.compute/virtualmachines").alias("x_ResourceType"),
    )


def generate(rows: int, files: int, out: Path) -> list[Path]:
    """Write the export as ``files`` Parquet files of about equal size, one at a time."""
    out.mkdir(parents=True, exist_ok=True)
    bounds = [rows * k // files for k in range(files + 1)]
    paths = []
    for number, (start, stop) in enumerate(pairwise(bounds), start=1):
        path = out / f"focus-{number:03d}.parquet"
        export_rows(start, stop).write_parquet(path)
        paths.append(path)
    return paths


def read_floor(src: str) -> None:
    """Worker: plain Polars reads every file whole and sums a money column."""
    started, cpu = time.perf_counter(), cpu_seconds()
    frame = pl.read_parquet(f"{src}/*.parquet")
    rows, _ = frame.select(pl.len(), pl.col("BilledCost").sum()).row(0)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = {"rows": rows, "seconds": seconds, "wall_s": seconds, "cpu_s": cpu}
    emit({**report, "peak_mib": peak_kib / 1024})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--files", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path(".bench-data/focus"))
    parser.add_argument("--writers", nargs="+", choices=WRITERS, default=["files"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ingest_and_report("focus", *args.child)
        return
    if args.floor:
        read_floor(args.floor)
        return
    src = args.work / f"export-{args.rows}-{args.files}"
    if not src.exists():
        generate(args.rows, args.files, src)
    home = args.work / "home"
    runs = [run_measured("read floor", ["bench.ingest_focus", "--floor", str(src)])]
    for writer in args.writers:
        shutil.rmtree(home, ignore_errors=True)
        child = ["bench.ingest_focus", "--child", str(src), str(home), writer]
        runs.append(run_measured(f"ingest {writer}", child, limit_gib=8))
        stored, quarantined = runs[-1].report["rows"], runs[-1].report["quarantined"]
        assert stored + quarantined == args.rows, runs[-1].report  # every line stored or shown
    print(
        f"{'variant':>12} {'rows':>10} {'seconds':>8} {'CPU-s':>7} {'rows/s':>10} {'peak RSS':>10}"
    )
    for run in runs:
        seconds = float(run.report["seconds"])
        print(
            f"{run.name:>12} {args.rows:>10,} {seconds:>8.2f} {float(run.report['cpu_s']):>7.1f}"
            f" {args.rows / seconds:>10,.0f}"
            f" {run.peak_rss_gib * 1024:>6,.0f} MiB"
        )
    floor = runs[0]
    for run in runs[1:]:
        ratio = float(run.report["seconds"]) / float(floor.report["seconds"])
        print(f"{run.name} / read floor: {ratio:.1f}x")


if __name__ == "__main__":
    main()
