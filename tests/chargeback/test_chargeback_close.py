"""Closing a month: frozen statements, adjustments for restatements, explicit re-opening."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.chargeback.adjustments import pending_adjustments
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.close import close_period, period_events, reopen_period
from gpuledger.engine.chargeback.live import live_statements
from gpuledger.errors import StoreError, UsageError
from gpuledger.report.export.render import render
from gpuledger.schema import Stmt
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

OCT, NOV, DEC = "2026-10", "2026-11", "2026-12"
FORMATS = ("json", "csv", "table", "xlsx", "focus")


def october(store: Store, *, invoiced: bool = True) -> None:
    write_month(
        store,
        OCT,
        {"team": "nlp", "cost": "100.00"},
        {"team": "vision", "cost": "50.004", "model": "yolo"},
        {"team": "(unallocated)", "cost": "9.99", "cost_type": "unallocated"},
        invoiced=invoiced,
    )


def restated_october(store: Store) -> None:
    """A restated CUR: nlp 100 → 90, vision gets a late credit of -5, a new team appears."""
    write_month(
        store,
        OCT,
        {"team": "nlp", "cost": "90.00"},
        {"team": "vision", "cost": "50.004", "model": "yolo"},
        {"team": "vision", "cost": "-5.00", "model": "yolo", "cost_type": "credit"},
        {"team": "audio", "cost": "7.50", "model": "whisper"},
        {"team": "(unallocated)", "cost": "9.99", "cost_type": "unallocated"},
    )


def november(store: Store) -> None:
    write_month(store, NOV, {"team": "nlp", "cost": "30.00"}, {"team": "vision", "cost": "20.00"})


def test_provisional_month_needs_force(store: Store, settings: Settings) -> None:
    october(store, invoiced=False)
    with pytest.raises(UsageError, match=r"not invoiced yet for aws/111.*--force"):
        close_period(store, settings, OCT)
    assert not store.state.is_closed(OCT)
    result = close_period(store, settings, OCT, force=True)
    assert result.provisional == ("aws/111",)
    assert store.state.closed_periods()[OCT]["forced"] == 1
    assert period_events(store, OCT)[0]["reason"] == "forced while provisional: aws/111"


def test_closed_month_is_byte_identical_after_a_restatement(
    store: Store, settings: Settings
) -> None:
    october(store)
    before = {fmt: render(build_statements(store, settings, OCT), fmt) for fmt in FORMATS}
    result = close_period(store, settings, OCT)
    at_close = {fmt: render(build_statements(store, settings, OCT), fmt) for fmt in FORMATS}
    restated_october(store)
    later = {fmt: render(build_statements(store, settings, OCT), fmt) for fmt in FORMATS}
    assert later == at_close
    assert b'"closed": true' in at_close["json"]
    assert before["csv"] == at_close["csv"]  # the lines themselves did not move at close
    closed = store.state.closed_periods()[OCT]
    assert closed["content_hash"] == result.content_hash
    assert closed["table_versions"] == result.table_versions
    assert set(closed["table_versions"]) == {"cost", "allocation", "statement"}


def test_statement_table_holds_the_closed_lines(store: Store, settings: Settings) -> None:
    october(store)
    result = close_period(store, settings, OCT)
    rows = store.read("statement").sort(Stmt.team)
    assert rows[Stmt.team].to_list() == ["(unallocated)", "nlp", "vision"]
    assert rows[Stmt.cost].to_list() == [Decimal("9.99"), Decimal("100.00"), Decimal("50.00")]
    assert rows[Stmt.content_hash].unique().to_list() == [result.content_hash]
    assert rows[Stmt.period].unique().to_list() == [OCT]


def test_restatement_becomes_adjustments_of_the_next_open_month(
    store: Store, settings: Settings
) -> None:
    october(store)
    closed_oct = close_period(store, settings, OCT).statements
    restated_october(store)
    november(store)
    nov = build_statements(store, settings, NOV)
    restated = {t.team: t.total for t in live_statements(store, settings, OCT).teams}
    frozen = {t.team: t.total for t in closed_oct.teams}
    for team in nov.teams:
        expected = restated.get(team.team, Decimal(0)) - frozen.get(team.team, Decimal(0))
        assert team.adjustment_total == expected, team.team
        assert {line.corrects_period for line in team.adjustments} <= {OCT}
    by_team = {t.team: t.adjustment_total for t in nov.teams}
    assert by_team == {
        "audio": Decimal("7.50"),
        "nlp": Decimal("-10.00"),
        "vision": Decimal("-5.00"),
    }
    # November's own lines still reconcile to November's invoice
    assert nov.invoice_total == Decimal("50.00")
    assert sum((t.total for t in nov.teams), Decimal(0)) == nov.invoice_total
    assert nov.adjustment_total == Decimal("-7.50")
    vision = nov.team("vision")
    assert vision is not None
    assert [(a.model, a.cost_type, a.cost) for a in vision.adjustments] == [
        ("yolo", "credit", Decimal("-5.00"))
    ]


def test_corrections_are_booked_once(store: Store, settings: Settings) -> None:
    october(store)
    close_period(store, settings, OCT)
    restated_october(store)
    november(store)
    assert close_period(store, settings, NOV).statements.adjustment_total == Decimal("-7.50")
    with pytest.raises(UsageError, match="no billing data for 2026-12"):
        build_statements(store, settings, DEC)  # nothing left to correct, nothing billed yet
    # a second restatement of October: only the new difference lands in December
    write_month(
        store,
        OCT,
        {"team": "nlp", "cost": "91.00"},
        {"team": "vision", "cost": "50.004", "model": "yolo"},
        {"team": "vision", "cost": "-5.00", "model": "yolo", "cost_type": "credit"},
        {"team": "audio", "cost": "7.50", "model": "whisper"},
        {"team": "(unallocated)", "cost": "9.99", "cost_type": "unallocated"},
    )
    dec = build_statements(store, settings, DEC)
    assert [(t.team, t.adjustment_total) for t in dec.teams] == [("nlp", Decimal("1.00"))]
    assert dec.teams[0].adjustments[0].corrects_period == OCT
    pending = pending_adjustments(store, settings)
    assert pending == [
        {
            "corrects_period": OCT,
            "lands_in": DEC,
            "team": "nlp",
            "amount": "1.00",
            "currency": "USD",
        }
    ]


@pytest.mark.parametrize(
    ("reason", "message"),
    [(None, "needs --reason"), ("  ", "needs --reason")],
    ids=["no-reason", "blank-reason"],
)
def test_reopen_needs_a_reason(
    store: Store, settings: Settings, reason: str | None, message: str
) -> None:
    october(store)
    close_period(store, settings, OCT)
    with pytest.raises(UsageError, match=message):
        reopen_period(store, OCT, reason)
    assert store.state.is_closed(OCT)


def test_reopen_records_why_and_makes_the_month_live(store: Store, settings: Settings) -> None:
    october(store)
    close_period(store, settings, OCT)
    with pytest.raises(UsageError, match="already closed"):
        close_period(store, settings, OCT)
    restated_october(store)
    reopen_period(store, OCT, "CUR restated by AWS support case 42")
    assert not store.state.is_closed(OCT)
    assert [e["event"] for e in period_events(store, OCT)] == ["closed", "reopened"]
    assert period_events(store, OCT)[1]["reason"] == "CUR restated by AWS support case 42"
    assert store.read("statement").filter(pl.col(Stmt.period) == OCT).is_empty()
    live = build_statements(store, settings, OCT)
    assert not live.closed
    assert live.team("audio") is not None


def test_reopen_refused_while_a_later_close_holds_its_corrections(
    store: Store, settings: Settings
) -> None:
    october(store)
    close_period(store, settings, OCT)
    restated_october(store)
    november(store)
    close_period(store, settings, NOV)
    with pytest.raises(UsageError, match="2026-11 carry adjustments"):
        reopen_period(store, OCT, "fix")
    reopen_period(store, NOV, "fix November first")
    reopen_period(store, OCT, "then October")


def test_tampered_statement_is_refused(store: Store, settings: Settings) -> None:
    october(store)
    close_period(store, settings, OCT)
    with store.state.connect() as db:
        db.execute("UPDATE statement_documents SET document = replace(document, '100.00', '1.00')")
    with pytest.raises(StoreError, match="do not match the hash"):
        build_statements(store, settings, OCT)


def test_two_closers_of_one_month_close_it_once(store: Store, settings: Settings) -> None:
    october(store)

    def close() -> str:
        try:
            return close_period(Store(store.home), settings, OCT).content_hash
        except UsageError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _: close(), range(2)))
    stored = store.state.closed_periods()[OCT]["content_hash"]
    assert stored in outcomes  # one closer won
    assert sum("already closed" in outcome for outcome in outcomes) == 1  # the other was told
    assert store.read("statement")[Stmt.content_hash].unique().to_list() == [stored]
