"""The command line contract: exit codes 0/1/2, global options, clear one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpuledger.store.delta import Store


def _gpuledger(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_on_an_empty_home(tmp_path: Path) -> None:
    result = _gpuledger("status", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "nothing ingested yet" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "aws", "/no/such/export"], "no such file or folder"),
        (["--config", "/no/such.toml", "status"], "cannot read config file"),
        (["sample-data", "--out", "x", "--period", "2026-13"], "is not a month"),
        (["frobnicate"], "No such command"),
    ],
    ids=["missing-source", "missing-config", "bad-period", "unknown-command"],
)
def test_bad_usage_exits_2_with_one_clear_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = _gpuledger(*args, home=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_home_from_environment(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "gpuledger", "status", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"GPULEDGER_HOME": str(tmp_path / "h"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "h") in result.stdout
    assert Store(tmp_path / "h").version("cost") is None
