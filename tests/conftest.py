"""Shared fixtures: a fresh ledger home per test, default settings, and the shipped sample data."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuledger.config import Settings
from gpuledger.store.delta import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPULEDGER_NO_PROGRESS", "1")
