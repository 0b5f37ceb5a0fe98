"""A real PostgreSQL server for tests: Debian's binaries, a fresh cluster on a free local port.

Import the fixture into a test module (``from tests.state.postgres import postgres``). The cluster
is created once per session in a temporary folder with password authentication; each ledger
home gets its own schema there, so tests on different homes never see each other's state. initdb
refuses to run as root: as root the server runs as the ``postgres`` user (created when missing).
Tests skip, saying why, only when no PostgreSQL binaries are installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuledger.config import StateConfig

PASSWORD = "test-state-password"  # a throwaway cluster's
USER = "gpuledger"
PASSWORD_ENV = "GPULEDGER_TEST_STATE_PASSWORD"  # the variable's name


@dataclass(frozen=True)
class Postgres:
    """A running server: its URL (without the password) and the state settings that reach it."""

    url: str

    def config(self) -> StateConfig:
        return StateConfig(url=self.url, password_env=PASSWORD_ENV)

    def env(self) -> dict[str, str]:
        """What a child process needs in its environment to open the state."""
        return {PASSWORD_ENV: PASSWORD}


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return None if on_path is None else Path(on_path).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user() -> list[str]:
    """The command prefix that runs a server binary as an unprivileged user."""
    if os.geteuid() != 0:
        return []
    if subprocess.run(["id", "-u", "postgres"], capture_output=True, check=False).returncode:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries (initdb) installed: apt-get install postgresql")
    prefix = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="gpuledger-pg-"))
    data, password_file = root / "data", root / "password"
    password_file.write_text(PASSWORD)
    if prefix:
        shutil.chown(root, "postgres")
        shutil.chown(password_file, "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--no-sync",
         "--auth=scram-sha-256", f"--pwfile={password_file}", "--encoding=UTF8"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
         "-l", str(root / "server.log"), "start"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        yield Postgres(f"postgresql://{USER}@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_env(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Postgres:
    """The server, with its password in this process's environment."""
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    return postgres
