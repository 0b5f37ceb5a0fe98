"""DCGM telemetry joined to the bill, end to end against a real Prometheus.

A fleet of three Kubernetes GPU hosts renders as DCGM-exporter series: an AWS node and a GKE node
that kube-state-metrics describes (``kube_node_info``; the GKE node's instance id from its
annotation), and a host it does not. Ingested, the two described hosts carry the ResourceIds
their bills use, attribution splits both instances' cost by telemetry to the cent, and the third
host is stored with a null ResourceId and shows up in ``status`` and the health page with its
GPU-hours — until ``[telemetry.hosts]`` names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.gpu import dcgm
from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.report.health import store_health
from gpuledger.report.readmodel.health import health_view
from gpuledger.schema import Alloc, Cost, Usage
from gpuledger.store.delta import Store
from tests.engine.attribute_helpers import PERIOD, START, cost, cost_frame
from tests.fakes.dcgm import Host, KubeNode, render_fleet, serving
from tests.fakes.nvml import GIB, Activity, FakeGpu

pytestmark = pytest.mark.slow

SECONDS = 3600
BUCKET = 300
AWS_NODE = "ip-10-0-1-2.ec2.internal"
GKE_NODE = "gke-train-pool-1-abcd"
LONE_HOST = "gpu-box-7"  # no kube-state-metrics for it
AWS_ID = "i-0a1b2c3d4e5f60001"
GCE_ID = (
    "//compute.googleapis.com/projects/nlp-train/zones/us-central1-a/instances/4412000000000000001"
)
AWS_COST = Decimal("98.32")
GCP_COST = Decimal("3.68")


def fleet() -> tuple[list[Host], list[KubeNode]]:
    """A pod 45 of 60 minutes on the AWS H100, 30 on the GKE A100, all hour on the lone L4."""
    h100 = FakeGpu("GPU-aws-h100", "NVIDIA H100 80GB HBM3", 80 * GIB)
    a100 = FakeGpu("GPU-gcp-a100", "NVIDIA A100-SXM4-80GB", 80 * GIB)
    l4 = FakeGpu("GPU-box-l4", "NVIDIA L4", 24 * GIB)
    hosts = [
        Host(
            AWS_NODE,
            [h100],
            [Activity(h100.uuid, 11, 0, 2700, 60, 30 * GIB, "nlp", "trainer-0", "trainer")],
            {"trainer-0": {"team": "nlp"}},
        ),
        Host(
            GKE_NODE,
            [a100],
            [Activity(a100.uuid, 21, 0, 1800, 40, 20 * GIB, "search", "ranker-0", "ranker")],
            {"ranker-0": {"team": "search"}},
        ),
        Host(
            LONE_HOST,
            [l4],
            [Activity(l4.uuid, 31, 0, SECONDS, 70, 8 * GIB, "vision", "batch-0", "batch")],
            {"batch-0": {"team": "vision"}},
        ),
    ]
    nodes = [
        KubeNode(AWS_NODE, f"aws:///us-east-1a/{AWS_ID}"),
        KubeNode(
            GKE_NODE,
            f"gce://nlp-train/us-central1-a/{GKE_NODE}",
            gce_instance_id="4412000000000000001",
        ),
    ]
    return hosts, nodes


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    hosts, nodes = fleet()
    text = render_fleet(hosts, nodes=nodes, epoch=START.timestamp(), seconds=SECONDS, scrape=15)
    with serving(text, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


WINDOW = {"start": START.isoformat(), "end": (START + timedelta(seconds=SECONDS)).isoformat()}


def bill(store: Store) -> None:
    """One GPU-hour of each joined instance, as the AWS and GCP collectors store it."""
    rows = [
        cost(ResourceId=AWS_ID, EffectiveCost=AWS_COST, x_GpuCount=1),
        cost(
            ResourceId=GCE_ID,
            EffectiveCost=GCP_COST,
            x_GpuCount=1,
            ProviderName="GCP",
            ServiceName="Compute Engine",
            SubAccountId="nlp-train",
            x_Source="gcp",
        ),
    ]
    store.replace_partitions(
        "cost", cost_frame(rows).collect(), [Cost.x_Source, Cost.x_BillingPeriod]
    )


def resource_by_host(store: Store) -> dict[str | None, set[str | None]]:
    frame = store.read("gpu_usage").group_by(Usage.host).agg(pl.col(Usage.ResourceId).unique())
    return {host: set(ids) for host, ids in frame.iter_rows()}


def rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Health rows with GPU-hours to the microhour (they are sums of float seconds)."""
    return [row | {"gpu_hours": round(row["gpu_hours"], 6)} for row in rows]


def test_kube_node_info_joins_dcgm_to_the_bill(prometheus: str, store: Store) -> None:
    gpu.ingest(store, Settings(), f"prometheus+{prometheus}", **WINDOW, bucket_seconds=BUCKET)
    assert resource_by_host(store) == {AWS_NODE: {AWS_ID}, GKE_NODE: {GCE_ID}, LONE_HOST: {None}}
    assert store.read("gpu_usage").height == 3 * SECONDS // BUCKET  # one GPU per host, no gaps

    bill(store)
    run_attribution(store, Settings(), PERIOD)
    allocation = store.read("allocation")
    for resource, amount, team, busy in [
        (AWS_ID, AWS_COST, "nlp", Decimal("0.75")),
        (GCE_ID, GCP_COST, "search", Decimal("0.5")),
    ]:
        rows = allocation.filter(pl.col(Alloc.ResourceId) == resource)
        by_telemetry = rows.filter(pl.col(Alloc.rule) == "telemetry")
        assert by_telemetry.get_column(Alloc.team).unique().to_list() == [team]
        assert round(by_telemetry.get_column(Alloc.cost).sum(), 2) == amount * busy
        assert round(rows.get_column(Alloc.cost).sum(), 2) == amount  # idle takes the rest


def test_unjoined_telemetry_is_kept_and_reported(prometheus: str, store: Store) -> None:
    gpu.ingest(store, Settings(), f"prometheus+{prometheus}", **WINDOW, bucket_seconds=BUCKET)
    lone = store.read("gpu_usage").filter(pl.col(Usage.host) == LONE_HOST)
    assert lone.height == SECONDS // BUCKET
    assert lone.get_column(Usage.ResourceId).null_count() == lone.height

    expected = [{"source": "dcgm", "host": LONE_HOST, "periods": PERIOD, "gpu_hours": 1.0}]
    assert rounded(store_health(store, Settings()).unbilled_telemetry) == expected
    assert rounded(health_view(store, Settings()).unbilled_telemetry.to_dicts()) == expected

    shown = CliRunner().invoke(app, ["--home", store.home, "status", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert rounded(json.loads(shown.output)["unbilled_telemetry"]) == expected
    table = CliRunner().invoke(app, ["--home", store.home, "status"], terminal_width=160)
    assert "Telemetry with no billed instance" in table.output
    assert "[telemetry.hosts]" in table.output
    assert LONE_HOST in table.output
    assert "1.00" in table.output


def test_telemetry_hosts_names_the_lone_host_and_wins(prometheus: str, store: Store) -> None:
    hosts = {LONE_HOST: "i-0b0c0000000000007", AWS_NODE: "i-0e0f0000000000009"}
    usage, _tokens = dcgm.read_prometheus(
        f"prometheus+{prometheus}", **WINDOW, bucket_seconds=BUCKET, hosts=hosts
    )
    gpu.store_usage(store, usage)
    assert resource_by_host(store) == {
        AWS_NODE: {"i-0e0f0000000000009"},  # the config wins over kube_node_info
        GKE_NODE: {GCE_ID},
        LONE_HOST: {"i-0b0c0000000000007"},
    }
    assert store_health(store, Settings()).unbilled_telemetry == []
