"""Benchmark: the ``athena://`` pushdown on generated CUR 2.0 exports, DuckDB standing in for Athena.

Usage: ``python -m bench.ingest_athena [--rows 100000 1000000] [--work .bench-data/athena]``

Exports are the sample company's CUR month at several sizes (``bench.ingest_cur.generate``), in
two shapes: ``hourly`` as generated (one line per resource, hour, usage type and line item type,
as the sample is) and ``quarter`` (every line cut into four quarter-hour lines with their own
ids and operations, as a CUR of per-request or per-operation lines is; the pieces of an amount
sum to it exactly). For each, in fresh processes:

* ``query``: THE query (transpiled to DuckDB) over the export, its answer written to Parquet;
* ``answer``: the answer ingested through the collector's ``athena://`` path (no AWS calls);
* ``files``: the export ingested as files, the yardstick.

Both stores must hold the same money to the cent. Prints rows in, rows stored, the reduction
ratio, and each step's wall seconds, CPU seconds and peak RSS.
"""

from __future__ import annotations

import argparse
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import cpu_seconds, emit, own_peak_bytes, run_worker
from bench.ingest_cur import MONTH, generate
from gpuledger.collect.aws.columns import MONEY_COLUMNS, Cur
from gpuledger.period import Period

PIECES = 4
SHAPES = ("hourly", "quarter")
SRC = "athena://bench/cur.export"
_MONEY = pl.Decimal(38, 10)


def quarter_lines(export: Path, out: Path) -> None:
    """``export`` with every line cut into ``PIECES`` quarter-hour lines (same manifest layout)."""
    for path in sorted(export.rglob("*")):
        target = out / path.relative_to(export)
        if path.is_dir():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".parquet":
            shutil.copy(path, target)
            continue
        frame = pl.read_parquet(path)
        pieces = [_piece(frame, number) for number in range(PIECES)]
        pl.concat(pieces).write_parquet(target, compression="snappy")


def _piece(frame: pl.DataFrame, number: int) -> pl.DataFrame:
    """Piece ``number`` of every line: a quarter of its hour, usage and amounts; the last piece
    takes what the others' rounding left, so the pieces sum to the line exactly."""
    start = pl.col(Cur.line_item_usage_start_date)
    money = [name for name in MONEY_COLUMNS if name in frame.columns]

    def share(name: str) -> pl.Expr:
        whole = pl.col(name).cast(pl.String).cast(_MONEY)
        part = (whole / PIECES).round(10).cast(_MONEY)
        last = whole - part * (PIECES - 1)
        return (last if number == PIECES - 1 else part).cast(pl.Float64).alias(name)

    return frame.with_columns(
        (start + pl.duration(minutes=15 * number)).alias(Cur.line_item_usage_start_date),
        (start + pl.duration(minutes=15 * (number + 1))).alias(Cur.line_item_usage_end_date),
        (pl.col(Cur.line_item_usage_amount) / PIECES).alias(Cur.line_item_usage_amount),
        (pl.col(Cur.identity_line_item_id) + f"-q{number}").alias(Cur.identity_line_item_id),
        pl.lit(f"RunInstances:000{number}").alias(Cur.line_item_operation),
        *(share(name) for name in money),
    )


def run_query(export: str, answer: str) -> None:
    """Worker: THE query on DuckDB over the export's Parquet files, answer to ``answer``."""
    from gpuledger.collect.aws.athena_sql import cost_lines_sql
    from tests.collect.athena_duckdb import DATABASE, DuckAthena

    started, cpu = time.perf_counter(), cpu_seconds()
    files = sorted(Path(export).rglob("*.parquet"))
    duck = DuckAthena()
    duck.add_cur2("export", files)
    query = cost_lines_sql(f"{DATABASE}.export", duck.columns("export"), [Period.parse(MONTH)])
    result = duck.answer(query)
    result.write_parquet(answer)
    emit(
        {
            "rows_in": pl.scan_parquet(files).select(pl.len()).collect().item(),
            "rows_out": result.height,
            "seconds": time.perf_counter() - started,
            "cpu_s": cpu_seconds() - cpu,
            "peak_mib": own_peak_bytes() / 2**20,
        }
    )


def ingest_answer(answer: str, home: str) -> None:
    """Worker: the answer through the ``athena://`` path of the collector into a fresh store."""
    from gpuledger.collect.aws import collector as aws
    from gpuledger.collect.aws.athena import stage_answer
    from gpuledger.collect.ingest import CostBatch, ingest_cost
    from gpuledger.store.delta import Store

    started, cpu = time.perf_counter(), cpu_seconds()
    staging = Path(home + "-staging")
    staging.mkdir(parents=True)

    def read(_run: str) -> CostBatch:
        rows, refused = stage_answer([("s3://bench/answer", Path(answer))], SRC, staging)
        return CostBatch(rows=rows, quarantine=refused, deliveries=aws.period_deliveries(rows, {}))

    result = ingest_cost(Store(home), aws.SOURCE, SRC, read)
    shutil.rmtree(staging)
    emit(
        {
            "rows": result.rows,
            "seconds": time.perf_counter() - started,
            "cpu_s": cpu_seconds() - cpu,
            "peak_mib": own_peak_bytes() / 2**20,
        }
    )


def total(home: Path) -> Decimal:
    from gpuledger.schema import Cost
    from gpuledger.store.delta import Store

    cost = Store(home).scan("cost").select(pl.col(Cost.EffectiveCost).sum()).collect()
    return Decimal(cost.item())


def measure(export: Path, work: Path) -> dict[str, dict[str, Any]]:
    """The three steps on one export, each in a fresh process."""
    answer, athena_home, files_home = work / "answer.parquet", work / "home-athena", work / "home"
    answer.unlink(missing_ok=True)
    for folder in (athena_home, files_home, Path(f"{athena_home}-staging")):
        shutil.rmtree(folder, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    query = run_worker("bench.ingest_athena", "--child", "query", str(export), str(answer))
    pushed = run_worker("bench.ingest_athena", "--child", "answer", str(answer), str(athena_home))
    files = run_worker("bench.ingest_cur", "--child", str(export), str(files_home), "files")
    assert round(total(athena_home), 2) == round(total(files_home), 2), export
    return {"query": query, "answer": pushed, "files": files}


def exported(work: Path, shape: str, rows: int) -> Path:
    """The export of ``shape`` with ``rows`` lines, generated once and kept under ``work``."""
    export = work / f"{shape}-{rows}"
    if not export.exists():
        if shape == "hourly":
            generate(rows, export)
        else:
            quarter_lines(exported(work, "hourly", rows // PIECES), export)
    return export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=Path(".bench-data/athena"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, first, second = args.child
        (run_query if kind == "query" else ingest_answer)(first, second)
        return
    print(
        f"{'shape':>8} {'rows in':>10} {'stored':>10} {'ratio':>6} | {'step':>6} {'seconds':>8}"
        f" {'CPU-s':>7} {'peak RSS':>10}"
    )
    for rows in args.rows:
        for shape in SHAPES:
            export = exported(args.work, shape, rows)
            runs = measure(export, args.work / "run")
            rows_in, stored = runs["query"]["rows_in"], runs["answer"]["rows"]
            for step, run in runs.items():
                print(
                    f"{shape:>8} {rows_in:>10,} {stored:>10,} {rows_in / stored:>6.2f} |"
                    f" {step:>6} {run['seconds']:>8.1f} {run['cpu_s']:>7.1f}"
                    f" {run['peak_mib']:>7,.0f} MiB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
