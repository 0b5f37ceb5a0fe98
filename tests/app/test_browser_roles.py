"""End to end as a team lead: no URL reaches another team's numbers (OIDC ledger, Chromium).

nlp's lead is signed in (Streamlit's login cookie, see tests/app/browser.py). vision's numbers in
the app tests' ledger: $4.00 in 2026-09, $5.00 in 2026-10; neither may appear anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.chromium import CHROMIUM, VIEWPORT
from tests.app.browser import (
    chromium,
    metrics,
    open_settled,
    served_app,
    signed_in_as,
    table_rows,
)
from tests.app.conftest import LedgerFiles
from tests.app.ledger import NLP_LEAD

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]
REFUSED = "Team vision is not among the teams you may see."
# What a page says of a link naming a team it does not show (the team's name, never its numbers)
REFUSALS = re.compile(
    r"Team vision is not among the teams you may see\.|vision is not offered here\."
)


@pytest.fixture(scope="module")
def app_url(oidc_ledger: LedgerFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_app(oidc_ledger, tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def lead(app_url: str) -> Iterator[Any]:
    """A browser context signed in as nlp's lead."""
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)
        signed_in_as(context, app_url, NLP_LEAD)
        yield context
        context.close()


def body_text(page: Any) -> str:
    return str(page.locator('[data-testid="stMain"]').inner_text())


def test_a_link_to_another_teams_statement_opens_the_leads_own(app_url: str, lead: Any) -> None:
    page = open_settled(lead, f"{app_url}/chargeback?period=2026-09&team=vision")
    assert page.get_by_text(REFUSED).count() == 1
    assert [row[:2] for row in table_rows(page)] == [["nlp", "$8.00"], ["Total", "$8.00"]]
    assert "Invoice" not in metrics(page)  # the invoice less nlp would be vision's total
    assert "$4.00" not in body_text(page)
    assert "team=nlp" in page.url


@pytest.mark.parametrize(
    "path",
    [
        "/chargeback?period=2026-10&group=instance",
        "/chargeback?period=2026-10&view=trend&group=team",
        "/recommendations?period=2026-10&team=vision",
        "/waste?period=2026-10&team=vision",
    ],
    ids=["group-by-instance", "trend", "recommendations", "waste"],
)
def test_no_view_shows_another_teams_numbers(app_url: str, lead: Any, path: str) -> None:
    page = open_settled(lead, app_url + path)
    metrics(page)  # the page's numbers are drawn
    text = REFUSALS.sub("", body_text(page))
    assert "i-vis" not in text
    assert not re.search(r"\bvision\b", text)
    assert "$5.00" not in text.replace("over by $5.00", "")  # nlp is $5.00 over its budget


def test_data_health_is_not_a_leads_page(app_url: str, lead: Any) -> None:
    page = lead.new_page()
    page.goto(f"{app_url}/health", wait_until="commit")
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=90_000)
    assert page.get_by_role("link", name="Data health").count() == 0
    assert "Data health" not in page.locator("h1").first.inner_text()
