"""End to end: `gpuledger app` served headless, read by Debian's Chromium through Playwright.

One app server for the module, on the app tests' ledger (tests/app/ledger.py); every test opens
a fresh browser context, as a new visitor (or an e-mail's link) does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.chromium import CHROMIUM, VIEWPORT
from tests.app.browser import (
    WAIT_MS,
    chromium,
    metrics,
    open_settled,
    served_app,
    settle,
    table_rows,
)
from tests.app.conftest import LedgerFiles

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


@pytest.fixture(scope="module")
def app_url(shared_ledger: LedgerFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_app(shared_ledger, tmp_path_factory.mktemp("app") / "app.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    fresh = browser.new_context(viewport=VIEWPORT)
    yield fresh
    fresh.close()


def test_chargeback_deep_link_paints_the_month_and_team_it_names(
    app_url: str, context: Any, tmp_path: Path
) -> None:
    page = open_settled(context, f"{app_url}/chargeback?period=2026-09&team=vision")
    assert page.locator("h1").first.inner_text().startswith("Chargeback 2026-09 · closed")
    rows = table_rows(page)
    assert [row[:2] for row in rows] == [["nlp", "$8.00"], ["vision", "$4.00"], ["Total", "$12.00"]]
    assert metrics(page)["Invoice"] == "$12.00"
    assert "period=2026-09" in page.url
    assert "team=vision" in page.url  # the drill-down kept the team the link named
    page.screenshot(path=str(tmp_path / "chargeback.png"), full_page=True)
    assert (tmp_path / "chargeback.png").stat().st_size > 10_000


def test_the_root_opens_chargeback_with_its_own_address(app_url: str, context: Any) -> None:
    page = open_settled(context, app_url)
    assert "/chargeback?" in page.url
    assert metrics(page)["Invoice"] == "$28.00"
    assert {row[0]: row[1] for row in table_rows(page)}["(unallocated)"] == "$3.00"


@pytest.mark.parametrize(
    ("path", "title", "metric", "value"),
    [
        ("/waste?period=2026-10&team=nlp&group=instance", "GPU waste 2026-10", "Waste", "$10.00"),
        (
            "/recommendations?period=2026-10&team=nlp",
            "Recommendations 2026-10",
            "Open monthly saving",
            "$10.00",
        ),
        ("/chargeback?view=trend&group=model", "Chargeback 2026-10", "Invoice", "$28.00"),
    ],
    ids=["waste", "recommendations", "trend"],
)
def test_each_page_paints_from_a_deep_link(
    app_url: str, context: Any, path: str, title: str, metric: str, value: str
) -> None:
    page = open_settled(context, app_url + path)
    assert page.locator("h1").first.inner_text().startswith(title)
    assert metrics(page)[metric] == value
    assert not page.get_by_text("Page not found").count()
    assert not page.locator('[data-testid="stException"]').count()


def test_data_health_paints_from_its_link(app_url: str, context: Any) -> None:
    page = open_settled(context, f"{app_url}/health")
    assert page.locator("h1").first.inner_text() == "Data health"
    grids = page.locator('[data-testid="stDataFrame"]')
    grids.first.wait_for(timeout=WAIT_MS)
    assert grids.count() >= 2
    assert not page.locator('[data-testid="stException"]').count()


def test_a_status_change_updates_the_page_without_a_reload(app_url: str, context: Any) -> None:
    page = open_settled(context, f"{app_url}/recommendations?period=2026-10")
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads
    page.get_by_text("acknowledge", exact=True).click()
    page.get_by_role("button", name="Save").click()
    page.get_by_text(": acknowledged").wait_for(timeout=WAIT_MS)
    settle(page)
    assert [row[2] for row in table_rows(page)] == ["acknowledged"]
    assert page.evaluate("() => window.sameDocument") is True
