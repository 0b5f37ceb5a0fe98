"""A command whose stack is not installed says which extra to install, and exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_without(package: str, *argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter where importing ``package`` fails as if not installed."""
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"
        f"sys.argv = ['gpuledger', '--home', {str(home)!r}, *{list(argv)!r}]\n"
        "from gpuledger.cli import main; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )


@pytest.mark.parametrize(
    ("package", "argv", "extra"),
    [
        ("polars", ("status",), "server"),
        ("deltalake", ("attribute", "--period", "2026-10"), "server"),
        ("pynvml", ("agent", "--once"), "agent"),
    ],
    ids=["status-without-polars", "attribute-without-deltalake", "agent-without-pynvml"],
)
def test_missing_stack_names_the_extra(
    tmp_path: Path, package: str, argv: tuple[str, ...], extra: str
) -> None:
    done = run_without(package, *argv, home=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"pip install 'gpuledger[{extra}]'" in done.stderr
    assert repr(package) in done.stderr
