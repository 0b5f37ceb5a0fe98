"""The chargeback page's views: the month grouped any way and the 12-month trend, in the URL.

The app tests' ledger (tests/app/ledger.py): 2026-09 nlp $8.00 + vision $4.00 = $12.00 (closed);
2026-10 i-nlp $20.00 (nlp), i-vis $5.00 (vision), bucket-logs $3.00 (unallocated) = $28.00.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.schema import UNALLOCATED
from tests.app.conftest import LedgerFiles, table
from tests.app.conftest import open_link as open_page
from tests.app.ledger import NLP_LEAD

PAGE = "views/chargeback.py"


def open_link(
    monkeypatch: pytest.MonkeyPatch, ledger: LedgerFiles, email: str | None = None, **query: str
) -> AppTest:
    return open_page(monkeypatch, ledger, PAGE, email, **query)


def rows(at: AppTest, *columns: str) -> dict[str, list[object]]:
    """The first table with ``columns``, as key → the other cells of its row."""
    frame = table(at, *columns)
    return {str(row[0]): list(row[1:]) for row in frame.itertuples(index=False)}


@pytest.mark.parametrize(
    ("grouping", "expected"),
    [
        ("instance", {"i-nlp": 20.0, "i-vis": 5.0, "bucket-logs": 3.0, "Total": 28.0}),
        ("team", None),  # the team statements table, unchanged
        ("gpu_model", {"A100": 25.0, "—": 3.0, "Total": 28.0}),
        (
            "service",
            {
                "Amazon Elastic Compute Cloud": 25.0,
                "Amazon Simple Storage Service": 3.0,
                "Total": 28.0,
            },
        ),
    ],
    ids=["instance", "team", "gpu-model", "service"],
)
def test_group_by_is_in_the_url_and_adds_up_to_the_invoice(
    monkeypatch: pytest.MonkeyPatch,
    shared_ledger: LedgerFiles,
    grouping: str,
    expected: dict[str, float] | None,
) -> None:
    at = open_link(monkeypatch, shared_ledger, group=grouping)
    assert at.selectbox(key="cb_group").value == grouping
    assert at.query_params["group"] == grouping
    if expected is None:
        assert list(at.table[0].value.index) == ["nlp", "vision", UNALLOCATED, "Total"]
        return
    costs = {key: cells[0] for key, cells in rows(at, "group", "cost").items()}
    assert costs == expected


def test_choosing_a_grouping_writes_it_to_the_url(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger)
    at.selectbox(key="cb_group").select("instance").run()
    assert at.query_params["group"] == "instance"
    assert rows(at, "group", "cost")["Total"][0] == 28.0


def test_a_lead_groups_only_their_teams_and_the_unallocated_pool(
    monkeypatch: pytest.MonkeyPatch, oidc_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, oidc_ledger, NLP_LEAD, group="instance")
    costs = {key: cells[0] for key, cells in rows(at, "group", "cost").items()}
    assert costs == {"i-nlp": 20.0, "bucket-logs": 3.0, "Total": 23.0}


def test_trend_shows_each_months_statements_and_the_month_by_day(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger, view="trend")
    assert at.query_params["view"] == "trend"
    months = rows(at, "period", "_total")
    assert {month: cells[0] for month, cells in months.items()} == {
        "2026-09": 12.0,
        "2026-10": 28.0,
        "Total": 40.0,
    }
    days = rows(at, "day", "_total")
    assert days["Total"][0] == 28.0  # the month's days add up to its invoice
    assert days["2026-10-01"][0] == 28.0


def test_trend_by_model_for_a_lead_names_only_their_lines(
    monkeypatch: pytest.MonkeyPatch, oidc_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, oidc_ledger, NLP_LEAD, view="trend", group="model")
    months = table(at, "period", "_total")
    assert list(months["_total"]) == [8.0, 23.0, 31.0]  # nlp 8 | nlp 20 + unallocated 3
    assert at.selectbox(key="cb_group").options == ["Team", "Model"]
