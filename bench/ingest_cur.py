"""Benchmark: `gpuledger ingest aws` on generated CUR 2.0 exports of 1M and 5M line items.

Usage: ``python -m bench.ingest_cur [--rows 1000000 5000000] [--work .bench-data/cur]
[--writers files delta-rs]``

The export is the sample company's AWS month (scale 1, 2026-10: every pricing kind) repeated with
fresh resource and line ids until it has the asked number of rows, written by the sample CUR 2.0
writer as AWS lays it out (500k-row Parquet files plus a manifest). Each size is ingested in a
fresh process into an empty store, so the peak RSS it reports is that ingest's alone, once per
``--writers`` (the store's own file writer; delta-rs's partitioned writer, the yardstick). Prints
one table: writer, rows, files, seconds, CPU seconds, rows/s, peak RSS.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import WRITERS, ingest_and_report, run_worker
from gpuledger.sample.aws_cur2 import (
    ROWS_PER_FILE,
    aws_lines,
    to_cur2,
    write_data_file,
    write_manifest,
)
from gpuledger.sample.company import build_company

MONTH = "2026-10"


def generate(rows: int, out: Path) -> int:
    """Write a CUR 2.0 export of ``rows`` line items for one month; return the file count.

    Built one data file at a time, so generating 5M rows needs no more memory than 500k.
    """
    month = aws_lines(build_company(1, 7, [MONTH])).filter(pl.col("month") == MONTH)
    files: list[Path] = []
    schema = pl.Schema()
    for number, start in enumerate(range(0, rows, ROWS_PER_FILE), start=1):
        index = pl.int_range(start, min(start + ROWS_PER_FILE, rows), eager=True)
        chunk = month[(index % month.height).to_list()].with_columns(
            pl.concat_str(
                "resource_id", pl.lit("-"), (index // month.height).cast(pl.String)
            ).alias("resource_id")
        )
        frame = to_cur2(chunk, invoiced=False).with_columns(  # every line its own id
            pl.concat_str(
                "identity_line_item_id",
                pl.lit(f"-{number}-"),
                pl.int_range(pl.len()).cast(pl.String),
            ).alias("identity_line_item_id")
        )
        schema = frame.schema
        files.append(write_data_file(frame, out, MONTH, number))
    write_manifest(schema, out, MONTH, files)
    return len(files)


def ingest_in_child(src: Path, home: Path, writer: str) -> dict[str, Any]:
    """Run one ingest in a fresh interpreter and return its seconds, CPU seconds and peak RSS."""
    return run_worker("bench.ingest_cur", "--child", str(src), str(home), writer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--work", type=Path, default=Path(".bench-data/cur"))
    parser.add_argument("--writers", nargs="+", choices=WRITERS, default=["files"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ingest_and_report("aws", *args.child)
        return
    print(
        f"{'writer':>8} {'rows':>10} {'files':>6} {'seconds':>8} {'CPU-s':>7} {'rows/s':>10}"
        f" {'peak RSS':>10}"
    )
    for rows in args.rows:
        src, home = args.work / f"export-{rows}", args.work / f"home-{rows}"
        exists = src.exists()
        files = len(list(src.rglob("*.parquet"))) if exists else generate(rows, src)
        for writer in args.writers:
            subprocess.run(["rm", "-rf", str(home)], check=True)
            run = ingest_in_child(src, home, writer)
            assert run["rows"] + run["quarantined"] == rows, run  # every line stored or shown
            print(
                f"{writer:>8} {rows:>10,} {files:>6} {run['seconds']:>8.1f} {run['cpu_s']:>7.1f}"
                f" {rows / run['seconds']:>10,.0f} {run['peak_mib']:>7,.0f} MiB"
            )


if __name__ == "__main__":
    main()
