"""`gpuledger ingest slurm SRC`: sacct accounting → GPU allocation rows in ``gpu_usage``.

SRC is a file of ``sacct --json`` or ``--parsable2`` output, a folder (or ``s3://``/``gs://``
prefix) of such files (``*.json``, ``*.txt``, ``*.psv``, ``*.parsable2``), or ``-`` for standard
input. A job listed in several files (overlapping
sacct windows) counts once, as the last file (by name) lists it.

The rows are stored the way ``collect/gpu`` stores telemetry
(:func:`gpuledger.collect.gpu.collector.store_usage`): a delivered (source, host, GPU, bucket)
replaces the stored rows of that key, so ingesting the same sacct output twice stores one copy,
and a later output covering the same buckets supersedes the earlier one. A bad input is refused
whole, before anything is written.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from gpuledger.collect.files import list_files, read_bytes
from gpuledger.collect.gpu.collector import store_usage
from gpuledger.collect.slurm.allocation import SOURCE_NAME, allocation_rows
from gpuledger.collect.slurm.sacct import SacctRead, read_sacct
from gpuledger.config import Settings
from gpuledger.errors import GpuledgerError, InputError
from gpuledger.schema import Usage
from gpuledger.store.delta import Store

STDIN = "-"
FILE_PATTERNS = ("*.json", "*.txt", "*.psv", "*.parsable2")  # what a folder's sacct files are


@dataclass(frozen=True)
class SlurmIngestResult:
    """What one ``ingest slurm`` stored; ``summary`` is the line the CLI prints."""

    src: str
    jobs: int
    rows: int
    gpus: int
    hosts: int
    buckets: int
    periods: list[str] = field(default_factory=list)
    unfinished: int = 0

    def summary(self) -> str:
        where = "standard input" if self.src == STDIN else self.src
        text = (
            f"slurm: stored {self.rows:,} gpu_usage rows ({self.jobs:,} GPU jobs, "
            f"{self.gpus:,} GPUs on {self.hosts:,} host(s), {self.buckets:,} buckets, "
            f"{', '.join(self.periods) or 'no periods'}) from {where}"
        )
        if self.unfinished:
            text += (
                f"; {self.unfinished:,} job(s) not started or not ended yet, stored once they end"
            )
        return text


def ingest(store: Store, settings: Settings, src: str, **options: Any) -> SlurmIngestResult:
    """Read ``src`` (module docstring) and store its GPU jobs; a bad file stores nothing."""
    run_id = store.state.start_ingest(SOURCE_NAME, src)
    try:
        read = _read_all(src)
        usage = allocation_rows(read.jobs, settings)
        store_usage(store, usage)
    except GpuledgerError as exc:
        store.state.finish_ingest(run_id, status="failed", message=str(exc))
        raise
    result = _result(src, usage, jobs=len(read.jobs), unfinished=read.unfinished)
    store.state.finish_ingest(
        run_id,
        status="ok",
        rows=result.rows,
        partitions=[[SOURCE_NAME, period] for period in result.periods],
    )
    return result


def _read_all(src: str) -> SacctRead:
    """Every job of ``src``, each job id once (the last file's), every file checked first."""
    if src == STDIN:
        return read_sacct(_decoded(sys.stdin.buffer.read(), "standard input"), "standard input")
    one_file = Path(src.removeprefix("file://")).is_file()
    files = list_files(src) if one_file else list_files(src, FILE_PATTERNS)
    if not files:
        raise InputError(
            "no sacct files here", file=src, expected=f"files named {', '.join(FILE_PATTERNS)}"
        )
    reads = [read_sacct(_decoded(read_bytes(f.uri), f.uri), f.uri) for f in files]
    jobs = {job.job_id: job for read in reads for job in read.jobs}
    return SacctRead(list(jobs.values()), sum(read.unfinished for read in reads))


def _decoded(data: bytes, src: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start})", file=src, expected="sacct output"
        ) from exc


def _result(src: str, usage: pl.DataFrame, *, jobs: int, unfinished: int) -> SlurmIngestResult:
    return SlurmIngestResult(
        src=src,
        jobs=jobs,
        rows=usage.height,
        gpus=usage.select(Usage.host, Usage.gpu_index).n_unique() if usage.height else 0,
        hosts=usage[Usage.host].n_unique(),
        buckets=usage[Usage.bucket_start].n_unique(),
        periods=sorted(usage[Usage.x_BillingPeriod].unique().to_list()),
        unfinished=unfinished,
    )
