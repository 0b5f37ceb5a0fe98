"""DCGM telemetry → the bill: each row's host resolved to the ResourceId its cloud bills.

Part of ``collect/gpu``, applied to the rows :mod:`gpuledger.collect.gpu.dcgm` builds. The
exporter labels a series with its Kubernetes node (``Hostname``) but not with the cloud instance,
so the instance comes from, in this order:

1. ``[telemetry.hosts]`` in the config (host → ResourceId). It wins: it is the operator's explicit
   word, for hosts without kube-state-metrics and for correcting a node whose provider id names no
   billed instance.
2. kube-state-metrics' ``kube_node_info{node, provider_id}`` for the node of that name in that
   bucket (node names are reused by new instances, so the mapping is per bucket), matched by the
   exact name, else, for a host no node is named like, by the first DNS label where exactly one
   node has it (``ip-10-0-1-2`` vs ``ip-10-0-1-2.ec2.internal``). The provider id is spelled as
   the billing export spells the instance:

   - ``aws:///<zone>/i-…`` → ``i-…`` (CUR ``line_item_resource_id``);
   - ``gce://<project>/<zone>/<name>`` → ``//compute.googleapis.com/projects/<project>/zones/
     <zone>/instances/<id>``, the export's ``resource.global_name``. It holds the numeric instance
     id, not the name the provider id carries, so it needs GKE's node annotation
     ``container.googleapis.com/instance_id``, which kube-state-metrics exports as
     ``kube_node_annotations`` when allowed to
     (``--metric-annotations-allowlist=nodes=[container.googleapis.com/instance_id]``); without
     it the host stays unjoined rather than joined to a name the bill never uses;
   - ``azure:///subscriptions/…/virtualMachines/<name>`` → the ARM resource id with Azure's
     spelling of the fixed segments (``resourceGroups``, ``Microsoft.Compute``…); an instance of a
     scale set → the scale set, which is what Azure bills.

Anything else keeps ``ResourceId`` null: the row is stored all the same, and ``status`` shows
its GPU-hours as telemetry with no billed instance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

import polars as pl

from gpuledger.config import ClusterConfig
from gpuledger.schema import Usage

NODE = "node"
PROVIDER_ID = "provider_id"
GCE_INSTANCE_ID = "gce_instance_id"
Labels = dict[str, tuple[str, ...]]  # a frame key → the series labels it may come from
NODE_LABELS: Final[Labels] = {NODE: ("node",), PROVIDER_ID: ("provider_id",)}
GCE_ID_LABELS: Final[Labels] = {
    NODE: ("node",),
    GCE_INSTANCE_ID: ("annotation_container_googleapis_com_instance_id",),
}

_AWS: Final = re.compile(r"^aws:///?(?:[^/]*/)?(i-[0-9a-f]+)$")
_GCE: Final = re.compile(r"^gce://([^/]+)/([^/]+)/([^/]+)$")
_AZURE: Final = re.compile(
    r"^azure:///subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.compute/"
    r"(?:virtualmachinescalesets/([^/]+)(?:/virtualmachines/[^/]+)?|virtualmachines/([^/]+))$",
    re.IGNORECASE,
)


def node_queries(bucket_seconds: int) -> dict[str, tuple[str, Labels]]:
    """PromQL (and the labels it keeps) for each node's provider id and GCE instance id."""
    w = f"{bucket_seconds}s"
    return {
        PROVIDER_ID: (
            f"max by (node, provider_id) (max_over_time(kube_node_info[{w}]))",
            NODE_LABELS,
        ),
        GCE_INSTANCE_ID: (
            "max by (node, annotation_container_googleapis_com_instance_id)"
            f" (max_over_time(kube_node_annotations[{w}]))",
            GCE_ID_LABELS,
        ),
    }


def billed_resource_id(provider_id: str, gce_instance_id: str | None = None) -> str | None:
    """The bill's ResourceId for a Kubernetes provider id; None when the bill cannot be named."""
    if found := _AWS.match(provider_id):
        return found.group(1)
    if found := _GCE.match(provider_id):
        if not gce_instance_id or not gce_instance_id.isdigit():
            return None
        project, zone, _name = found.groups()
        return (
            f"//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{gce_instance_id}"
        )
    if found := _AZURE.match(provider_id):
        subscription, group, scale_set, machine = found.groups()
        prefix = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute"
        if scale_set:
            return f"{prefix}/virtualMachineScaleSets/{scale_set}"
        return f"{prefix}/virtualMachines/{machine}"
    return None


def node_resource_ids(providers: pl.DataFrame, gce_ids: pl.DataFrame) -> pl.DataFrame:
    """One ResourceId per (node, bucket) from the two queries' long frames (``bucket_epoch``);
    null for a node whose provider id names no billed instance.

    A node with two provider ids in one bucket (replaced mid-bucket) keeps the smaller id, so a
    re-ingest resolves it the same way.
    """
    keys = [NODE, "bucket_epoch"]
    instance = gce_ids.group_by(keys).agg(pl.col(GCE_INSTANCE_ID).min())
    pairs = providers.select(*keys, PROVIDER_ID).join(instance, on=keys, how="left")
    distinct = pairs.select(PROVIDER_ID, GCE_INSTANCE_ID).unique()
    spelled = distinct.with_columns(  # parsed once per distinct id, not once per bucket
        pl.Series(
            Usage.ResourceId,
            [billed_resource_id(p, g) for p, g in distinct.iter_rows()],
            dtype=pl.String,
        )
    )
    return (
        pairs.join(spelled, on=[PROVIDER_ID, GCE_INSTANCE_ID], how="left", nulls_equal=True)
        .group_by(keys)
        .agg(pl.col(Usage.ResourceId).min())
        .select(
            NODE,
            pl.from_epoch("bucket_epoch", time_unit="s")
            .dt.replace_time_zone("UTC")
            .dt.cast_time_unit("us")
            .alias(Usage.bucket_start),
            Usage.ResourceId,
        )
    )


def attach_resource_ids(
    usage: pl.DataFrame, nodes: pl.DataFrame, hosts: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """``usage`` with ``ResourceId`` filled from ``hosts``, else from ``nodes`` (module docstring).

    A host named like a node takes that node's id even when it is null; the short name is tried
    only for hosts that no node is named like. Rows whose host resolves to nothing keep their
    ``ResourceId`` (null from DCGM); none is dropped.
    """
    short = "_short"
    exact = nodes.select(
        pl.col(NODE).alias(Usage.host),
        Usage.bucket_start,
        pl.col(Usage.ResourceId).alias("_by_node"),
        pl.lit(True).alias("_named"),
    )
    unique_short = (
        nodes.with_columns(_first_label(NODE).alias(short))
        .group_by(short, Usage.bucket_start)
        .agg(pl.col(Usage.ResourceId).first().alias("_by_short"), pl.col(NODE).n_unique())
        .filter(pl.col(NODE) == 1)
        .drop(NODE)
    )
    configured = (
        pl.col(Usage.host).replace_strict(dict(hosts), default=None, return_dtype=pl.String)
        if hosts
        else pl.lit(None, pl.String)
    )
    return (
        usage.with_columns(_first_label(Usage.host).alias(short))
        .join(exact, on=[Usage.host, Usage.bucket_start], how="left", maintain_order="left")
        .join(unique_short, on=[short, Usage.bucket_start], how="left", maintain_order="left")
        .with_columns(
            pl.coalesce(
                configured,
                pl.when(pl.col("_named")).then("_by_node").otherwise("_by_short"),
                pl.col(Usage.ResourceId),
            ).alias(Usage.ResourceId)
        )
        .select(usage.columns)
    )


def with_cluster_resource_ids(
    usage: pl.DataFrame, clusters: Sequence[ClusterConfig]
) -> pl.DataFrame:
    """``usage`` where a row of an on-prem cluster's host without ``ResourceId`` takes the host
    name: on-prem hosts have no cloud instance id, and ``ingest onprem`` bills them by name."""
    named = [host for cluster in clusters for host in cluster.hosts]
    patterns = [cluster.host_pattern for cluster in clusters if cluster.host_pattern]
    if not named and not patterns:
        return usage
    on_prem = pl.col(Usage.host).is_in(named)
    for pattern in patterns:
        on_prem = on_prem | pl.col(Usage.host).str.contains(f"^(?:{pattern})$")
    return usage.with_columns(
        pl.when(pl.col(Usage.ResourceId).is_null() & on_prem)
        .then(pl.col(Usage.host))
        .otherwise(pl.col(Usage.ResourceId))
        .alias(Usage.ResourceId)
    )


def _first_label(column: str) -> pl.Expr:
    return pl.col(column).str.split(".").list.first()
