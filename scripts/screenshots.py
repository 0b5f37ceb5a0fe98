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
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: bench/ is beside it

from bench.chromium import CHROMIUM, CHROMIUM_ARGS, free_port, settled  # noqa: E402

# (file name, URL path and query, what must be on the page before the picture is taken)
PAGES = (
    ("chargeback", "chargeback", '[data-testid="stTable"]'),
    ("trend", "chargeback?view=trend&group=team", '[data-testid="stVegaLiteChart"]'),
    ("waste", "waste", '[data-testid="stMetric"]'),
    ("recommendations", "recommendations", '[data-testid="stMetric"]'),
    ("health", "health", '[data-testid="stVegaLiteChart"]'),
    ("alerts", "alerts", '[data-testid="stMetric"]'),
    ("onprem", "onprem", '[data-testid="stMetric"]'),
)


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


def shoot(page: Page, url: str, marker: str, out: Path) -> None:
    """Open ``url``, wait for ``marker``, the script's end and the charts, and take the picture."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_function(settled(marker), timeout=120_000)
    page.wait_for_timeout(1_500)  # Vega draws its charts after the script has sent them
    page.screenshot(path=str(out), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = start_app(args.home, args.config, port)
    try:
        wait_healthy(url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(
                viewport={"width": 1440, "height": 2400}
            )  # the app scrolls inside
            for name, path, marker in PAGES:
                shoot(page, f"{url}/{path}", marker, args.out / f"{name}.png")
                print(f"{name}: {args.out / name}.png", flush=True)
            browser.close()
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(timeout=20)


if __name__ == "__main__":
    main()
