"""On-prem telemetry: a cluster's hosts in a month, and the energy their GPUs drew per host-hour.

Part of ``collect/onprem``; pure functions over a month's ``gpu_usage`` rows.

Every ``gpu_usage`` row of a (GPU, bucket) repeats the GPU's mean power over the bucket, once
per workload it ran; a MIG slice reports its parent's. So a physical GPU's bucket
(``coalesce(parent_gpu_uuid, gpu_uuid)``, ``bucket_start``) draws the samples-weighted mean of
its rows' ``power_w`` for ``bucket_seconds``, counted once whatever the rows and sources. A bucket
counts in the hour its ``bucket_start`` falls in, as attribution counts it.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from gpuledger.collect.onprem.costs import cluster_error
from gpuledger.config import ClusterConfig
from gpuledger.period import Period
from gpuledger.schema import Usage

HOUR: Final = "hour"
KWH: Final = "kwh"
_GPU: Final = "_gpu"
_JOULES_PER_KWH: Final = 3.6e6


def cluster_hosts(cluster: ClusterConfig, usage: pl.LazyFrame, period: Period) -> dict[str, str]:
    """Host → the ResourceId its cost rows carry, for every host of the cluster in ``period``.

    The hosts are ``hosts`` plus those of the month's telemetry that ``host_pattern`` matches
    whole. A host's ResourceId is the one its telemetry carries (the agent's ``--resource-id``,
    ``[telemetry.hosts]``), else the host name, so attribution meets the two.
    """
    seen = (
        usage.filter(pl.col(Usage.host).is_not_null())
        .group_by(Usage.host)
        .agg(pl.col(Usage.ResourceId).drop_nulls().min())
        .collect()
    )
    carried = {str(host): rid for host, rid in seen.iter_rows()}
    wanted = set(cluster.hosts)
    if cluster.host_pattern is not None:
        pattern = re.compile(cluster.host_pattern)
        wanted |= {host for host in carried if pattern.fullmatch(host)}
    if not wanted:
        raise cluster_error(
            cluster,
            "hosts" if cluster.host_pattern is None else "host_pattern",
            f"no host of the cluster in {period}",
            "a list of host names, or a host_pattern matching hosts of the month's GPU telemetry",
        )
    return {host: carried.get(host) or host for host in sorted(wanted)}


def host_hour_kwh(usage: pl.LazyFrame, hosts: list[str]) -> pl.DataFrame:
    """(host, hour, kWh) of every host-hour of ``hosts`` with at least one power reading."""
    weight = pl.col(Usage.samples).cast(pl.Float64).fill_null(1.0).clip(lower_bound=1.0)
    return (
        usage.filter(pl.col(Usage.host).is_in(hosts) & pl.col(Usage.power_w).is_not_null())
        .with_columns(pl.coalesce(Usage.parent_gpu_uuid, Usage.gpu_uuid).alias(_GPU))
        .group_by(Usage.host, _GPU, Usage.bucket_start, Usage.bucket_seconds)
        .agg(((pl.col(Usage.power_w) * weight).sum() / weight.sum()).alias(Usage.power_w))
        .group_by(Usage.host, pl.col(Usage.bucket_start).dt.truncate("1h").alias(HOUR))
        .agg(
            ((pl.col(Usage.power_w) * pl.col(Usage.bucket_seconds)).sum() / _JOULES_PER_KWH).alias(
                KWH
            )
        )
        .sort(Usage.host, HOUR)
        .collect()
    )
