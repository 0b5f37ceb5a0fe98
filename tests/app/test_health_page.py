"""Month status words, on the Data health page and in every page's month picker.

A month is ``closed`` once closed, ``invoiced`` once every billing account's invoice is final,
``final`` once its usage data reaches the month's end, and ``provisional`` before that. In the
test ledger September is closed and October has one day of data from an account the provider
has not invoiced yet.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.report.readmodel.chargeback import PeriodInfo
from tests.app.conftest import AppFactory, LedgerFiles, table


@pytest.mark.parametrize(
    ("info", "status"),
    [
        (PeriodInfo("2026-09", True, "2026-10-05", complete=True, invoiced=True), "closed"),
        (PeriodInfo("2026-09", False, complete=True, invoiced=True), "invoiced"),
        (PeriodInfo("2026-09", False, invoiced=True), "invoiced"),
        (PeriodInfo("2026-09", False, complete=True), "final"),
        (PeriodInfo("2026-09", False), "provisional"),
    ],
    ids=["closed", "invoiced-complete", "invoiced-early", "final", "provisional"],
)
def test_month_status_word(info: PeriodInfo, status: str) -> None:
    assert info.status == status
    assert info.label.startswith(f"{info.period} · {status}")


def _month_statuses(at: AppTest) -> dict[str, str]:
    months = table(at, "x_BillingPeriod", "month_status")
    return dict(zip(months["x_BillingPeriod"], months["month_status"], strict=False))


def test_health_page_shows_each_months_status(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/health.py")
    assert _month_statuses(at) == {"2026-10": "provisional", "2026-09": "closed", "Total": "—"}


@pytest.mark.parametrize(
    ("second_invoiced", "status"),
    [(False, "provisional"), (True, "invoiced")],
    ids=["one-account-pending", "every-account-invoiced"],
)
def test_a_month_is_invoiced_once_every_account_is(
    own_ledger: LedgerFiles, open_app: AppFactory, second_invoiced: bool, status: str
) -> None:
    state = own_ledger.store().state
    state.record_billing_period("aws", "111", "2026-10", invoiced=True, delivery=None)
    state.record_billing_period("aws", "222", "2026-10", invoiced=second_invoiced, delivery=None)
    at = open_app(own_ledger, "views/health.py")
    assert _month_statuses(at)["2026-10"] == status
    at = open_app(own_ledger, "views/chargeback.py")
    picker = at.selectbox(key="period")
    assert picker.options[0] == f"2026-10 · {status}"
    assert picker.options[1].startswith("2026-09 · closed")


def test_health_tables_read_as_money_with_totals_and_csv(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/health.py")
    periods = table(at, "x_BillingPeriod", "month_status")
    assert list(periods["invoice"]) == ["provisional", "provisional", "—"]
    assert list(periods["effective_cost"]) == [12.0, 28.0, 40.0]
    assert {b.proto.label for b in at.get("download_button")} == {"CSV"}
    assert len(at.get("download_button")) == len(at.dataframe)
