"""Every usage error in one style (``error: …``, exit 2), help without ``--no-…`` twins, and
read-only commands that refuse a ledger home that does not exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.errors import UsageError


def gpuledger(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["waste", "--format", "pdf"], "Invalid value for '--format': 'pdf' is not one of"),
        (["chargeback", "--perio", "2026-10"], "No such option: --perio"),
        (["explain", "--period", "2026-10"], "Missing option '--team'"),
        (["ingest"], "Missing command."),
    ],
    ids=["bad-choice", "unknown-option", "missing-option", "missing-command"],
)
def test_usage_errors_read_like_every_other_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = gpuledger("--home", str(tmp_path), *args)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert re.search(r"\(see `gpuledger [a-z ]+ --help`\)$", line), line
    assert "Usage:" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["close"], ["email"], ["maintain"], ["agent"], ["ingest", "aws"], ["ingest", "gcp"]],
    ids=["close", "email", "maintain", "agent", "ingest-aws", "ingest-gcp"],
)
def test_help_lists_flags_without_negations(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert re.search(r"--no-[a-z]", result.output) is None, result.output
    assert re.search(r"--(force|dry-run|once|reopen)\b", result.output)


@pytest.mark.parametrize(
    "args",
    [
        ["chargeback"],
        ["waste"],
        ["recommend"],
        ["explain", "--team", "nlp"],
        ["attribute"],
        ["close"],
        ["email", "--dry-run"],
    ],
    ids=["chargeback", "waste", "recommend", "explain", "attribute", "close", "email"],
)
def test_read_commands_refuse_a_home_that_does_not_exist(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "mistyped"
    with pytest.raises(UsageError, match=f"ledger home {home} does not exist"):
        CliRunner().invoke(
            app, ["--home", str(home), *args, "--period", "2026-10"], catch_exceptions=False
        )
    assert not home.exists()
