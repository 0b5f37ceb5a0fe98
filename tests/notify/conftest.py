"""Fixtures of the alert delivery tests: servers per test, and the state on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpuledger.store.delta import Store
from gpuledger.store.state import StateDB
from tests.notify.webhook_server import Hook, webhook_server
from tests.state.postgres import Postgres, postgres, postgres_env

__all__ = ["postgres", "postgres_env"]


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_server() as started:
        yield started


@pytest.fixture
def state(tmp_path: Path) -> StateDB:
    """The state of a fresh ledger beside its home (SQLite)."""
    return StateDB(tmp_path / "state.sqlite")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_state(request: pytest.FixtureRequest, tmp_path: Path) -> StateDB:
    """The state of a fresh ledger on each backend: the send logs' SQL must work on both."""
    if request.param == "sqlite":
        return StateDB(tmp_path / "state.sqlite")
    server: Postgres = request.getfixturevalue("postgres_env")
    return Store(tmp_path / "home", state=server.config()).state
