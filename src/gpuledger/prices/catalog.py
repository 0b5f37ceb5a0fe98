"""The bundled GPU catalog: instance type or SKU → GPU model, count and memory.

Collectors attach these facts to cost rows when the source does not carry them; the engine and the
recommendations read GPU memory from here. The data lives in ``data/gpu_catalog.csv``.

Provider names are FOCUS ``ProviderName`` values (``AWS``, ``GCP``, ``Microsoft``). SageMaker's
``ml.<type>`` instances are EC2 types underneath and are looked up without the prefix.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import polars as pl

from gpuledger.schema import Cost

_ML_PREFIX = re.compile(r"^ml\.")


@cache
def gpu_catalog() -> pl.DataFrame:
    """The catalog as a frame: provider, instance_type, gpu_model, gpu_count, gpu_memory_gib…"""
    path = resources.files("gpuledger") / "data" / "gpu_catalog.csv"
    with path.open("rb") as handle:
        return pl.read_csv(
            handle.read(),
            schema_overrides={"gpu_count": pl.Int32, "gpu_memory_gib": pl.Float64},
        )


def normalize_instance_type(instance_type: pl.Expr) -> pl.Expr:
    """Strip SageMaker's ``ml.`` prefix; leave anything else as it is."""
    return instance_type.str.replace(_ML_PREFIX.pattern, "")


def attach_gpu_facts(costs: pl.LazyFrame) -> pl.LazyFrame:
    """Fill ``x_GpuModel``, ``x_GpuCount`` and ``x_AcceleratorKind`` from the catalog.

    Matches on (``ProviderName``, ``x_InstanceType``); values the source already supplied win.
    """
    catalog = (
        gpu_catalog()
        .lazy()
        .select(
            pl.col("provider").alias("_provider"),
            pl.col("instance_type").alias("_instance_type"),
            pl.col("gpu_model").alias("_gpu_model"),
            pl.col("gpu_count").alias("_gpu_count"),
            pl.col("accelerator_kind").alias("_accelerator_kind"),
        )
    )
    return (
        costs.with_columns(
            normalize_instance_type(pl.col(Cost.x_InstanceType)).alias("_instance_type"),
            pl.col(Cost.ProviderName).alias("_provider"),
        )
        .join(catalog, on=["_provider", "_instance_type"], how="left")
        .with_columns(
            pl.coalesce(Cost.x_GpuModel, "_gpu_model").alias(Cost.x_GpuModel),
            pl.coalesce(Cost.x_GpuCount, "_gpu_count").cast(pl.Int32).alias(Cost.x_GpuCount),
            pl.coalesce(Cost.x_AcceleratorKind, "_accelerator_kind").alias(Cost.x_AcceleratorKind),
        )
        .drop("_provider", "_instance_type", "_gpu_model", "_gpu_count", "_accelerator_kind")
    )


def gpu_memory_gib(gpu_model: str) -> float | None:
    """Memory of one GPU of this model, or None when the catalog does not know it."""
    rows = gpu_catalog().filter(pl.col("gpu_model") == gpu_model)
    return None if rows.is_empty() else float(rows["gpu_memory_gib"].max())  # type: ignore[arg-type]
