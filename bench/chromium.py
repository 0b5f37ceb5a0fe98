"""Debian's headless Chromium driving `gpuledger app`: what the page benchmark, the browser tests
and the README screenshots share (never a downloaded browser)."""

from __future__ import annotations

import socket
from typing import Final

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: Final = {"width": 1440, "height": 900}


def settled(selector: str) -> str:
    """A page predicate: Streamlit's script has stopped and ``selector`` is on the page."""
    return f"""() => {{
    const app = document.querySelector('[data-testid="stApp"]');
    return app !== null && app.dataset.testScriptState === "notRunning"
        && document.querySelector('{selector}') !== null;
}}"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
