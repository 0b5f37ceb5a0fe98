"""Where a ledger's state lives: beside a local home, in ``[state] url``, or refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpuledger.commands.context import Context
from gpuledger.config import StateConfig
from gpuledger.errors import StoreError, UsageError
from gpuledger.store.delta import Store
from tests.state.postgres import PASSWORD_ENV, Postgres

REMOTE = "s3://acme-billing/ledger"


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ALLOW_HTTP"):
        monkeypatch.delenv(name, raising=False)


def test_a_local_home_keeps_sqlite_beside_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    assert store.state.path == tmp_path / "home" / "state.sqlite"


def test_a_remote_home_without_a_state_url_is_refused() -> None:
    with pytest.raises(UsageError, match=r"\[state\] url") as refused:
        _ = Context(home=REMOTE, config=None).store
    assert refused.value.exit_code == 2


def gpuledger(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command line, as a user runs it (its exit codes and error lines)."""
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", *args], capture_output=True, text=True, check=False
    )


def test_the_refusal_is_exit_2_naming_the_setting() -> None:
    result = gpuledger("--home", REMOTE, "status")
    assert result.returncode == 2
    assert "[state] url" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sqlite_url_serves_a_remote_home_on_purpose(tmp_path: Path) -> None:
    config = StateConfig(url=f"sqlite:///{tmp_path}/shared/state.sqlite")
    store = Store(REMOTE, state=config)
    run = store.state.start_ingest("aws", "x")
    assert store.state.path == tmp_path / "shared" / "state.sqlite"
    assert [r.id for r in Store(REMOTE, state=config).state.ingest_runs()] == [run]


def test_an_unknown_state_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="expected sqlite:///PATH or postgresql://"):
        Store(tmp_path / "home", state=StateConfig(url="mysql://db/x"))


def test_an_http_endpoint_needs_aws_allow_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    result = gpuledger("--home", REMOTE, "status")
    assert result.returncode == 2
    assert "AWS_ALLOW_HTTP=true" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_password_is_never_in_the_url(postgres: Postgres, tmp_path: Path) -> None:
    with_password = postgres.url.replace("gpuledger@", "gpuledger:secret@")
    with pytest.raises(UsageError, match="must not hold the password"):
        Store(tmp_path / "home", state=StateConfig(url=with_password))


def test_a_wrong_password_is_a_clear_error_without_it(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    with pytest.raises(StoreError, match="cannot reach the state database") as failed:
        Store(tmp_path / "home", state=postgres.config())
    assert "not-the-password" not in str(failed.value)


def test_the_state_shows_where_it_is_without_the_password(
    postgres_env: Postgres, tmp_path: Path
) -> None:
    store = Store(tmp_path / "home", state=postgres_env.config())
    where = store.state.describe()
    assert where.startswith(postgres_env.url.replace("postgresql://", "postgresql+psycopg://"))
    assert "test-state-password" not in where
