"""A recommendation lands on the team whose chargeback carries its instance's cost."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import RulesConfig, Settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.recommend.owners import Ownership, owners_from
from gpuledger.engine.recommend.pipeline import recommend
from gpuledger.schema import Alloc, Rec
from gpuledger.store.delta import Store
from tests.chargeback.ledger import alloc_rows
from tests.recommend.builders import OCT, Instance, use_test_prices, write_month

ACCOUNT_MAPPED = Settings(rules=RulesConfig(account_map={"111": "ml-platform"}))


def fleet() -> list[Instance]:
    """An untagged idle box (the account map owns it), a box two teams share, a mis-tagged box."""
    box = Instance("i-dev", "g5.xlarge", Decimal("1.006"), 744).run(range(744))
    shared = Instance("i-shared", "p4d.24xlarge", Decimal(20), 744)
    shared.run(range(744), gpus=range(5), job="llm-pretrain", team="research", sm=80)
    shared.run(range(744), gpus=range(5, 8), job="vit-pretrain", team="vision", sm=80)
    tagged = Instance("i-tagged", "p4d.24xlarge", Decimal(20), 744, owner="nlp")
    tagged.run(range(744), job="llm-pretrain", team="vision", sm=80)
    return [box, shared, tagged]


@pytest.fixture
def attributed(store: Store) -> pl.DataFrame:
    use_test_prices(store)
    write_month(store, OCT, fleet())
    run_attribution(store, ACCOUNT_MAPPED, OCT)
    return recommend(store, ACCOUNT_MAPPED, OCT)


def top_teams(store: Store) -> dict[str, str]:
    """The team carrying most of each instance's allocated cost, straight from the table."""
    frame = (
        store.read("allocation")
        .group_by(Alloc.ResourceId, Alloc.team)
        .agg(pl.col(Alloc.cost).sum())
        .sort(Alloc.cost, descending=True)
        .group_by(Alloc.ResourceId, maintain_order=True)
        .agg(pl.col(Alloc.team).first())
    )
    return dict(zip(frame[Alloc.ResourceId], frame[Alloc.team], strict=True))


def test_every_finding_is_on_the_allocations_top_team(
    store: Store, attributed: pl.DataFrame
) -> None:
    owners = top_teams(store)
    assert attributed.height == 3
    for row in attributed.to_dicts():
        assert row[Rec.resource_ids]
        assert {owners[rid] for rid in row[Rec.resource_ids]} == {row[Rec.team]}, row[Rec.id]


def test_account_map_and_telemetry_owners_win_over_tags(attributed: pl.DataFrame) -> None:
    teams = {row[Rec.resource_ids][0]: row[Rec.team] for row in attributed.to_dicts()}
    assert teams == {"i-dev": "ml-platform", "i-shared": "research", "i-tagged": "vision"}


def test_a_split_instance_shows_every_teams_share(attributed: pl.DataFrame) -> None:
    evidence = {
        row[Rec.resource_ids][0]: json.loads(row[Rec.evidence]) for row in attributed.to_dicts()
    }
    # 744 h × 20/h = 14,880 over 8 GPUs: 5 held by research, 3 by vision
    assert evidence["i-shared"]["billed_to_teams"] == {"research": "9300.00", "vision": "5580.00"}
    assert "billed_to_teams" not in evidence["i-dev"]


def test_an_unattributed_month_falls_back_to_the_bill_tag(store: Store) -> None:
    use_test_prices(store)
    write_month(store, OCT, fleet())
    frame = recommend(store, ACCOUNT_MAPPED, OCT)
    teams = {row[Rec.resource_ids][0]: row[Rec.team] for row in frame.to_dicts()}
    assert teams["i-tagged"] == "nlp"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            [("i-1", "nlp", "3"), ("i-1", "vision", "5"), ("i-1", "nlp", "1")],
            (("vision", Decimal(5)), ("nlp", Decimal(4))),
        ),
        (
            [("i-1", "vision", "2"), ("i-1", "nlp", "2")],
            (("nlp", Decimal(2)), ("vision", Decimal(2))),
        ),
        ([("i-1", "nlp", "2"), (None, "vision", "9")], (("nlp", Decimal(2)),)),
    ],
    ids=["largest-cost-wins", "tie-by-name", "rows-without-instance-ignored"],
)
def test_owners_from(rows: list[tuple[str | None, str, str]], expected: tuple[object, ...]) -> None:
    allocation = alloc_rows(
        OCT,
        *({Alloc.ResourceId: rid, Alloc.team: team, Alloc.cost: cost} for rid, team, cost in rows),
    )
    assert owners_from(allocation.lazy(), OCT) == {"i-1": Ownership(expected)}  # type: ignore[arg-type]
