"""Stable ids across runs and months; dismissal holds while the finding is unchanged; done shows
realized against estimated."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.recommend.pipeline import (
    FINGERPRINT,
    STATUS,
    current_recommendations,
    done_outcomes,
    non_overlapping_saving,
    recommend,
)
from gpuledger.engine.recommend.status import set_status
from gpuledger.errors import UsageError
from gpuledger.schema import Rec
from gpuledger.store.delta import Store
from tests.recommend.builders import NOV, OCT, Instance, use_test_prices, write_month
from tests.recommend.test_rules import embedding_fleet, forgotten_box, trainer


def month(*, hourly: Decimal = Decimal(20), hours: int = 300) -> list[Instance]:
    """A month with three findings: a forgotten box, an on-demand trainer, a steady fleet."""
    box = Instance("i-box", "g5.xlarge", Decimal("1.006"), hours).run(range(hours))
    train = Instance("i-train", "p4d.24xlarge", hourly, hours)
    train.run(range(hours), job="llm-pretrain", team="research", sm=80)
    return [box, train, *embedding_fleet((744, 744))()[: 2 if hours >= 720 else 0]]


def ids(frame: pl.DataFrame) -> dict[str, str]:
    return dict(zip(frame[Rec.id], frame[Rec.kind], strict=True))


def test_ids_are_stable_across_runs_months_and_amounts(store: Store, settings: Settings) -> None:
    use_test_prices(store)
    write_month(store, OCT, month(hours=744))
    first = ids(recommend(store, settings, OCT))
    again = ids(recommend(store, settings, OCT))
    write_month(store, NOV, month(hourly=Decimal(25), hours=720))
    november = ids(recommend(store, settings, NOV))
    assert sorted(first.values()) == ["commit", "idle", "spot"]
    assert first == again == november


def _mark(store: Store, rec: dict[str, object], status: str, reason: str | None) -> None:
    evidence = pl.Series([rec[Rec.evidence]]).str.json_decode()[0]
    set_status(
        store.state,
        str(rec[Rec.id]),
        status,
        reason=reason,
        period=OCT,
        fingerprint=evidence[FINGERPRINT],
        monthly_saving=rec[Rec.monthly_saving],  # type: ignore[arg-type]
        monthly_cost=rec[Rec.monthly_cost],  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("november_box", "status"),
    [
        (forgotten_box, "dismissed"),
        (
            lambda: [
                Instance("i-box", "g5.xlarge", Decimal("1.006"), 720)
                .run(range(100), job="x")
                .run(range(100, 720))
            ],
            "new",
        ),
    ],
    ids=["unchanged-stays-dismissed", "changed-is-raised-again"],
)
def test_dismissed_is_not_raised_again_while_unchanged(
    store: Store, settings: Settings, november_box: object, status: str
) -> None:
    write_month(store, OCT, forgotten_box())
    rec = recommend(store, settings, OCT).to_dicts()[0]
    _mark(store, rec, "dismissed", "kept warm for the demo day")
    write_month(store, NOV, november_box())  # type: ignore[operator]
    again = recommend(store, settings, NOV).filter(pl.col(Rec.id) == rec[Rec.id])
    assert again[STATUS].to_list() == [status]
    # the status belongs to the id, so October's stored finding shows it too
    assert current_recommendations(store, settings, OCT)[STATUS].to_list() == [status]


def test_dismiss_needs_a_reason(store: Store, settings: Settings) -> None:
    write_month(store, OCT, forgotten_box())
    rec = recommend(store, settings, OCT).to_dicts()[0]
    with pytest.raises(UsageError, match="--reason"):
        _mark(store, rec, "dismissed", " ")


def test_done_shows_realized_against_estimated(store: Store, settings: Settings) -> None:
    use_test_prices(store)
    write_month(store, OCT, trainer()())  # 6000 on demand, estimated saving 3360
    rec = recommend(store, settings, OCT).to_dicts()[0]
    _mark(store, rec, "done", None)
    spot = Instance("i-train", "p4d.24xlarge", Decimal("9.5"), 300, pricing="Dynamic")
    write_month(store, NOV, [spot.run(range(300), job="llm-pretrain", team="research")])
    outcomes = done_outcomes(store, settings, NOV)
    # realized: 6000 in October − 300 × 9.5 = 2850 in November = 3150
    assert [(o["id"], o["estimated_saving"], o["realized_saving"]) for o in outcomes] == [
        (rec[Rec.id], Decimal("3360.00"), Decimal("3150.00"))
    ]
    assert recommend(store, settings, NOV).filter(pl.col(Rec.id) == rec[Rec.id]).is_empty()


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a", ["i-1"], "300", "new"), ("b", ["i-2"], "200", "new")], "500"),
        ([("a", ["i-1"], "300", "new"), ("b", ["i-1"], "200", "new")], "300"),
        ([("a", ["i-1", "i-2"], "300", "new"), ("b", ["i-2"], "250", "new")], "300"),
        ([("a", ["i-1"], "300", "dismissed"), ("b", ["i-1"], "200", "new")], "200"),
        ([("a", ["i-1"], "300", "done"), ("b", ["i-2"], "200", "acknowledged")], "200"),
    ],
    ids=["disjoint", "same-instance", "fleet-overlap", "dismissed-not-counted", "done-not-counted"],
)
def test_non_overlapping_saving(rows: list[tuple[str, list[str], str, str]], expected: str) -> None:
    frame = pl.DataFrame(
        [
            {Rec.id: i, Rec.resource_ids: r, Rec.monthly_saving: Decimal(s), STATUS: st}
            for i, r, s, st in rows
        ],
        schema={
            Rec.id: pl.String,
            Rec.resource_ids: pl.List(pl.String),
            Rec.monthly_saving: pl.Decimal(38, 2),
            STATUS: pl.String,
        },
    )
    assert non_overlapping_saving(frame) == Decimal(expected)


def test_current_recommendations_computes_once_then_reads(store: Store, settings: Settings) -> None:
    write_month(store, OCT, forgotten_box())
    first = current_recommendations(store, settings, OCT)
    version = store.version("recommendation")
    second = current_recommendations(store, settings, OCT)
    assert first[Rec.kind].to_list() == second[Rec.kind].to_list() == ["idle"]
    assert store.version("recommendation") == version
