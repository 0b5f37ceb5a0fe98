"""What the e-mails say, read from a real store: spend, month-over-month, daily bars, recommendations."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import EmailConfig, Settings
from gpuledger.engine.recommend.status import Seen, observe, set_status
from gpuledger.report.email.digest import (
    DailySpend,
    finance_digest,
    team_digests,
)
from gpuledger.schema import RECOMMENDATION_SCHEMA, UNALLOCATED, Alloc, Rec
from gpuledger.store.delta import Store
from tests.chargeback.ledger import day, write_month

OCT = "2026-10"


def write_ledger(store: Store) -> None:
    write_month(
        store,
        "2026-09",
        {Alloc.team: "nlp", Alloc.cost: "1000.00"},
    )
    write_month(
        store,
        OCT,
        {Alloc.team: "nlp", Alloc.day: day(OCT, 1), Alloc.cost: "100.00"},
        {
            Alloc.team: "nlp",
            Alloc.day: day(OCT, 1),
            Alloc.cost: "20.00",
            Alloc.cost_type: "idle",
            Alloc.ResourceId: "i-2",
        },
        {Alloc.team: "nlp", Alloc.day: day(OCT, 2), Alloc.cost: "50.005", Alloc.ResourceId: "i-3"},
        {
            Alloc.team: "vision",
            Alloc.day: day(OCT, 2),
            Alloc.cost: "300.00",
            Alloc.ResourceId: "i-4",
        },
        {
            Alloc.team: UNALLOCATED,
            Alloc.day: day(OCT, 3),
            Alloc.cost: "7.50",
            Alloc.ResourceId: "i-5",
        },
    )


RECS = [  # id, team, status, saving
    ("r-new-small", "nlp", "new", "100.00"),
    ("r-new-big", "nlp", "new", "500.00"),
    ("r-ack", "nlp", "acknowledged", "900.00"),
    ("r-dismissed", "nlp", "dismissed", "2000.00"),
    ("r-done", "nlp", "done", "50.00"),
    ("r-vision", "vision", "new", "75.00"),
]


def write_recommendations(store: Store) -> None:
    frame = pl.DataFrame(
        [
            {
                Rec.period: OCT,
                Rec.id: rid,
                Rec.kind: "idle",
                Rec.team: team,
                Rec.model: "(idle)",
                Rec.resource_ids: [f"i-{rid}"],
                Rec.evidence: json.dumps(
                    {
                        "fingerprint": "f00",
                        "idle_hours": 412.25,
                        "billed_hours": {"i-1": "744.0"},
                        "resource_ids": ["a", "b", "c", "d"],
                        "interruptible": True,
                    }
                ),
                Rec.monthly_cost: Decimal("3000.00"),
                Rec.monthly_saving: Decimal(saving),
                Rec.currency: "USD",
                Rec.confidence: "high",
                Rec.action: f"do {rid}",
            }
            for rid, team, _, saving in RECS
        ],
        schema=RECOMMENDATION_SCHEMA,
    )
    store.replace_partitions("recommendation", frame, [Rec.period])
    observe(store.state, OCT, [Seen(rid, "idle", "fp", []) for rid, *_ in RECS])
    for rid, _, status, saving in RECS:
        if status != "new":
            set_status(
                store.state,
                rid,
                status,
                reason="not now",
                period=OCT,
                fingerprint="fp",
                monthly_saving=Decimal(saving),
                monthly_cost=Decimal("3000.00"),
            )


@pytest.fixture
def ledger(store: Store) -> Store:
    write_ledger(store)
    write_recommendations(store)
    return store


def test_team_digest_figures(ledger: Store) -> None:
    settings = Settings(email=EmailConfig(top_recommendations=2))
    nlp, vision = team_digests(ledger, settings, OCT, ["nlp", "vision"])

    assert (nlp.spend, nlp.previous_spend, nlp.change, nlp.change_percent) == (
        Decimal("170.01"),  # 100 + 20 + 50.005, to the cent
        Decimal("1000.00"),
        Decimal("-829.99"),
        Decimal("-83.0"),
    )
    assert nlp.daily == (
        DailySpend(date(2026, 10, 1), Decimal("100.00"), Decimal("20.00")),
        DailySpend(date(2026, 10, 2), Decimal("50.01"), Decimal("0.00")),
    )
    assert (vision.spend, vision.previous_spend, vision.change_percent) == (
        Decimal("300.00"),
        None,
        None,
    )
    assert nlp.waste == Decimal("0.00")  # no telemetry: nothing priced as waste
    assert nlp.app_url == "http://localhost:8501/recommendations?team=nlp&period=2026-10"


def test_recommendations_new_first_never_dismissed_or_done_top_n(ledger: Store) -> None:
    settings = Settings(email=EmailConfig(top_recommendations=2))
    nlp, vision = team_digests(ledger, settings, OCT, ["nlp", "vision"])

    assert [r.id for r in nlp.recommendations] == ["r-new-big", "r-new-small"]
    assert nlp.hidden_recommendations == 1  # r-ack
    assert [r.id for r in vision.recommendations] == ["r-vision"]
    assert nlp.recommendations[0].model is None  # "(idle)" is not a model to name
    assert nlp.recommendations[0].evidence == (
        ("idle hours", "412.2"),
        ("resource ids", "a, b, c …"),
        ("interruptible", "yes"),
    )  # no fingerprint (bookkeeping), no nested object (billed hours per instance)


def test_finance_digest_uses_the_reconciled_statements(ledger: Store) -> None:
    digest = finance_digest(ledger, Settings(), OCT)

    assert digest.invoice_total == Decimal("477.51")
    assert [(t.team, t.total) for t in digest.teams] == [
        ("nlp", Decimal("170.01")),
        ("vision", Decimal("300.00")),
        (UNALLOCATED, Decimal("7.50")),
    ]
    assert sum(t.total for t in digest.teams) == digest.invoice_total
    assert digest.xlsx[:2] == b"PK"
