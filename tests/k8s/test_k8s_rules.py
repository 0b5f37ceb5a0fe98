"""Kubernetes namespaces and pod labels name teams; a node's unused capacity follows the idle policy.

Hand-computed cases: GKE rows carry ``k8s-namespace`` / ``k8s-label/*`` labels; EKS instance rows
are split over their pods' split lines first (:func:`split_eks_pods`), then the same rules apply.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import attribute
from gpuledger.engine.attribution.k8s import split_eks_pods
from gpuledger.schema import Cost
from tests.engine.attribute_helpers import (
    PERIOD,
    by_label,
    cost,
    cost_frame,
    expected,
    tags,
    usage_frame,
)

D = Decimal
TEAMS: dict[str, Any] = {
    "nlp": {"namespaces": ["nlp-*"]},
    "vision": {"aliases": ["cv"], "namespaces": ["vision", "cv-*"]},
    "ml-platform": {"accounts": ["acct-platform"]},
    "speech": {},
}


def settings(idle: str = "owner") -> Settings:
    return Settings.model_validate({"teams": TEAMS, "reporting": {"idle": idle}})


def gke(amount: str, **labels: str) -> dict[str, Any]:
    """A GKE row: its labels as the export gives them (``k8s_label__team`` → ``k8s-label/team``)."""
    pairs = [
        {"key": k.replace("__", "/").replace("_", "-"), "value": v, "origin": "resource"}
        for k, v in labels.items()
    ]
    return cost(SubAccountId="acct-platform", EffectiveCost=D(amount), Tags=pairs)


def allocate(costs: list[dict[str, Any]], chosen: Settings) -> pl.DataFrame:
    frame = split_eks_pods(cost_frame(costs), chosen)
    return by_label(attribute(frame, usage_frame([]), chosen, PERIOD).collect())


GKE_CASES: dict[str, tuple[list[dict[str, Any]], Settings, pl.DataFrame]] = {
    # nlp-* matches nlp-train: $10 to nlp, the namespace as workload.
    "namespace-glob": (
        [gke("10", k8s_namespace="nlp-train")],
        settings(),
        expected(("nlp", "(unlabelled)", "nlp-train", "usage", "k8s:namespace", "10")),
    ),
    # The pod's team label wins over its namespace; its model label is the model.
    "pod-label-before-namespace": (
        [gke("10", k8s_namespace="nlp-train", k8s_label__team="CV", k8s_label__model="vit")],
        settings(),
        expected(("vision", "vit", "nlp-train", "usage", "k8s:label", "10")),
    ),
    # An explicit team tag on the row wins over Kubernetes.
    "team-tag-first": (
        [gke("10", team="speech", k8s_namespace="nlp-train")],
        settings(),
        expected(("speech", "(unlabelled)", "nlp-train", "usage", "tag:team", "10")),
    ),
    # Kubernetes wins over the account map (acct-platform → ml-platform).
    "before-account-map": (
        [gke("10", k8s_namespace="cv-serving")],
        settings(),
        expected(("vision", "(unlabelled)", "cv-serving", "usage", "k8s:namespace", "10")),
    ),
    # A namespace no team claims falls through to the account map.
    "unclaimed-namespace": (
        [gke("10", k8s_namespace="default")],
        settings(),
        expected(("ml-platform", "(unlabelled)", "default", "usage", "account-map", "10")),
    ),
    # GKE's unallocated node capacity is idle: the owner's by default...
    "unallocated-capacity-to-owner": (
        [gke("4", k8s_namespace="kube:unallocated"), gke("6", k8s_namespace="nlp-a")],
        settings(),
        expected(
            ("ml-platform", "(idle)", None, "idle", "idle:owner", "4"),
            ("nlp", "(unlabelled)", "nlp-a", "usage", "k8s:namespace", "6"),
        ),
    ),
    # ...and (unallocated) under idle = "unallocated".
    "unallocated-capacity-unallocated": (
        [gke("4", k8s_namespace="kube:unallocated")],
        settings("unallocated"),
        expected(("(unallocated)", "(idle)", None, "idle", "idle:unallocated", "4")),
    ),
}


@pytest.mark.parametrize(("costs", "chosen", "want"), GKE_CASES.values(), ids=GKE_CASES.keys())
def test_gke_labels(costs: list[dict[str, Any]], chosen: Settings, want: pl.DataFrame) -> None:
    assert_frame_equal(allocate(costs, chosen), want)


def pod(namespace: str, name: str, split: str, unused: str, **fields: Any) -> dict[str, Any]:
    """An EKS split line: worth 0 itself, its pod's split and unused cost of instance i-1."""
    return cost(
        ResourceId=f"arn:aws:eks:us-east-1:111:pod/prod/{namespace}/{name}/uid-{name}",
        x_ParentResourceId="i-1",
        x_K8sNamespace=namespace,
        x_K8sPod=name,
        x_SplitCost=D(split),
        x_SplitUnusedCost=D(unused),
        EffectiveCost=D(0),
        SubAccountId="acct-platform",
        **fields,
    )


# Instance i-1 bills $10 for the hour; two pods used 4 + 4 and were given 1 + 1 of unused capacity.
EKS_HOUR = [
    cost(EffectiveCost=D(10), SubAccountId="acct-platform", x_LineItemType="Usage"),
    pod("nlp-train", "trainer-0", "4", "1"),
    pod("vision", "web-1", "4", "1"),
]
EKS_CASES = {
    "owner": expected(
        ("ml-platform", "(idle)", None, "idle", "idle:owner", "2"),
        ("nlp", "(unlabelled)", "nlp-train", "usage", "k8s:namespace", "4"),
        ("vision", "(unlabelled)", "vision", "usage", "k8s:namespace", "4"),
    ),
    "shared": expected(
        ("nlp", "(idle)", None, "idle", "idle:shared", "1"),
        ("nlp", "(unlabelled)", "nlp-train", "usage", "k8s:namespace", "4"),
        ("vision", "(idle)", None, "idle", "idle:shared", "1"),
        ("vision", "(unlabelled)", "vision", "usage", "k8s:namespace", "4"),
    ),
    "unallocated": expected(
        ("(unallocated)", "(idle)", None, "idle", "idle:unallocated", "2"),
        ("nlp", "(unlabelled)", "nlp-train", "usage", "k8s:namespace", "4"),
        ("vision", "(unlabelled)", "vision", "usage", "k8s:namespace", "4"),
    ),
}


@pytest.mark.parametrize(("idle", "want"), EKS_CASES.items(), ids=EKS_CASES.keys())
def test_eks_split_lines_by_idle_policy(idle: str, want: pl.DataFrame) -> None:
    assert_frame_equal(allocate(EKS_HOUR, settings(idle)), want)


def test_eks_pod_label_tag_names_the_team() -> None:
    costs = [EKS_HOUR[0], pod("batch", "job-1", "1", "0", Tags=tags(team="speech"))]
    got = allocate(costs, settings())
    assert got.select("team", "rule").rows() == [("speech", "tag:team")]
    assert got["cost"].sum() == D(10)


def test_split_is_exact_and_idempotent() -> None:
    """$1 over three equal pods: thirds settle to the nano-unit and add up to $1 exactly."""
    costs = [
        cost(EffectiveCost=D(1), BilledCost=D("1.30"), ListCost=D("1.70")),
        *(pod("nlp-a", f"p{i}", "1", "0") for i in range(3)),
    ]
    chosen = settings()
    once = split_eks_pods(cost_frame(costs), chosen).collect()
    assert once.height == 3  # three pieces; the split lines (worth 0) are gone
    for column in (Cost.EffectiveCost, Cost.BilledCost, Cost.ListCost):
        assert once[column].sum() == sum(row.get(column) or D(0) for row in costs)
    assert sorted(once[Cost.EffectiveCost].to_list()) == [
        D("0.333333333"),
        D("0.333333333"),
        D("0.333333334"),
    ]
    twice = split_eks_pods(once.lazy(), chosen).collect()
    assert_frame_equal(twice, once)


def test_hour_without_split_cost_stays_whole() -> None:
    costs = [cost(EffectiveCost=D(10)), pod("nlp-a", "p", "0", "0")]
    got = split_eks_pods(cost_frame(costs), settings()).collect()
    assert got[Cost.EffectiveCost].to_list() == [D(10)]
    assert got[Cost.ResourceId].to_list() == ["i-1"]


@given(
    amount=st.decimals(min_value=D("-50"), max_value=D("500"), places=6),
    pods=st.lists(
        st.tuples(
            st.sampled_from(["nlp-a", "vision", "default"]), st.integers(0, 900), st.integers(0, 90)
        ),
        min_size=1,
        max_size=6,
    ),
    idle=st.sampled_from(["owner", "shared", "unallocated"]),
)
@settings_(max_examples=30, deadline=None)
def test_allocation_conserves_the_instance_cost(
    amount: Decimal, pods: list[tuple[str, int, int]], idle: str
) -> None:
    costs = [
        cost(EffectiveCost=amount, SubAccountId="acct-platform"),
        *(pod(ns, f"p{i}", str(s), str(u)) for i, (ns, s, u) in enumerate(pods)),
    ]
    assert allocate(costs, settings(idle))["cost"].sum() == amount


def test_node_team_tag_does_not_claim_its_pods() -> None:
    """The node is tagged team=ml-platform: its pods still go by namespace, its unused part to it."""
    node = cost(EffectiveCost=D(10), Tags=tags(team="ml-platform"))
    got = allocate([node, *EKS_HOUR[1:]], settings())
    assert got.select("team", "rule", "cost").rows() == [
        ("ml-platform", "idle:owner", D(2)),
        ("nlp", "k8s:namespace", D(4)),
        ("vision", "k8s:namespace", D(4)),
    ]
