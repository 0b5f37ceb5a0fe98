"""The attributed fleet of :mod:`tests.alerts.fleet`, built once; tests that write get a copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpuledger.config import Settings
from gpuledger.store.delta import Store
from tests.alerts.fleet import build_fleet


@pytest.fixture(scope="session")
def fleet_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fleet") / "home"
    build_fleet(Store(home), Settings())
    return home


@pytest.fixture
def fleet(fleet_home: Path, tmp_path: Path) -> Store:
    """A copy of the attributed fleet: September and October 2026."""
    home = tmp_path / "fleet"
    shutil.copytree(fleet_home, home)
    return Store(home)
