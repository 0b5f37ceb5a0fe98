"""The agent stays light: on a GPU host it runs without the server stack (module sets, not time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVER_STACK = (
    "polars",
    "pyarrow",
    "pandas",
    "numpy",
    "deltalake",
    "streamlit",
    "boto3",
    "google",
    "sqlalchemy",
    "apscheduler",
    "matplotlib",
    "altair",
)


def heavy(modules: list[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in modules} & set(SERVER_STACK))


def imported_by(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    ["import gpuledger.cli", "import gpuledger.commands.agent", "import gpuledger.agent.sampler"],
    ids=["cli", "agent-command", "agent-sampler"],
)
def test_importing_the_agent_loads_no_server_stack(code: str) -> None:
    assert heavy(imported_by(code)) == []


def test_the_check_sees_the_server_stack() -> None:
    assert heavy(imported_by("import gpuledger.store.delta")) == [
        "deltalake",
        "numpy",
        "polars",
        "pyarrow",
    ]


def test_a_bucket_sampled_and_spooled_loads_no_server_stack(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fakes.agent_host", str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    seen = json.loads(done.stdout.splitlines()[-1])
    assert heavy(seen["modules"]) == []
    assert "gpuledger.agent.sampler" in seen["modules"]
    assert len(list((tmp_path / "spool").glob("gpu_usage-*.csv"))) == 1
