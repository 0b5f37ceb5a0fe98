"""Telemetry of on-prem hosts carries no cloud instance id: ingest names the resource by the host."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gpuledger.collect import gpu
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage
from gpuledger.store.delta import Store
from tests.onprem.clusters import dgx, power_buckets, usage, with_clusters


def _agent_file(tmp_path: Path, host: str) -> Path:
    rows = usage(power_buckets(host, team="nlp"))
    rows = rows.with_columns(pl.lit(None, pl.String).alias(Usage.ResourceId))
    file = tmp_path / "in" / f"gpu_usage-{host}.parquet"
    file.parent.mkdir(exist_ok=True)
    rows.select(GPU_USAGE_SCHEMA.keys() & set(rows.columns)).write_parquet(file)
    return file


def test_a_cluster_host_without_instance_id_is_its_own_resource(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    _agent_file(tmp_path, "dgx-01")
    _agent_file(tmp_path, "laptop-7")
    settings = with_clusters(dgx(hosts=["dgx-01"]))

    gpu.ingest(store, settings, str(tmp_path / "in"))

    ids = store.read("gpu_usage").group_by(Usage.host).agg(pl.col(Usage.ResourceId).unique())
    by_host = dict(zip(ids[Usage.host], ids[Usage.ResourceId].to_list(), strict=True))
    assert by_host == {"dgx-01": ["dgx-01"], "laptop-7": [None]}


def test_a_host_pattern_names_the_resource_too(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    _agent_file(tmp_path, "dgx-02")
    settings = with_clusters(dgx(hosts=[], host_pattern=r"dgx-\d+"))

    gpu.ingest(store, settings, str(tmp_path / "in"))

    assert store.read("gpu_usage")[Usage.ResourceId].unique().to_list() == ["dgx-02"]
