"""Browser tests' parts: `gpuledger app` served headless, Debian's Chromium, a signed-in lead.

A team lead signs in through OIDC, which needs an identity provider; what the app does with the
identity starts at Streamlit's signed ``_streamlit_user`` cookie, so :func:`signed_in_as` writes
that cookie with the server's cookie secret, as Streamlit's login callback would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.chromium import CHROMIUM, CHROMIUM_ARGS, free_port, settled
from tests.app.conftest import LedgerFiles

COOKIE_SECRET = "browser-test-cookie-secret"
WAIT_MS = 90_000
# Streamlit marks its app root with the script's state: the page is settled once it has stopped.
SETTLED = settled('[data-testid="stMain"] h1')


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gpuledger app exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gpuledger app did not answer at {url} within {seconds} s")


@contextmanager
def served_app(ledger: LedgerFiles, log: Path) -> Iterator[str]:
    """``gpuledger app`` on a free port of 127.0.0.1 (its output in ``log``); yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "gpuledger", "--home", str(ledger.home)]
    command += ["--config", str(ledger.config), "app", "--port", str(port)]
    command += ["--address", "127.0.0.1"]
    env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": COOKIE_SECRET}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def signed_in_as(context: Any, url: str, email: str) -> None:
    """Give the browser ``context`` the login cookie Streamlit sets after an OIDC sign-in."""
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    user = {"origin": url, "is_logged_in": True, "email": email, "email_verified": True}
    value = create_signed_value(COOKIE_SECRET, "_streamlit_user", json.dumps(user))
    context.add_cookies([{"name": "_streamlit_user", "value": value.decode(), "url": url}])


def open_settled(context: Any, url: str) -> Any:
    """A new page of ``context`` at ``url``, once its script has run and its title is drawn."""
    page = context.new_page()
    page.goto(url, wait_until="commit")
    settle(page)
    return page


def settle(page: Any) -> None:
    page.wait_for_function(SETTLED, timeout=WAIT_MS, polling=50)


def table_rows(page: Any) -> list[list[str]]:
    """The first ``st.table``'s rows as the visitor reads them (index cell first)."""
    table = page.locator('[data-testid="stTable"]').first
    table.wait_for(timeout=WAIT_MS)
    return [
        [cell.strip() for cell in row.locator("th, td").all_inner_texts()]
        for row in table.locator("tbody tr").all()
    ]


def metrics(page: Any) -> dict[str, str]:
    """Each ``st.metric``'s label and value (once there is one), read in one look at the page."""
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=WAIT_MS)
    settle(page)
    pairs: list[list[str]] = page.evaluate(READ_METRICS)
    return {label.strip(): value.strip() for label, value in pairs}


READ_METRICS = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(m => [
    m.querySelector('[data-testid="stMetricLabel"]').innerText,
    m.querySelector('[data-testid="stMetricValue"]').innerText,
])"""
