"""DCGM host → billed ResourceId: provider ids spelled as each bill spells the instance, the
``[telemetry.hosts]`` override, and rows that resolve to nothing kept with a null ResourceId."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.gpu.nodes import (
    GCE_INSTANCE_ID,
    NODE,
    PROVIDER_ID,
    attach_resource_ids,
    billed_resource_id,
    node_resource_ids,
)
from gpuledger.config import load_settings
from gpuledger.errors import ConfigError
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage

START = datetime(2026, 10, 1, tzinfo=UTC)
EPOCH = int(START.timestamp())
AZURE_VM = (
    "/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/rg-gpu"
    "/providers/Microsoft.Compute/virtualMachines/vm-a100-1"
)
AZURE_SCALE_SET = (
    "/subscriptions/33333333-3333-4333-8333-333333333333/resourceGroups/mc_aks_eastus"
    "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-gpu-12345678-vmss"
)
GCE = (
    "//compute.googleapis.com/projects/nlp-train/zones/us-central1-a/instances/4412000000000000001"
)


@pytest.mark.parametrize(
    ("provider_id", "gce_instance_id", "expected"),
    [
        ("aws:///us-east-1a/i-0abc1234def567890", None, "i-0abc1234def567890"),
        ("aws://us-east-1a/i-0abc1234def567890", None, "i-0abc1234def567890"),
        ("aws:///i-0abc1234def567890", None, "i-0abc1234def567890"),
        ("aws:///us-east-1a/fargate-ip-10-0-1-2", None, None),
        ("gce://nlp-train/us-central1-a/gke-train-pool-1-abcd", "4412000000000000001", GCE),
        ("gce://nlp-train/us-central1-a/gke-train-pool-1-abcd", None, None),
        ("gce://nlp-train/us-central1-a/gke-train-pool-1-abcd", "gke-train", None),
        (f"azure://{AZURE_VM}", None, AZURE_VM),
        (f"azure://{AZURE_VM.lower()}", None, AZURE_VM),  # fixed segments in Azure's spelling
        (f"azure://{AZURE_SCALE_SET}/virtualMachines/3", None, AZURE_SCALE_SET),
        ("kind://docker/kind/kind-worker", None, None),
        ("", None, None),
    ],
    ids=[
        "aws",
        "aws-two-slashes",
        "aws-no-zone",
        "aws-fargate",
        "gce-with-instance-id",
        "gce-without-instance-id",
        "gce-bad-instance-id",
        "azure-vm",
        "azure-vm-lower-case",
        "azure-scale-set-instance",
        "kind",
        "empty",
    ],
)
def test_provider_id_is_spelled_as_the_bill(
    provider_id: str, gce_instance_id: str | None, expected: str | None
) -> None:
    assert billed_resource_id(provider_id, gce_instance_id) == expected


def _long(rows: list[tuple[str, int, str]], value: str) -> pl.DataFrame:
    """A node query's long frame: (node, bucket index, label value)."""
    return pl.DataFrame(
        {
            NODE: [node for node, _, _ in rows],
            "bucket_epoch": [EPOCH + 300 * bucket for _, bucket, _ in rows],
            value: [text for _, _, text in rows],
        },
        schema={NODE: pl.String, "bucket_epoch": pl.Int64, value: pl.String},
    )


def _usage(hosts: list[tuple[str | None, int]]) -> pl.DataFrame:
    """DCGM rows as dcgm.usage_rows leaves them: (host, bucket index), ResourceId null."""
    return pl.DataFrame(
        {
            Usage.bucket_start: [START + timedelta(seconds=300 * b) for _, b in hosts],
            Usage.host: [host for host, _ in hosts],
            Usage.gpu_uuid: [f"GPU-{i}" for i in range(len(hosts))],
        }
    ).with_columns(pl.lit(None, pl.String).alias(Usage.ResourceId))


NODES = node_resource_ids(
    _long(
        [
            ("ip-10-0-1-2.ec2.internal", 0, "aws:///us-east-1a/i-0aaa"),
            ("ip-10-0-1-2.ec2.internal", 1, "aws:///us-east-1a/i-0bbb"),  # node name reused
            ("gke-pool-1", 0, "gce://nlp-train/us-central1-a/gke-pool-1"),
            ("gke-pool-2", 0, "gce://nlp-train/us-central1-a/gke-pool-2"),
            ("gke-pool-2.example", 0, "aws:///us-east-1a/i-0eee"),  # same short name
            ("twin.a.internal", 0, "aws:///us-east-1a/i-0ccc"),
            ("twin.b.internal", 0, "aws:///us-east-1a/i-0ddd"),
        ],
        PROVIDER_ID,
    ),
    _long([("gke-pool-1", 0, "4412000000000000001")], GCE_INSTANCE_ID),
)


def test_nodes_resolve_per_bucket() -> None:
    later = START + timedelta(seconds=300)
    expected = pl.DataFrame(
        [
            ("gke-pool-1", START, GCE),
            ("gke-pool-2", START, None),  # no instance-id annotation: no billed name
            ("gke-pool-2.example", START, "i-0eee"),
            ("ip-10-0-1-2.ec2.internal", START, "i-0aaa"),
            ("ip-10-0-1-2.ec2.internal", later, "i-0bbb"),
            ("twin.a.internal", START, "i-0ccc"),
            ("twin.b.internal", START, "i-0ddd"),
        ],
        schema={
            NODE: pl.String,
            Usage.bucket_start: GPU_USAGE_SCHEMA[Usage.bucket_start],
            Usage.ResourceId: pl.String,
        },
        orient="row",
    )
    assert_frame_equal(NODES.sort(NODE, Usage.bucket_start), expected)


def test_hosts_join_by_node_name_then_by_unique_short_name() -> None:
    usage = _usage(
        [
            ("ip-10-0-1-2.ec2.internal", 0),
            ("ip-10-0-1-2.ec2.internal", 1),
            ("ip-10-0-1-2", 1),  # the exporter's short host name
            ("gke-pool-1", 0),
            ("gke-pool-2", 0),  # its node has no billed name: no guess from gke-pool-2.example
            ("twin", 0),  # two nodes share the short name: ambiguous, not guessed
            ("gpu-box-7", 0),  # no kube_node_info
            (None, 0),
        ]
    )
    got = attach_resource_ids(usage, NODES)
    assert got.columns == usage.columns
    assert got.get_column(Usage.gpu_uuid).to_list() == usage.get_column(Usage.gpu_uuid).to_list()
    assert got.get_column(Usage.ResourceId).to_list() == [
        "i-0aaa",
        "i-0bbb",
        "i-0bbb",
        GCE,
        None,
        None,
        None,
        None,
    ]


def test_configured_hosts_win_over_kube_node_info() -> None:
    usage = _usage([("ip-10-0-1-2.ec2.internal", 0), ("gpu-box-7", 0), ("gke-pool-1", 0)])
    hosts = {"ip-10-0-1-2.ec2.internal": "i-0override", "gpu-box-7": "i-0box"}
    got = attach_resource_ids(usage, NODES, hosts).get_column(Usage.ResourceId).to_list()
    assert got == ["i-0override", "i-0box", GCE]


def test_no_nodes_and_no_hosts_leave_rows_unjoined_and_kept() -> None:
    usage = _usage([("gpu-box-7", 0), ("gpu-box-8", 1)])
    empty = node_resource_ids(_long([], PROVIDER_ID), _long([], GCE_INSTANCE_ID))
    got = attach_resource_ids(usage, empty, {})
    assert_frame_equal(got, usage)


def test_telemetry_hosts_table_loads_and_rejects_bad_entries(tmp_path: Path) -> None:
    path = tmp_path / "gpuledger.toml"
    path.write_text('[telemetry.hosts]\n"gpu-box-7" = "i-0box"\n')
    assert load_settings(path).telemetry.hosts == {"gpu-box-7": "i-0box"}
    path.write_text('[telemetry.hosts]\n"gpu-box-7" = ""\n')
    with pytest.raises(ConfigError, match=r"telemetry\.hosts\.gpu-box-7: String should have"):
        load_settings(path)
    path.write_text("[telemetry]\nhost = {}\n")
    with pytest.raises(ConfigError, match=r":2: telemetry\.host: unknown key"):
        load_settings(path)
