"""GCP SKU descriptions → catalog keys, and the services' FOCUS categories."""

from __future__ import annotations

import polars as pl
import pytest

from gpuledger.collect.gcp.skus import gpu_sku_key, label_value, service_category
from gpuledger.prices.catalog import gpu_catalog

CASES = [
    ("Nvidia Tesla T4 GPU running in Americas", "nvidia-tesla-t4"),
    ("Spot Preemptible Nvidia L4 GPU running in EMEA", "nvidia-l4"),
    ("Nvidia H100 80GB Mega GPU running in Americas", "nvidia-h100-80gb"),
    ("Nvidia H100 80GB GPU running in Americas", "nvidia-h100-80gb"),
    ("Nvidia A100 80GB GPU running in Americas", "nvidia-a100-80gb"),
    ("Nvidia Tesla A100 GPU running in Americas", "nvidia-tesla-a100"),
    ("Nvidia Tesla V100 GPU running in APAC", "nvidia-tesla-v100"),
    ("Preemptible Nvidia Tesla P100 GPU running in Americas", "nvidia-tesla-p100"),
    ("Nvidia Tesla P4 GPU running in Americas", "nvidia-tesla-p4"),
    ("TPU v5e chip running in Americas", "tpu-v5e"),
    ("TPU v5p chip running in Americas", "tpu-v5p"),
    ("Tpu-v4 Pod running in Americas", "tpu-v4"),
    ("Commitment v1: Nvidia Tesla A100 GPU in Americas for 1 Year", None),
    ("A2 Instance Core running in Americas", None),
    ("N1 Predefined Instance Ram running in Americas", None),
]


@pytest.mark.parametrize(("description", "key"), CASES, ids=[c[0] for c in CASES])
def test_gpu_sku_descriptions_map_to_catalog_keys(description: str, key: str | None) -> None:
    got = pl.select(gpu_sku_key(pl.lit(description))).item()

    assert got == key
    if key is not None:
        catalog = gpu_catalog().filter(
            (pl.col("provider") == "GCP") & (pl.col("instance_type") == key)
        )
        assert catalog.height == 1


def test_tpu_skus_are_accelerators_of_kind_tpu() -> None:
    kinds = gpu_catalog().filter(pl.col("instance_type").str.starts_with("tpu-"))

    assert set(kinds.get_column("accelerator_kind")) == {"tpu"}


@pytest.mark.parametrize(
    ("service", "category"),
    [("Compute Engine", "Compute"), ("Vertex AI", "AI and Machine Learning"),
     ("Cloud Storage", "Storage"), ("BigQuery", "Analytics"), ("Something New", "Other")],
    ids=["compute", "vertex", "storage", "bigquery", "unknown"],
)  # fmt: skip
def test_service_categories(service: str, category: str) -> None:
    assert pl.select(service_category(pl.lit(service))).item() == category


def test_label_value_finds_one_key_in_a_label_list() -> None:
    labels = pl.Series(
        [[{"key": "a", "value": "1"}, {"key": "compute.googleapis.com/machine_spec", "value": "x"}]]
    )
    frame = pl.DataFrame({"labels": labels})

    got = frame.select(label_value(pl.col("labels"), "compute.googleapis.com/machine_spec")).item()

    assert got == "x"
