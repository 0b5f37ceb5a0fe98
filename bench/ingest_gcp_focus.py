"""Benchmark: the sample GCP billing export and Azure FOCUS export, written and ingested at scale.

Usage: ``python -m bench.ingest_gcp_focus [--scales 10 62] [--work .bench-data/gcp-focus]
[--writers files delta-rs]``

For each company scale (62 ≈ 1,000 GPU instances across the three clouds) the sample writers
produce one month (2026-10) of the GCP detailed export (gzip NDJSON, as ``bq extract`` writes it)
and of the Azure FOCUS export (CSV). Each export is then ingested in a fresh process into an empty
store, so the peak RSS is that ingest's alone, once per ``--writers`` (the store's own file writer;
delta-rs's partitioned writer, the yardstick). Prints one table: writer, source, scale, export
rows, stored rows, write seconds, ingest seconds, CPU seconds, stored rows/s, peak RSS of the
ingest process.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from itertools import product
from pathlib import Path
from typing import Any

from bench.common import WRITERS, ingest_and_report, run_worker

MONTH = "2026-10"


def generate(scale: float, out: Path) -> dict[str, tuple[int, float]]:
    """Write both exports for ``scale``; return {source: (export rows, write seconds)}."""
    from gpuledger.sample.company import build_company
    from gpuledger.sample.focus_export import write_focus_export
    from gpuledger.sample.gcp_export import write_gcp_export

    company = build_company(scale, 7, [MONTH])
    written: dict[str, tuple[int, float]] = {}
    for source, writer, count in (
        ("gcp", write_gcp_export, _ndjson_rows),
        ("focus", write_focus_export, _csv_rows),
    ):
        folder = out / source
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        paths = writer(company, folder)
        written[source] = (sum(count(p) for p in paths), time.perf_counter() - started)
    return written


def _ndjson_rows(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        return sum(1 for _ in handle)


def _csv_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def generate_in_child(scale: float, out: Path) -> dict[str, tuple[int, float]]:
    """Write the exports in a fresh interpreter, so the ingests forked later start small.

    (Linux keeps a process's peak RSS across exec: a child forked from a parent that built a
    large company would report the parent's peak as its own.)
    """
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest_gcp_focus", "--write", str(scale), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    written: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return {source: (int(rows), seconds) for source, (rows, seconds) in written.items()}


def ingest_in_child(source: str, src: Path, home: Path, writer: str) -> dict[str, Any]:
    """Run one ingest in a fresh interpreter and return its rows, seconds and peak RSS."""
    return run_worker("bench.ingest_gcp_focus", "--child", source, str(src), str(home), writer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[10, 62])
    parser.add_argument("--work", type=Path, default=Path(".bench-data/gcp-focus"))
    parser.add_argument("--writers", nargs="+", choices=WRITERS, default=["files"])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ingest_and_report(*args.child)
        return
    if args.write:
        print(json.dumps(generate(float(args.write[0]), Path(args.write[1]))))
        return
    print(
        f"{'writer':>8} {'source':>6} {'scale':>6} {'export rows':>12} {'stored rows':>12}"
        f" {'write s':>8} {'ingest s':>9} {'CPU-s':>7} {'rows/s':>10} {'peak RSS':>10}"
    )
    for scale in args.scales:
        out = args.work / f"scale-{scale:g}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        written = generate_in_child(scale, out / "export")
        for (source, (export_rows, write_seconds)), writer in product(
            written.items(), args.writers
        ):
            home = out / f"home-{source}-{writer}"
            run = ingest_in_child(source, out / "export" / source, home, writer)
            print(
                f"{writer:>8} {source:>6} {scale:>6g} {export_rows:>12,} {int(run['rows']):>12,}"
                f" {write_seconds:>8.1f} {run['seconds']:>9.1f} {run['cpu_s']:>7.1f}"
                f" {run['rows'] / run['seconds']:>10,.0f} {run['peak_mib']:>6,.0f} MiB"
            )


if __name__ == "__main__":
    main()
