"""Shared fixtures: a fresh ledger home per test, default settings, the shipped sample data and a
real SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuledger.config import Settings
from gpuledger.store.delta import Store
from tests.email.smtp_testserver import SmtpServer, start_server

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 for one test, recording what it received."""
    controller, server = start_server()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPULEDGER_NO_PROGRESS", "1")
