"""DCGM exporter metrics in Prometheus → gpu_usage rows, and vLLM token counters → model_tokens.

Prometheus does the aggregation: one range query per metric with ``step`` = the bucket, each
point an ``avg_over_time``/``max_over_time``/``count_over_time`` over the bucket that ends there,
grouped by GPU and workload labels. No raw sample leaves the server.

How the exporter's series become rows (one per bucket x GPU x workload):

- GPU: ``UUID`` (``uuid`` with ``--use-old-namespace``), ``gpu``, ``modelName``, host from
  ``Hostname`` or ``hostname`` (renamed upstream). A MIG instance (``GPU_I_PROFILE``,
  ``GPU_I_ID``) is its own GPU: ``gpu_uuid`` is ``<parent UUID>/gi<GPU_I_ID>``, since the
  exporter does not export MIG UUIDs.
- Workload: ``namespace``/``pod``/``container`` (or ``pod_namespace``/``pod_name``/
  ``container_name``; ``exported_*`` when Prometheus renamed them). A series without a pod is
  the GPU's time with no pod: the idle row.
- ``sm_util``: ``DCGM_FI_PROF_SM_ACTIVE`` x 100 where the exporter has it, else
  ``DCGM_FI_DEV_GPU_UTIL``. ``mem_used_bytes``: peak ``DCGM_FI_DEV_FB_USED`` (MiB).
  ``mem_total_bytes``: last FB_USED + FB_FREE (+ FB_RESERVED where exported).
- ``active_seconds``: the bucket x the series' sample count over the largest sample count of
  any series of the same host in that bucket (the scrape interval is not known here; a series
  scraped through the whole bucket defines "all of it").
- ``util_method``: ``process`` where several pods shared the GPU in the bucket (the exporter's
  per-process attribution), else ``device``.

The host's cloud ResourceId is not in DCGM's labels: :mod:`gpuledger.collect.gpu.nodes` finds
it from ``[telemetry.hosts]`` or kube-state-metrics' ``kube_node_info`` (two more range queries);
a host neither names keeps ``ResourceId`` null and is stored all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import polars as pl

from gpuledger.collect.gpu.nodes import (
    GCE_INSTANCE_ID,
    PROVIDER_ID,
    attach_resource_ids,
    node_queries,
    node_resource_ids,
)
from gpuledger.errors import InputError, SourceError
from gpuledger.schema import GPU_USAGE_SCHEMA, MODEL_TOKENS_SCHEMA, Tokens, Usage

MIB = 2**20
MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series in one query
_LABELS = {
    "uuid": ("UUID", "uuid"),
    "host": ("Hostname", "hostname"),
    "gpu": ("gpu",),
    "model_name": ("modelName",),
    "profile": ("GPU_I_PROFILE",),
    "instance_id": ("GPU_I_ID",),
    "namespace": ("exported_namespace", "namespace", "pod_namespace"),
    "pod": ("exported_pod", "pod", "pod_name"),
    "container": ("exported_container", "container", "container_name"),
    "team": ("team",),
    "label_model": ("model",),
}
_BY = ", ".join(sorted({name for names in _LABELS.values() for name in names}))
_TOKEN_LABELS = {
    "model": ("model_name",),
    "namespace": ("exported_namespace", "namespace"),
    "pod": ("exported_pod", "pod"),
    "host": ("Hostname", "hostname", "node", "instance"),
    "team": ("team",),
}
_TOKEN_BY = ", ".join(sorted({name for names in _TOKEN_LABELS.values() for name in names}))
_KEYS = list(_LABELS)


def usage_queries(bucket_seconds: int) -> dict[str, str]:
    """PromQL per measurement, each evaluated at bucket ends with a window of one bucket."""
    w = f"{bucket_seconds}s"
    return {
        "sm_active": f"avg by ({_BY}) (avg_over_time(DCGM_FI_PROF_SM_ACTIVE[{w}])) * 100",
        "gpu_util": f"avg by ({_BY}) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[{w}]))",
        "samples": f"sum by ({_BY}) (count_over_time(DCGM_FI_DEV_FB_USED[{w}]))",
        "fb_used": f"max by ({_BY}) (max_over_time(DCGM_FI_DEV_FB_USED[{w}]))",
        "fb_total": f"max by ({_BY}) (last_over_time(DCGM_FI_DEV_FB_USED[{w}])"
        f" + last_over_time(DCGM_FI_DEV_FB_FREE[{w}]))",
        "fb_reserved": f"max by ({_BY}) (last_over_time(DCGM_FI_DEV_FB_RESERVED[{w}]))",
        "power": f"avg by ({_BY}) (avg_over_time(DCGM_FI_DEV_POWER_USAGE[{w}]))",
    }


def token_queries(bucket_seconds: int) -> dict[str, str]:
    w = f"{bucket_seconds}s"
    return {
        "prompt": f"sum by ({_TOKEN_BY}) (increase(vllm:prompt_tokens_total[{w}]))",
        "generation": f"sum by ({_TOKEN_BY}) (increase(vllm:generation_tokens_total[{w}]))",
    }


def read_prometheus(
    src: str,
    *,
    start: str | None,
    end: str | None,
    bucket_seconds: int = 300,
    timeout: float = 60.0,
    hosts: Mapping[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """gpu_usage and model_tokens rows for the buckets in ``[start, end)`` (default: last day);
    ``hosts`` is ``[telemetry.hosts]``: host → ResourceId, ahead of kube_node_info."""
    base = src.removeprefix("prometheus+")
    first, last = bucket_window(start, end, bucket_seconds)
    with httpx.Client(base_url=base, timeout=timeout) as client:
        api = _Api(client, src)
        measured = {
            name: api.range(query, first, last, bucket_seconds, _LABELS)
            for name, query in usage_queries(bucket_seconds).items()
        }
        tokens = {
            name: api.range(query, first, last, bucket_seconds, _TOKEN_LABELS)
            for name, query in token_queries(bucket_seconds).items()
        }
        nodes = {
            name: api.range(query, first, last, bucket_seconds, labels)
            for name, (query, labels) in node_queries(bucket_seconds).items()
        }
    usage = attach_resource_ids(
        usage_rows(measured, bucket_seconds),
        node_resource_ids(nodes[PROVIDER_ID], nodes[GCE_INSTANCE_ID]),
        hosts,
    )
    return usage, token_rows(tokens, bucket_seconds)


def bucket_window(
    start: str | None, end: str | None, bucket_seconds: int
) -> tuple[datetime, datetime]:
    """First and last bucket start covered by ``[start, end)``, aligned to the bucket."""
    end_at = _parse_time(end, "--end") if end else datetime.now(UTC)
    start_at = _parse_time(start, "--start") if start else end_at - timedelta(days=1)
    first = _align(start_at, bucket_seconds, up=True)
    last = _align(end_at, bucket_seconds, up=False) - timedelta(seconds=bucket_seconds)
    if last < first:
        raise InputError(
            f"--start {start_at:%Y-%m-%dT%H:%M:%SZ} to --end {end_at:%Y-%m-%dT%H:%M:%SZ} holds no "
            f"whole {bucket_seconds}s bucket",
            expected="--end at least one bucket after --start",
        )
    return first, last


def _parse_time(text: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{option} {text!r} is not a time", expected="ISO 8601") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _align(at: datetime, bucket_seconds: int, *, up: bool) -> datetime:
    epoch = int(at.timestamp())
    floor = epoch - epoch % bucket_seconds
    if up and floor < at.timestamp():
        floor += bucket_seconds
    return datetime.fromtimestamp(floor, UTC)


class _Api:
    """Prometheus HTTP API: range queries, chunked under the per-query point limit."""

    def __init__(self, client: httpx.Client, src: str) -> None:
        self.client = client
        self.src = src

    def range(
        self,
        query: str,
        first: datetime,
        last: datetime,
        step: int,
        labels: dict[str, tuple[str, ...]],
    ) -> pl.DataFrame:
        """Long frame: one row per (series, bucket_start) with the label keys and ``value``."""
        frames = []
        chunk = timedelta(seconds=step * MAX_POINTS)
        at = first
        while at <= last:
            upto = min(last, at + chunk - timedelta(seconds=step))
            frames.append(self._query(query, at, upto, step, labels))
            at = upto + timedelta(seconds=step)
        return pl.concat(frames, how="vertical")

    def _query(
        self,
        query: str,
        first: datetime,
        last: datetime,
        step: int,
        labels: dict[str, tuple[str, ...]],
    ) -> pl.DataFrame:
        params: dict[str, str | float] = {
            "query": query,
            "start": (first + timedelta(seconds=step)).timestamp(),
            "end": (last + timedelta(seconds=step)).timestamp(),
            "step": f"{step}s",
        }
        try:
            response = self.client.get("/api/v1/query_range", params=params)
        except httpx.HTTPError as exc:
            raise SourceError(f"{self.src}: {exc}", transient=True) from exc
        if response.status_code != 200:
            raise SourceError(
                f"{self.src}: query failed ({response.status_code}): {response.text[:300]}",
                transient=response.status_code >= 500,
            )
        return _series_frame(response.json()["data"]["result"], step, labels)


def _series_frame(
    result: list[dict[str, Any]], step: int, labels: dict[str, tuple[str, ...]]
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {key: [] for key in labels}
    columns["bucket_epoch"], columns["value"] = [], []
    for series in result:
        metric = series["metric"]
        picked = {
            key: next((metric[n] for n in names if metric.get(n)), "")
            for key, names in labels.items()
        }
        for stamp, value in series["values"]:
            for key, text in picked.items():
                columns[key].append(text)
            columns["bucket_epoch"].append(int(float(stamp)) - step)
            columns["value"].append(float(value))
    schema = dict.fromkeys(labels, pl.String) | {"bucket_epoch": pl.Int64, "value": pl.Float64}
    return pl.DataFrame(columns, schema=schema).filter(pl.col("value").is_not_nan())


def usage_rows(measured: dict[str, pl.DataFrame], bucket_seconds: int) -> pl.DataFrame:
    """Join the measurements per series and bucket and shape them as gpu_usage rows."""
    keys = [*_KEYS, "bucket_epoch"]
    joined = measured["samples"].rename({"value": "samples"})
    for name in ("sm_active", "gpu_util", "fb_used", "fb_total", "fb_reserved", "power"):
        joined = joined.join(measured[name].rename({"value": name}), on=keys, how="left")
    null_if_empty = {key: pl.col(key).replace("", None) for key in _KEYS}
    mig = pl.col("instance_id").is_not_null()
    workload = pl.col("pod").is_not_null()
    shape = joined.with_columns(**null_if_empty).with_columns(_active_seconds(bucket_seconds))
    sharing = workload.sum().over("uuid", "instance_id", "bucket_epoch") > 1
    return (
        shape.select(
            pl.from_epoch("bucket_epoch", time_unit="s")
            .dt.replace_time_zone("UTC")
            .dt.cast_time_unit("us")
            .alias(Usage.bucket_start),
            pl.lit(bucket_seconds, pl.Int32).alias(Usage.bucket_seconds),
            pl.col("host").alias(Usage.host),
            pl.lit(None, pl.String).alias(Usage.ResourceId),
            pl.when(mig)
            .then(pl.format("{}/gi{}", "uuid", "instance_id"))
            .otherwise(pl.col("uuid"))
            .alias(Usage.gpu_uuid),
            pl.col("gpu").cast(pl.Int32, strict=False).alias(Usage.gpu_index),
            pl.col("model_name").alias(Usage.gpu_model),
            pl.col("profile").alias(Usage.mig_profile),
            pl.when(mig).then(pl.col("uuid")).alias(Usage.parent_gpu_uuid),
            pl.col("namespace").alias(Usage.namespace),
            pl.col("pod").alias(Usage.pod),
            pl.col("container").alias(Usage.container),
            pl.lit(None, pl.String).alias(Usage.job),
            pl.lit(None, pl.String).alias(Usage.pid_command),
            pl.col("team").alias(Usage.team),
            pl.col("label_model").alias(Usage.model),
            pl.col("active_seconds").alias(Usage.active_seconds),
            pl.coalesce(pl.col("sm_active"), pl.col("gpu_util")).clip(0, 100).alias(Usage.sm_util),
            (pl.col("fb_used") * MIB).round().cast(pl.Int64).alias(Usage.mem_used_bytes),
            ((pl.col("fb_total") + pl.col("fb_reserved").fill_null(0)) * MIB)
            .round()
            .cast(pl.Int64)
            .alias(Usage.mem_total_bytes),
            pl.col("power").alias(Usage.power_w),
            pl.col("samples").round().cast(pl.Int32).alias(Usage.samples),
            pl.when(workload & sharing)
            .then(pl.lit("process"))
            .otherwise(pl.lit("device"))
            .alias(Usage.util_method),
            pl.lit("dcgm").alias(Usage.source),
            pl.from_epoch("bucket_epoch", time_unit="s")
            .dt.strftime("%Y-%m")
            .alias(Usage.x_BillingPeriod),
        )
        .select(GPU_USAGE_SCHEMA.names())
        .cast(GPU_USAGE_SCHEMA)
    )


def _active_seconds(bucket_seconds: int) -> pl.Expr:
    densest = pl.col("samples").max().over("host", "bucket_epoch")
    return (
        (bucket_seconds * pl.col("samples") / densest)
        .clip(0, bucket_seconds)
        .alias("active_seconds")
    )


def token_rows(tokens: dict[str, pl.DataFrame], bucket_seconds: int) -> pl.DataFrame:
    """vLLM prompt and generation token increases per bucket, host, pod and model."""
    keys = [*_TOKEN_LABELS, "bucket_epoch"]
    joined = (
        tokens["prompt"]
        .rename({"value": "prompt"})
        .join(
            tokens["generation"].rename({"value": "generation"}), on=keys, how="full", coalesce=True
        )
    )
    return joined.select(
        pl.from_epoch("bucket_epoch", time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.cast_time_unit("us")
        .alias(Tokens.bucket_start),
        pl.lit(bucket_seconds, pl.Int32).alias(Tokens.bucket_seconds),
        pl.col("host").str.replace(r":\d+$", "").replace("", None).alias(Tokens.host),
        pl.col("namespace").replace("", None).alias(Tokens.namespace),
        pl.col("pod").replace("", None).alias(Tokens.pod),
        pl.col("model").replace("", None).alias(Tokens.model),
        pl.col("team").replace("", None).alias(Tokens.team),
        pl.col("prompt").fill_null(0).round().cast(pl.Int64).alias(Tokens.prompt_tokens),
        pl.col("generation").fill_null(0).round().cast(pl.Int64).alias(Tokens.generation_tokens),
        pl.lit("dcgm").alias(Tokens.source),
    ).cast(MODEL_TOKENS_SCHEMA)
