"""Fixtures for the state tests: one ledger per test, its state on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuledger.config import StateConfig
from gpuledger.store.delta import Store
from gpuledger.store.state import StateDB
from tests.state.postgres import Postgres, postgres, postgres_env

__all__ = ["postgres", "postgres_env"]


@pytest.fixture(params=["sqlite", "postgresql"])
def state_config(request: pytest.FixtureRequest) -> StateConfig | None:
    """No ``[state]`` (SQLite beside the local home), or the test PostgreSQL server."""
    if request.param == "sqlite":
        return None
    server: Postgres = request.getfixturevalue("postgres_env")
    return server.config()


@pytest.fixture
def ledger(tmp_path: Path, state_config: StateConfig | None) -> Store:
    return Store(tmp_path / "home", state=state_config)


@pytest.fixture
def state(ledger: Store) -> StateDB:
    return ledger.state


@pytest.fixture
def store(ledger: Store) -> Store:
    """The suites imported from other folders ask for ``store``: here it is the ledger above."""
    return ledger
