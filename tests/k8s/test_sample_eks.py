"""The sample CUR's EKS node: its hours split over two teams' namespaces, to the cent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.aws import ingest
from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import attribute
from gpuledger.engine.attribution.k8s import split_eks_pods
from gpuledger.sample import sample_months
from gpuledger.sample.aws_cur2 import write_aws_cur2
from gpuledger.sample.company import build_company
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store

PERIOD = "2026-10"
NODE = "i-0a75d286e5e5ff9cb"  # the sample's g5.12xlarge speech inference node
SETTINGS = Settings.model_validate(
    {
        "teams": {
            "nlp": {"namespaces": ["nlp-*"]},
            "speech": {"namespaces": ["speech-*"]},
            "ml-platform": {},
        }
    }
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root: Path = tmp_path_factory.mktemp("eks")
    company = build_company(1, 7, sample_months(PERIOD))
    write_aws_cur2(company, root / "aws")
    store = Store(root / "home")
    ingest(store, SETTINGS, str(root / "aws"))
    return store


def test_split_lines_are_ingested(ledger: Store) -> None:
    pods = (
        ledger.scan("cost")
        .filter(
            (pl.col(Cost.x_ParentResourceId) == NODE) & (pl.col(Cost.x_BillingPeriod) == PERIOD)
        )
        .collect()
    )
    assert set(pods[Cost.x_K8sNamespace]) == {"speech-asr", "nlp-eval"}
    assert pods[Cost.EffectiveCost].sum() == 0  # the money stays on the instance line


def test_node_cost_goes_to_namespaces_and_idle(ledger: Store) -> None:
    cost = ledger.scan("cost")
    node_cost = (
        cost.filter((pl.col(Cost.ResourceId) == NODE) & (pl.col(Cost.x_BillingPeriod) == PERIOD))
        .select(pl.col(Cost.EffectiveCost).sum())
        .collect()
        .item()
    )
    allocation = attribute(
        split_eks_pods(cost, SETTINGS), ledger.scan("gpu_usage"), SETTINGS, PERIOD
    )
    node = (
        allocation.filter(pl.col(Alloc.ResourceId) == NODE)
        .group_by(Alloc.team, Alloc.rule)
        .agg(pl.col(Alloc.cost).sum())
        .sort(Alloc.team)
        .collect()
    )
    shares = {(team, rule): Decimal(amount) / node_cost for team, rule, amount in node.rows()}
    # speech-asr used 55 %, nlp-eval 25 %; the 20 % unused is the (untagged) node owner's idle
    assert shares == pytest.approx(
        {
            ("nlp", "k8s:namespace"): Decimal("0.25"),
            ("speech", "k8s:namespace"): Decimal("0.55"),
            ("(unallocated)", "idle:owner"): Decimal("0.20"),
        }
    )
    assert node[Alloc.cost].sum() == node_cost  # conserved exactly
