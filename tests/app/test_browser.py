"""End to end: `gpuledger app` served headless, read by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.app.conftest import LedgerFiles

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gpuledger app exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"gpuledger app did not answer at {url} within {seconds} s")


@pytest.fixture
def served_app(shared_ledger: LedgerFiles, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gpuledger",
        "--home",
        str(shared_ledger.home),
        "--config",
        str(shared_ledger.config),
        "app",
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
    ]
    log = (tmp_path / "app.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def test_chargeback_page_in_a_real_browser(served_app: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app, wait_until="domcontentloaded")
            table = page.locator('[data-testid="stTable"]').first
            table.wait_for(timeout=60_000)
            rows = [
                [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
                for row in table.locator("tbody tr").all()
            ]
            totals = {row[0]: row[1] for row in rows}
            assert totals["nlp"] == "$20.00"
            assert totals["vision"] == "$5.00"
            assert totals["(unallocated)"] == "$3.00"
            metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
            assert any("Invoice" in m and "$28.00" in m for m in metrics)
            page.screenshot(path=str(tmp_path / "chargeback.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "chargeback.png").stat().st_size > 10_000


def test_deep_link_paints_the_month_it_names(served_app: str) -> None:
    """An e-mail's link to a past month opens that month, and the address keeps naming it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{served_app}/chargeback?period=2026-09", wait_until="domcontentloaded")
            title = page.locator("h1", has_text="Chargeback 2026-")
            title.wait_for(timeout=60_000)
            assert title.inner_text().startswith("Chargeback 2026-09 · closed")
            table = page.locator('[data-testid="stTable"]').first
            table.wait_for(timeout=60_000)
            first_row = table.locator("tbody tr").first.locator("th, td").all_inner_texts()
            assert [cell.strip() for cell in first_row[:2]] == ["nlp", "$8.00"]
            assert "/chargeback?period=2026-09&" in page.url  # then the drill-down's team
            assert not page.get_by_text("Page not found").count()
        finally:
            browser.close()
