"""`gpuledger ingest gpu SRC`: GPU telemetry into the gpu_usage (and model_tokens) tables.

SRC is an agent spool (a folder, a file, ``s3://`` or ``gs://``), Parquet/CSV files in the
gpu_usage schema, or ``prometheus+http://host:9090`` with DCGM exporter metrics
(:mod:`gpuledger.collect.gpu.dcgm`).

Idempotence: a (host, GPU, bucket) is one measurement. An ingest replaces every stored row of
each (source, host, gpu_uuid, bucket_start) it delivers, whatever workloads those rows named, and
keeps all others: ingesting the same spool twice stores one copy, and a later delivery of a bucket
supersedes the earlier one (a restated bucket with fewer workloads leaves no stale rows). Rows of
one delivery that describe the same (bucket, GPU, workload) are combined first by adding their
activity (:func:`combine_duplicates`).

Memory follows the input slice or one day, not the input or the table: rows are written part by
part in one Delta commit per ingest that rewrites only the files holding the delivered buckets
(:mod:`.replace`). Local Parquet files in day order stream straight into that write
(:mod:`.day_order`); any other input is read slice by slice into a local spill by day first
(:mod:`.staging`). Quarantined rows are stored after the telemetry, so a refused input changes
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from gpuledger.agent.spool import is_spool_folder, shipped_marker
from gpuledger.collect.files import SourceFile, list_files
from gpuledger.collect.gpu.combine import combine_duplicates
from gpuledger.collect.gpu.day_order import day_ordered
from gpuledger.collect.gpu.files import (
    FILE_PATTERNS,
    SOURCE_NAME,
    check_parquet_schema,
    read_usage_slices,
    refuse_impossible,
)
from gpuledger.collect.gpu.nodes import with_cluster_resource_ids
from gpuledger.collect.gpu.replace import (
    Stored,
    day_parts,
    days_of,
    delivery_of,
    replace_buckets,
)
from gpuledger.collect.gpu.staging import DaySpill
from gpuledger.config import ClusterConfig, Settings
from gpuledger.errors import InputError
from gpuledger.progress import progress_bar
from gpuledger.schema import QUARANTINE_SCHEMA, Quarantine, Tokens, Usage
from gpuledger.store.delta import Store
from gpuledger.store.state import run_failure

__all__ = ["GpuIngestResult", "combine_duplicates", "ingest", "store_tokens", "store_usage"]

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
    run_id = store.state.start_ingest(SOURCE_NAME, src)
    try:
        if src.startswith(("prometheus+http://", "prometheus+https://")):
            result = _ingest_prometheus(store, src, start, end, settings=settings, **options)
        else:
            if start or end:
                raise InputError("--start/--end apply to prometheus+http:// sources only", file=src)
            result = _ingest_files(store, src, settings.clusters)
    except BaseException as exc:  # whatever ended it, the run must not stay `running`
        store.state.finish_ingest(run_id, status="failed", message=run_failure(exc))
        raise
    store.state.finish_ingest(
        run_id,
        status="ok",
        rows=result.rows,
        quarantined=result.quarantined,
        partitions=[[SOURCE_NAME, p] for p in result.periods],
    )
    return result


def _ingest_files(store: Store, src: str, clusters: Sequence[ClusterConfig]) -> GpuIngestResult:
    files = list_files(src, FILE_PATTERNS)
    if not files:
        raise InputError("no .parquet or .csv files here", file=src)
    now = datetime.now(UTC)
    refused: list[pl.DataFrame] = []
    with progress_bar(transient=True) as bar:
        task = bar.add_task("reading GPU telemetry", total=len(files))
        ordered = day_ordered(files)
        if ordered is None:
            stored = _store_spilled(store, files, now, refused, lambda: bar.advance(task), clusters)
        else:
            for file in ordered.files:
                check_parquet_schema(file)  # refused before the write starts
            parts = ordered.parts(now, refused, lambda: bar.advance(task))
            named = ((end, with_cluster_resource_ids(rows, clusters)) for end, rows in parts)
            stored = replace_buckets(store, named, ordered.delivery())
    quarantine = pl.concat(refused, how="vertical")
    _replace_quarantine(store, quarantine, [f.uri for f in files])
    shipped = _mark_shipped([f.uri for f in files])
    return _result(src, stored, files=len(files), quarantined=quarantine.height, shipped=shipped)


def _store_spilled(
    store: Store,
    files: list[SourceFile],
    now: datetime,
    refused: list[pl.DataFrame],
    file_done: Callable[[], None],
    clusters: Sequence[ClusterConfig],
) -> Stored:
    """Any input: every file read and checked into a spill by day, then written day by day."""
    with DaySpill() as spill:
        for file in files:
            for rows, quarantine in read_usage_slices(file, now=now):
                spill.add(with_cluster_resource_ids(rows, clusters))
                refused.append(quarantine)
                del rows  # one slice in memory: release it before reading the next
            file_done()
        return replace_buckets(store, day_parts(spill.days()), delivery_of(spill.scan()))


def _ingest_prometheus(
    store: Store,
    src: str,
    start: str | None,
    end: str | None,
    *,
    settings: Settings,
    **options: Any,
) -> GpuIngestResult:
    from gpuledger.collect.gpu import dcgm

    hosts = settings.telemetry.hosts
    usage, tokens = dcgm.read_prometheus(src, start=start, end=end, hosts=hosts, **options)
    usage = with_cluster_resource_ids(usage, settings.clusters)
    usage, quarantine = refuse_impossible(usage, _query_name(src, usage), datetime.now(UTC))
    stored = _store(store, usage)
    store_tokens(store, tokens)
    if not quarantine.is_empty():  # each window's refusals are its own; most windows have none
        _replace_quarantine(store, quarantine, quarantine[Quarantine.file].unique().to_list())
    return _result(src, stored, files=0, quarantined=quarantine.height, tokens=tokens.height)


def _query_name(src: str, usage: pl.DataFrame) -> str:
    """Where quarantined Prometheus rows came from: the server and the buckets queried."""
    first, last = usage.select(
        pl.col(Usage.bucket_start).min().alias("first"), pl.col(Usage.bucket_start).max()
    ).row(0)
    if first is None:
        return src
    return f"{src} [{first.isoformat()} .. {last.isoformat()}]"


def store_usage(store: Store, usage: pl.DataFrame) -> int | None:
    """Replace the delivered buckets in the store (module docstring); returns the new version."""
    return _store(store, usage).version


def _store(store: Store, usage: pl.DataFrame) -> Stored:
    return replace_buckets(store, day_parts(days_of(usage)), delivery_of(usage.lazy()))


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
    stored: Stored,
    *,
    files: int,
    quarantined: int,
    tokens: int = 0,
    shipped: list[str] | None = None,
) -> GpuIngestResult:
    return GpuIngestResult(
        src=src,
        files=files,
        rows=stored.rows,
        gpus=len(stored.gpus),
        hosts=len(stored.hosts),
        buckets=stored.buckets,
        periods=sorted(stored.periods),
        quarantined=quarantined,
        tokens=tokens,
        shipped=shipped or [],
    )
