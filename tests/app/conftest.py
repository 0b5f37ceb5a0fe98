"""App test fixtures: a ledger home built through the real engine, and AppTest runners over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gpuledger.store.delta import Store
from tests.app.ledger import build_ledger, write_config

HOME_SCRIPT = Path(__file__).resolve().parents[2] / "app" / "Home.py"


@dataclass(frozen=True)
class LedgerFiles:
    home: Path
    config: Path

    def store(self) -> Store:
        return Store(self.home)


def _build(root: Path, auth: str) -> LedgerFiles:
    root.mkdir(parents=True, exist_ok=True)
    config = write_config(root, auth)
    build_ledger(root / "home", config)
    return LedgerFiles(root / "home", config)


@pytest.fixture(scope="module")
def shared_ledger(tmp_path_factory: pytest.TempPathFactory) -> LedgerFiles:
    """Single-user ledger for tests that only read (built once per module)."""
    return _build(tmp_path_factory.mktemp("ledger"), "single-user")


@pytest.fixture(scope="module")
def oidc_ledger(tmp_path_factory: pytest.TempPathFactory) -> LedgerFiles:
    """The same ledger with OIDC login, for the role tests."""
    return _build(tmp_path_factory.mktemp("oidc"), "oidc")


@pytest.fixture
def own_ledger(tmp_path: Path) -> LedgerFiles:
    """A ledger of the test's own, for tests that write to it."""
    return _build(tmp_path / "own", "single-user")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


AppFactory = Callable[..., AppTest]


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    """Run the app on a ledger, optionally signed in as ``email``, on ``page``."""

    def _open(ledger: LedgerFiles, page: str | None = None, email: str | None = None) -> AppTest:
        monkeypatch.setenv("GPULEDGER_HOME", str(ledger.home))
        monkeypatch.setenv("GPULEDGER_CONFIG", str(ledger.config))
        at = AppTest.from_file(str(HOME_SCRIPT), default_timeout=60)
        if email is not None:
            at.user = {"is_logged_in": True, "email": email, "name": email}
        at.run()
        if page is not None:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The first ``st.dataframe`` on the page whose columns start with ``columns``.

    Tables have no key in AppTest unless they are selectable, so they are found by their shape.
    """
    for element in at.dataframe:
        frame = element.value
        if list(frame.columns[: len(columns)]) == list(columns):
            return frame
    raise AssertionError(
        f"no table with columns {columns}; tables: {[list(d.value.columns) for d in at.dataframe]}"
    )


def open_link(
    monkeypatch: pytest.MonkeyPatch,
    ledger: LedgerFiles,
    page: str,
    email: str | None = None,
    **query: str,
) -> AppTest:
    """A new session opened on ``page`` (e.g. ``views/chargeback.py``) with ``?query``."""
    monkeypatch.setenv("GPULEDGER_HOME", str(ledger.home))
    monkeypatch.setenv("GPULEDGER_CONFIG", str(ledger.config))
    at = AppTest.from_file(str(HOME_SCRIPT), default_timeout=60)
    if email is not None:
        at.user = {"is_logged_in": True, "email": email, "name": email}
    at.query_params.update(query)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
