"""The sample company's on-prem cluster agrees with the packaged config's ``[[clusters]]``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from gpuledger.config import load_settings
from gpuledger.sample.company import build_company
from gpuledger.sample.gpu_telemetry import gpu_usage_rows
from gpuledger.schema import Usage


def test_the_packaged_cluster_describes_the_sample_hosts() -> None:
    config = Path(str(resources.files("gpuledger") / "data" / "gpuledger.toml"))
    (cluster,) = load_settings(config).clusters
    company = build_company(1, 7)
    hosts = company.onprem_hosts

    assert cluster.hosts == hosts["host"].to_list()
    assert {cluster.gpu_model} == set(hosts["gpu_model"])
    assert {cluster.gpus_per_host} == set(hosts["gpu_count"])
    assert cluster.team in set(company.teams["team"])


def test_sample_telemetry_names_the_hosts_and_reports_power_with_spare_capacity() -> None:
    rows = gpu_usage_rows(build_company(1, 7))
    onprem = rows.filter(pl.col(Usage.host).str.starts_with("dgx-"))

    assert set(onprem[Usage.ResourceId]) == set(onprem[Usage.host]) == {"dgx-a01", "dgx-a02"}
    assert onprem[Usage.power_w].null_count() == 0
    busy = onprem.group_by(Usage.host).agg(pl.col(Usage.team).is_not_null().mean()).sort(Usage.host)
    assert busy[Usage.team].to_list()[0] > 0.9  # dgx-a01 pretrains around the clock
    assert busy[Usage.team].to_list()[1] < 0.5  # dgx-a02 idles outside office hours
