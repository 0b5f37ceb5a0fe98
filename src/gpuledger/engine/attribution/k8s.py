"""Kubernetes cost lines → rows the owner rules read: EKS split cost allocation, GKE labels.

GKE's billing export already splits a node's cost by namespace: its rows carry the labels
``k8s-namespace`` (``kube:unallocated`` for the node capacity no pod requested,
``kube:system-overhead`` for the kubelet's reserve) and ``k8s-label/<key>`` for the pod labels.

EKS's CUR 2.0 does not: the EC2 instance line keeps the whole cost, and split lines — one per pod
and hour, ``line_item_resource_id`` the pod, cost 0 — carry the pod's share
(``x_SplitCost``) and its share of the instance's unused capacity (``x_SplitUnusedCost``).
:func:`split_eks_pods` moves the money: each row billing an instance-hour that has split lines
is replaced by pieces, one per pod, worth ``row × split / total``, and the unused capacity,
``row × unused / total``, where ``total`` is the sum of the hour's split and unused costs (so the
pieces add up to the row whatever the cost basis, exactly: :func:`~.money.settle`). A pod's piece
gets the instance row's columns, the instance as its ``x_ParentResourceId`` (a piece is never
split again), and the pod line's tags instead of the node's (a node tagged with the platform
team that runs it must not claim its pods), with GKE's spelling added: ``k8s-namespace`` and
``k8s-pod`` tags (origin ``k8s``), so one set of rules reads both clouds.
The unused capacity is tagged ``k8s-unused``; under ``[reporting] idle = "shared"`` it stays
with each pod (AWS's split of it, in proportion to the pod's use), otherwise it is one piece per
row with the instance's tags, so that the instance's owner rules see it. Split lines worth
0 (all of them, in CUR 2.0) are dropped; an instance-hour whose split costs add up to 0 is left
whole. Running the function twice changes nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Final

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.attribution.money import AMOUNT, COST, PART, settle
from gpuledger.schema import MONEY, TAG, Cost

NAMESPACE_TAG: Final = "k8s-namespace"
POD_TAG: Final = "k8s-pod"
LABEL_PREFIX: Final = "k8s-label/"
UNUSED_TAG: Final = "k8s-unused"
UNUSED_NAMESPACES: Final = ("kube:unallocated",)  # GKE: node capacity no pod requested
ORIGIN: Final = "k8s"

_MONEY_COLUMNS: Final = (Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost)
_ROW: Final = "_k8s_row"
_PIECE: Final = "_k8s_piece"
_SHARE: Final = "_k8s_share"
_EXTRA: Final = "_k8s_tags"
_HOUR_KEY: Final = ("_parent", "_hour")


def namespace_teams(settings: Settings, namespaces: Sequence[str]) -> dict[str, str]:
    """Namespace → the first team (in config order) whose ``namespaces`` globs match it."""
    owners: dict[str, str] = {}
    for namespace in namespaces:
        for team, team_config in settings.teams.items():
            if any(fnmatchcase(namespace, pattern) for pattern in team_config.namespaces):
                owners[namespace] = team
                break
    return owners


def split_eks_pods(cost: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """``cost`` with EKS instance rows split over their pods (module docstring)."""
    is_pod = pl.col(Cost.x_ParentResourceId).is_not_null() & pl.col(Cost.x_K8sPod).is_not_null()
    pods = (
        cost.filter(is_pod)
        .select(
            pl.col(Cost.x_ParentResourceId).alias("_parent"),
            pl.col(Cost.ChargePeriodStart).alias("_hour"),
            Cost.x_K8sNamespace,
            Cost.x_K8sPod,
            pl.col(Cost.x_SplitCost).fill_null(0).cast(pl.Float64).alias("_split"),
            pl.col(Cost.x_SplitUnusedCost).fill_null(0).cast(pl.Float64).alias("_unused"),
            pl.col(Cost.Tags).alias("_pod_tags"),
        )
        .collect()
    )
    if pods.is_empty():
        return cost
    pieces = _pieces(pods, shared=settings.reporting.idle == "shared")
    columns = cost.collect_schema().names()
    hours = pieces.select(
        pl.col("_parent").alias(Cost.ResourceId), pl.col("_hour").alias(Cost.ChargePeriodStart)
    ).unique()
    key = [Cost.ResourceId, Cost.ChargePeriodStart]
    instance = cost.filter(pl.col(Cost.x_ParentResourceId).is_null())
    split_rows = (
        instance.join(hours.lazy(), on=key, how="semi", maintain_order="left")
        .with_row_index(_ROW)
        .collect()
    )
    kept = pl.concat(
        [
            instance.join(hours.lazy(), on=key, how="anti", maintain_order="left"),
            cost.filter(
                pl.col(Cost.x_ParentResourceId).is_not_null() & ~(is_pod & _worth_nothing())
            ),
        ],
        how="vertical",
    )
    return pl.concat([kept.select(columns), _split(split_rows, pieces, columns).lazy()])


def _worth_nothing() -> pl.Expr:
    """Whether a row's every money column is 0 or null (a CUR 2.0 split line always is)."""
    return pl.all_horizontal(pl.col(c).fill_null(0) == 0 for c in _MONEY_COLUMNS)


def _pieces(pods: pl.DataFrame, *, shared: bool) -> pl.DataFrame:
    """Per instance-hour, its pieces: share of the hour's rows and the tags they add."""
    total = (pl.col("_split") + pl.col("_unused")).sum().over(_HOUR_KEY)
    pods = pods.with_columns(total.alias("_total")).filter(pl.col("_total") > 0)
    pod_tags = pl.concat_list(
        pl.col("_pod_tags").fill_null(pl.lit([], dtype=pl.List(TAG))),
        _tags(
            pl.concat_list(
                _tag(NAMESPACE_TAG, pl.col(Cost.x_K8sNamespace)),
                _tag(POD_TAG, pl.col(Cost.x_K8sPod)),
            )
        ),
    )
    used = pods.select(
        *_HOUR_KEY,
        (pl.col("_split") / pl.col("_total")).alias(_SHARE),
        pod_tags.alias(_EXTRA),
    )
    unused_tag = _tags(pl.concat_list(_tag(UNUSED_TAG, pl.lit("true"))))
    if shared:
        unused = pods.select(
            *_HOUR_KEY,
            (pl.col("_unused") / pl.col("_total")).alias(_SHARE),
            pl.concat_list(pod_tags, unused_tag).alias(_EXTRA),
        )
    else:
        unused = (
            pods.group_by(_HOUR_KEY)
            .agg((pl.col("_unused").sum() / pl.col("_total").first()).alias(_SHARE))
            .with_columns(unused_tag.alias(_EXTRA))
        )
    both = pl.concat([used, unused.select(used.columns)], how="vertical")
    return both.filter(pl.col(_SHARE) > 0).with_columns(
        pl.int_range(pl.len()).over(_HOUR_KEY).alias(_PIECE)
    )


def _tag(key: str, value: pl.Expr) -> pl.Expr:
    return pl.struct(
        pl.lit(key).alias("key"),
        value.cast(pl.String).alias("value"),
        pl.lit(ORIGIN).alias("origin"),
    )


def _tags(structs: pl.Expr) -> pl.Expr:
    """A list of tag structs without the entries whose value is null."""
    return structs.list.eval(pl.element().filter(pl.element().struct.field("value").is_not_null()))


def _split(rows: pl.DataFrame, pieces: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Each instance row × its hour's pieces, money settled exactly per row and column."""
    joined = rows.join(
        pieces,
        left_on=[Cost.ResourceId, Cost.ChargePeriodStart],
        right_on=list(_HOUR_KEY),
        how="inner",
    )
    for column in _MONEY_COLUMNS:
        settled = settle(
            joined.lazy()
            .filter(pl.col(column).is_not_null())
            .select(
                _ROW,
                _PIECE,
                pl.col(column).alias(AMOUNT),
                (pl.col(column).cast(pl.Float64) * pl.col(_SHARE)).alias(PART),
            ),
            [_ROW],
            [_PIECE],
        ).collect()
        joined = joined.drop(column).join(
            settled.select(_ROW, _PIECE, pl.col(COST).cast(MONEY).alias(column)),
            on=[_ROW, _PIECE],
            how="left",
        )
    pod = _tag_of(pl.col(_EXTRA), POD_TAG)
    instance_tags = pl.col(Cost.Tags).fill_null(pl.lit([], dtype=pl.List(TAG)))
    return joined.with_columns(
        pl.when(pod.is_not_null())
        .then(pl.col(_EXTRA))
        .otherwise(pl.concat_list(instance_tags, _EXTRA))
        .alias(Cost.Tags),
        pl.col(Cost.ResourceId).alias(Cost.x_ParentResourceId),
        _tag_of(pl.col(_EXTRA), NAMESPACE_TAG).alias(Cost.x_K8sNamespace),
        pod.alias(Cost.x_K8sPod),
    ).select(columns)


def _tag_of(tags: pl.Expr, key: str) -> pl.Expr:
    return tags.list.eval(
        pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
    ).list.first()
