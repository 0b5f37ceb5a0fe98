"""Sample data: the company's hourly GPU activity as agent spool files (5-minute gpu_usage rows).

What ``gpuledger agent`` would have written on each host (a CSV file per bucket), concatenated per
host and month into one Parquet file (the shape a spool shipper delivers): canonical gpu_usage columns, ``source = "agent"``, GPU names as
NVML reports them. Each hour becomes twelve buckets with deterministic jitter that sums to zero
within the hour, so every hourly mean of ``sm_util`` and ``power_w`` equals the company's hourly
value exactly and totals stay checkable against ``company.gpu_hours``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from gpuledger.agent.spool import SPOOL_SUFFIX, spool_file_name
from gpuledger.sample.company import Company
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage

BUCKET_SECONDS = 300
BUCKETS_PER_HOUR = 3600 // BUCKET_SECONDS
SAMPLE_INTERVAL = 1  # the agent's default: one sample a second
JITTER_SM = 6.0  # largest swing of a bucket around its hour, in SM percentage points
WATTS_PER_SM = 5.5  # the company model's power slope

# catalog GPU names → what nvmlDeviceGetName reports on those instances
NVML_NAMES = {
    "H100": "NVIDIA H100 80GB HBM3",
    "H200": "NVIDIA H200",
    "A100 40GB": "NVIDIA A100-SXM4-40GB",
    "A100 80GB": "NVIDIA A100 80GB PCIe",
    "L40S": "NVIDIA L40S",
    "L4": "NVIDIA L4",
    "A10G": "NVIDIA A10G",
    "V100": "Tesla V100-SXM2-16GB",
}


def write_gpu_telemetry(company: Company, out: Path) -> list[Path]:
    """Write one spool file per host and month under ``out``; returns the paths."""
    rows = gpu_usage_rows(company)
    written = []
    for (host, period), frame in rows.partition_by(
        [Usage.host, Usage.x_BillingPeriod], as_dict=True, maintain_order=True
    ).items():
        start = frame[Usage.bucket_start].min()
        name = spool_file_name(str(host), start, BUCKET_SECONDS)  # type: ignore[arg-type]
        path = out / name.replace(SPOOL_SUFFIX, f"-{period}.parquet")  # a month: Parquet
        frame.sort(Usage.bucket_start, Usage.gpu_index).write_parquet(path, compression="zstd")
        written.append(path)
    return written


def gpu_usage_rows(company: Company) -> pl.DataFrame:
    """The company's ``gpu_hours``, then its on-prem hosts', as 5-minute canonical gpu_usage rows.

    The on-prem hosts draw their jitter from a generator of their own, so the cloud rows are the
    same with or without them.
    """
    cloud = _expand(company.gpu_hours, _gpus(company.instances), (company.seed, 5))
    onprem = _expand(company.onprem_gpu_hours, _gpus(company.onprem_hosts), (company.seed, 22))
    return pl.concat([cloud, onprem])


def _expand(hourly: pl.DataFrame, gpus: pl.DataFrame, seed: tuple[int, int]) -> pl.DataFrame:
    """Hourly per-GPU activity expanded to twelve 5-minute buckets (module docstring)."""
    hours = hourly.join(gpus, on=["resource_id", "gpu_index"], how="left")
    jitter = pl.Series("jitter", _zero_sum_jitter(hours.height, seed).ravel())
    expanded = hours.with_columns(
        pl.int_ranges(0, BUCKETS_PER_HOUR, dtype=pl.Int32).alias("slot")
    ).explode("slot")
    swing = pl.min_horizontal(pl.col("sm_util"), 100 - pl.col("sm_util"), pl.lit(JITTER_SM))
    sm = pl.col("sm_util") + swing * pl.col("jitter")
    busy = pl.col("busy")
    return (
        expanded.with_columns(jitter)
        .select(
            (pl.col("hour_start") + pl.duration(minutes=pl.col("slot") * 5)).alias(
                Usage.bucket_start
            ),
            pl.lit(BUCKET_SECONDS, pl.Int32).alias(Usage.bucket_seconds),
            pl.col("host").alias(Usage.host),
            pl.col("resource_id").alias(Usage.ResourceId),
            pl.col(Usage.gpu_uuid),
            pl.col("gpu_index").alias(Usage.gpu_index),
            pl.col(Usage.gpu_model),
            pl.col("namespace").alias(Usage.namespace),
            pl.col("pod").alias(Usage.pod),
            pl.col("container").alias(Usage.container),
            pl.col("job").alias(Usage.job),
            pl.when(busy).then(pl.lit("python")).alias(Usage.pid_command),
            pl.col("team").alias(Usage.team),
            pl.col("model").alias(Usage.model),
            pl.lit(float(BUCKET_SECONDS)).alias(Usage.active_seconds),
            sm.alias(Usage.sm_util),
            pl.col("mem_used_bytes").alias(Usage.mem_used_bytes),
            pl.col(Usage.mem_total_bytes),
            (pl.col("power_w") + WATTS_PER_SM * (sm - pl.col("sm_util"))).alias(Usage.power_w),
            pl.lit(BUCKET_SECONDS // SAMPLE_INTERVAL, pl.Int32).alias(Usage.samples),
            pl.lit("device").alias(Usage.util_method),
            pl.lit("agent").alias(Usage.source),
            pl.col("hour_start").dt.strftime("%Y-%m").alias(Usage.x_BillingPeriod),
        )
        .pipe(_canonical)
    )


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        [
            pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in GPU_USAGE_SCHEMA.items()
        ]
    )


def _gpus(machines: pl.DataFrame) -> pl.DataFrame:
    """One row per GPU of ``machines`` (instances or hosts): host, stable UUID, NVML name, memory."""
    gpus = (
        machines.select("resource_id", "host", "gpu_model", "gpu_memory_gib", "gpu_count")
        .with_columns(pl.int_ranges(0, pl.col("gpu_count"), dtype=pl.Int32).alias("gpu_index"))
        .explode("gpu_index")
    )
    uuids = [
        _gpu_uuid(resource, index)
        for resource, index in zip(gpus["resource_id"], gpus["gpu_index"], strict=True)
    ]
    return gpus.select(
        "resource_id",
        "gpu_index",
        "host",
        pl.Series(Usage.gpu_uuid, uuids, pl.String),
        pl.col("gpu_model")
        .replace_strict(NVML_NAMES, default=pl.lit("NVIDIA ") + pl.col("gpu_model"))
        .alias(Usage.gpu_model),
        (pl.col("gpu_memory_gib") * 2**30).cast(pl.Int64).alias(Usage.mem_total_bytes),
    )


def _gpu_uuid(resource_id: str, index: int) -> str:
    """A GPU UUID in NVML's shape, stable for an instance and index (one per GPU, not per row)."""
    h = hashlib.sha256(f"{resource_id}#{index}".encode()).hexdigest()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _zero_sum_jitter(hours: int, seed: tuple[int, int]) -> np.ndarray:
    """Per hour, twelve values in [-1, 1] that sum to exactly zero (the hour's mean is kept)."""
    rng = np.random.default_rng(list(seed))
    noise = rng.normal(0.0, 1.0, (hours, BUCKETS_PER_HOUR))
    noise -= noise.mean(axis=1, keepdims=True)
    scale = np.abs(noise).max(axis=1, keepdims=True)
    jitter: np.ndarray = np.divide(noise, scale, out=np.zeros_like(noise), where=scale > 0)
    return jitter
