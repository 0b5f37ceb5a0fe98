"""`gpuledger ingest gpu SRC`: GPU telemetry into the gpu_usage (and model_tokens) tables.

SRC is an agent spool (a folder, a file, ``s3://`` or ``gs://``), Parquet/CSV files in the
gpu_usage schema, or ``prometheus+http://host:9090`` with DCGM exporter metrics
(:mod:`gpuledger.collect.gpu.dcgm`).

Idempotence: a (host, GPU, bucket) is one measurement. An ingest replaces every stored row of
each (host, gpu_uuid, bucket_start) it delivers, whatever workloads those rows named, and keeps
all others: ingesting the same spool twice stores one copy, and a later delivery of a bucket
supersedes the earlier one. Rows of one delivery that describe the same (bucket, GPU, workload)
(an agent's shutdown file and its successor's file of the same bucket) are combined first.
The rewrite is one Delta commit per ingest over the touched (source, month) partitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from gpuledger.agent.spool import is_spool_folder, shipped_marker
from gpuledger.collect.files import list_files
from gpuledger.collect.gpu.files import FILE_PATTERNS, SOURCE_NAME, read_usage_file
from gpuledger.config import Settings
from gpuledger.errors import GpuledgerError, InputError
from gpuledger.progress import progress_bar
from gpuledger.schema import GPU_USAGE_SCHEMA, QUARANTINE_SCHEMA, Quarantine, Tokens, Usage
from gpuledger.store import telemetry_index
from gpuledger.store.delta import Store

BUCKET_KEY = (Usage.host, Usage.gpu_uuid, Usage.bucket_start)
PARTITION_KEYS = (Usage.source, Usage.x_BillingPeriod, Usage.host)
_WORKLOAD_ID = [
    name
    for name in GPU_USAGE_SCHEMA.names()
    if name
    not in {
        Usage.active_seconds,
        Usage.sm_util,
        Usage.mem_used_bytes,
        Usage.power_w,
        Usage.samples,
        Usage.util_method,
        Usage.mem_total_bytes,
    }
]
_METHOD_RANK = {"device": 0, "process": 1, "memory_share": 2}
TOKEN_KEY = (
    Tokens.source,
    Tokens.bucket_start,
    Tokens.host,
    Tokens.namespace,
    Tokens.pod,
    Tokens.model,
)


@dataclass(frozen=True)
class GpuIngestResult:
    """What one ``ingest gpu`` stored; ``summary`` is the line the CLI prints."""

    src: str
    files: int
    rows: int
    gpus: int
    hosts: int
    buckets: int
    periods: list[str]
    quarantined: int = 0
    tokens: int = 0
    shipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        where = f"{self.files:,} file(s)" if self.files else self.src
        text = (
            f"gpu: stored {self.rows:,} gpu_usage rows ({self.gpus:,} GPUs on {self.hosts:,} "
            f"host(s), {self.buckets:,} buckets, {', '.join(self.periods) or 'no periods'}) "
            f"from {where}"
        )
        if self.tokens:
            text += f"; {self.tokens:,} model_tokens rows"
        if self.quarantined:
            text += f"; {self.quarantined:,} row(s) quarantined, see `gpuledger status`"
        return text


def ingest(
    store: Store,
    settings: Settings,
    src: str,
    *,
    start: str | None = None,
    end: str | None = None,
    **options: Any,
) -> GpuIngestResult:
    """Read ``src`` and store its telemetry; see the module docstring for the replace rule."""
    del settings  # telemetry carries no team mapping: the engine applies it
    run_id = store.state.start_ingest(SOURCE_NAME, src)
    try:
        if src.startswith(("prometheus+http://", "prometheus+https://")):
            result = _ingest_prometheus(store, src, start, end, **options)
        else:
            if start or end:
                raise InputError("--start/--end apply to prometheus+http:// sources only", file=src)
            result = _ingest_files(store, src)
    except GpuledgerError as exc:
        store.state.finish_ingest(run_id, status="failed", message=str(exc))
        raise
    store.state.finish_ingest(
        run_id,
        status="ok",
        rows=result.rows,
        quarantined=result.quarantined,
        partitions=[[SOURCE_NAME, p] for p in result.periods],
    )
    return result


def _ingest_files(store: Store, src: str) -> GpuIngestResult:
    files = list_files(src, FILE_PATTERNS)
    if not files:
        raise InputError("no .parquet or .csv files here", file=src)
    frames, refused = [], []
    with progress_bar(transient=True) as bar:
        task = bar.add_task("reading GPU telemetry", total=len(files))
        for file in files:
            rows, quarantine = read_usage_file(file)
            frames.append(rows)
            refused.append(quarantine)
            bar.advance(task)
    usage = combine_duplicates(pl.concat(frames, how="vertical"))
    quarantine = pl.concat(refused, how="vertical")
    _replace_quarantine(store, quarantine, [f.uri for f in files])
    store_usage(store, usage)
    shipped = _mark_shipped([f.uri for f in files])
    return _result(src, usage, files=len(files), quarantined=quarantine.height, shipped=shipped)


def _ingest_prometheus(
    store: Store, src: str, start: str | None, end: str | None, **options: Any
) -> GpuIngestResult:
    from gpuledger.collect.gpu import dcgm

    usage, tokens = dcgm.read_prometheus(src, start=start, end=end, **options)
    store_usage(store, usage)
    store_tokens(store, tokens)
    return _result(src, usage, files=0, quarantined=0, tokens=tokens.height)


def combine_duplicates(usage: pl.DataFrame) -> pl.DataFrame:
    """One row per (bucket, GPU, workload): sums of time and samples, sample-weighted means.

    Only rows whose identity repeats are grouped (rare: an agent's shutdown file and its
    successor's); the rest pass through untouched, which keeps a month of rows fast.
    """
    repeated = usage.select(pl.struct(_WORKLOAD_ID).is_duplicated()).to_series()
    if not repeated.any():
        return usage
    weight = pl.col(Usage.samples).cast(pl.Float64)
    rank = pl.col(Usage.util_method).replace_strict(_METHOD_RANK, default=-1)
    combined = (
        usage.filter(repeated)
        .group_by(_WORKLOAD_ID, maintain_order=True)
        .agg(
            pl.col(Usage.active_seconds).sum(),
            _weighted(Usage.sm_util, weight),
            pl.col(Usage.mem_used_bytes).max(),
            pl.col(Usage.mem_total_bytes).max(),
            _weighted(Usage.power_w, weight),
            pl.col(Usage.samples).sum(),
            pl.col(Usage.util_method).sort_by(rank).last(),
        )
    )
    combined = combined.with_columns(
        pl.min_horizontal(Usage.active_seconds, pl.col(Usage.bucket_seconds).cast(pl.Float64))
    ).select(GPU_USAGE_SCHEMA.names())
    return pl.concat([usage.filter(~repeated), combined], how="vertical")


def _weighted(column: str, weight: pl.Expr) -> pl.Expr:
    """Sample-weighted mean of ``column`` over the rows that have it; null when none has."""
    present = weight.filter(pl.col(column).is_not_null()).sum()
    mean = (pl.col(column) * weight).sum() / present
    return pl.when(present > 0).then(mean).otherwise(None).alias(column)


def store_usage(store: Store, usage: pl.DataFrame) -> int | None:
    """Replace the delivered buckets in the store (module docstring); returns the new version.

    Only the touched (source, month, host) partitions are read and rewritten, so a scheduled
    ingest of a few new buckets costs one host-month each, not the whole table.
    """
    if usage.is_empty():
        return store.version("gpu_usage")
    stored = store.scan("gpu_usage").filter(_partitions_of(usage)).collect()
    delivered = usage.select(BUCKET_KEY).unique()
    kept = stored.join(delivered, on=list(BUCKET_KEY), how="anti", nulls_equal=True)
    merged = pl.concat([kept.select(GPU_USAGE_SCHEMA.names()), usage], how="vertical")
    before = store.version("gpu_usage")
    version = store.replace_partitions("gpu_usage", merged, PARTITION_KEYS)
    summary = telemetry_index.summarize(merged.lazy())
    telemetry_index.record(store, summary, version, previous_version=before)
    return version


def _partitions_of(usage: pl.DataFrame) -> pl.Expr:
    """A filter on partition columns only, so the Delta scan prunes to the touched partitions."""
    groups = usage.group_by(Usage.source, Usage.x_BillingPeriod).agg(pl.col(Usage.host).unique())
    terms = [
        (pl.col(Usage.source) == row[Usage.source])
        & (pl.col(Usage.x_BillingPeriod) == row[Usage.x_BillingPeriod])
        & pl.col(Usage.host).is_in(row[Usage.host])
        for row in groups.iter_rows(named=True)
    ]
    return pl.any_horizontal(terms)


def store_tokens(store: Store, tokens: pl.DataFrame) -> int | None:
    """Same rule for model_tokens: a delivered (bucket, host, pod, model) replaces its old row."""
    if tokens.is_empty():
        return store.version("model_tokens")
    stored = (
        store.scan("model_tokens")
        .filter(pl.col(Tokens.source).is_in(tokens[Tokens.source].unique().to_list()))
        .collect()
    )
    kept = stored.join(
        tokens.select(TOKEN_KEY).unique(), on=list(TOKEN_KEY), how="anti", nulls_equal=True
    )
    merged = pl.concat([kept, tokens.select(kept.columns)], how="vertical")
    return store.replace_partitions("model_tokens", merged, [Tokens.source])


def _replace_quarantine(store: Store, quarantine: pl.DataFrame, files: list[str]) -> None:
    """A file's refused rows replace what it was refused last time (none, once it is fixed)."""
    if quarantine.is_empty() and not store.exists("quarantine"):
        return
    stored = (
        store.scan("quarantine")
        .filter(pl.col(Quarantine.x_Source) == SOURCE_NAME)
        .filter(~pl.col(Quarantine.file).is_in(files))
        .collect()
    )
    merged = pl.concat([stored, quarantine.cast(QUARANTINE_SCHEMA)], how="vertical")
    clear = [{Quarantine.x_Source: SOURCE_NAME}]
    store.replace_partitions("quarantine", merged, [Quarantine.x_Source], replace=clear)


def _mark_shipped(uris: list[str]) -> list[str]:
    """Tell a local agent spool which files are in the store, so it may prune them first."""
    marked = []
    for uri in uris:
        path = Path(uri)
        if "://" in uri or not is_spool_folder(path.parent):
            continue
        try:
            shipped_marker(path).touch()
        except OSError:
            continue  # a read-only spool copy: pruning falls back to age order
        marked.append(uri)
    return marked


def _result(
    src: str,
    usage: pl.DataFrame,
    *,
    files: int,
    quarantined: int,
    tokens: int = 0,
    shipped: list[str] | None = None,
) -> GpuIngestResult:
    stats = usage.select(
        pl.col(Usage.gpu_uuid).n_unique().alias("gpus"),
        pl.col(Usage.host).n_unique().alias("hosts"),
        pl.col(Usage.bucket_start).n_unique().alias("buckets"),
    ).row(0, named=True)
    return GpuIngestResult(
        src=src,
        files=files,
        rows=usage.height,
        gpus=int(stats["gpus"]),
        hosts=int(stats["hosts"]),
        buckets=int(stats["buckets"]),
        periods=sorted(usage[Usage.x_BillingPeriod].unique().drop_nulls().to_list()),
        quarantined=quarantined,
        tokens=tokens,
        shipped=shipped or [],
    )
