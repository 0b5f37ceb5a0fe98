"""Take the README's screenshots of every app page, with Debian's Chromium through Playwright.

Usage (after `gpuledger demo --no-app --home /tmp/demo`):

    .venv/bin/python scripts/screenshots.py --home /tmp/demo --config /tmp/demo/gpuledger.toml

Starts `gpuledger app` on a free local port, opens each page headless, waits for its numbers and
charts, and writes ``docs/screenshots/<page>.png``. Never downloads a browser: it uses
``/usr/bin/chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# (file name, URL path, sidebar label, what must be on the page before the picture is taken)
PAGES = (
    ("chargeback", "", "Chargeback", '[data-testid="stTable"]'),
    ("waste", "waste", "GPU waste", '[data-testid="stMetric"]'),
    ("recommendations", "recommendations", "Recommendations", '[data-testid="stMetric"]'),
    ("health", "health", "Data health", '[data-testid="stVegaLiteChart"]'),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_app(home: str, config: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gpuledger", "--home", home, "--config", config]
    command += ["app", "--port", str(port), "--address", "127.0.0.1"]
    return subprocess.Popen(command, start_new_session=True)


def wait_healthy(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"the app did not answer at {url}")


def time_page(page: Page, url: str, marker: str) -> float:
    """Seconds from opening ``url`` in the browser until ``marker`` shows (the page's numbers)."""
    started = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    page.locator(marker).first.wait_for(timeout=120_000)
    return time.perf_counter() - started


def time_click(page: Page, label: str) -> float:
    """Seconds from a click on a page's sidebar link until its title shows.

    Every page computes (reads the read model) before it writes its title, so the title is the
    moment its numbers are there.
    """
    started = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
    page.locator("h1", has_text=label).first.wait_for()
    return time.perf_counter() - started


def shoot(page: Page, url: str, marker: str, out: Path) -> float:
    """Open ``url``, wait for ``marker`` and the charts to draw; returns seconds to the marker."""
    elapsed = time_page(page, url, marker)
    page.wait_for_timeout(2_000)  # charts draw after their data arrives
    page.screenshot(path=str(out), full_page=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to wait after the server answers (lets its warm-up finish before timing)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = start_app(args.home, args.config, port)
    try:
        wait_healthy(url)
        time.sleep(args.settle)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            for name, path, _, marker in PAGES:
                seconds = shoot(page, f"{url}/{path}", marker, args.out / f"{name}.png")
                print(f"{name}: {seconds:.2f} s to its numbers (opened by URL)", flush=True)
            for round_ in (1, 2):
                for name, _, label, _ in PAGES:
                    seconds = time_click(page, label)
                    print(f"{name}: {seconds:.2f} s (sidebar click, round {round_})", flush=True)
            browser.close()
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(timeout=20)


if __name__ == "__main__":
    main()
