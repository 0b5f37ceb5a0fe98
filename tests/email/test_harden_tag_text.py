"""The month's mail goes out whatever the tag text (issue #19 item 8): finance's workbook opens."""

from __future__ import annotations

import email
import email.policy
import io
import json
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

pytestmark = pytest.mark.slow

HOSTILE = ["a" * 30 + "'b", "x[1]:*?/\\", "a\x1b[31mred", "t" * 31 + "1", "t" * 31 + "2"]


def test_dry_run_with_hostile_team_names_writes_a_workbook_that_opens(
    store: Store, tmp_path: Path
) -> None:
    write_month(
        store,
        "2026-10",
        *({Alloc.team: team, Alloc.cost: "10.00", Alloc.ResourceId: team} for team in HOSTILE),
    )
    leads = "".join(
        f'[teams.{json.dumps(team)}]\nlead = "lead{n}@example.com"\n'
        for n, team in enumerate(HOSTILE)
    )
    config = tmp_path / "gpuledger.toml"
    config.write_text(
        '[smtp]\nhost = "127.0.0.1"\nsender = "gpuledger@example.com"\n'
        f'[email]\nfinance = ["finance@example.com"]\n{leads}'
    )
    outbox = tmp_path / "outbox"
    options = ["--home", store.home, "--config", str(config)]
    result = CliRunner().invoke(
        app, [*options, "email", "--period", "2026-10", "--dry-run", "--outbox", str(outbox)]
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    finance = next(outbox.glob("*chargeback*.eml"))
    message = email.message_from_bytes(finance.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    workbook = next(part for part in message.iter_attachments())
    book = openpyxl.load_workbook(io.BytesIO(workbook.get_content()))
    assert len(book.sheetnames) == 1 + len(HOSTILE)
    book.save(io.BytesIO())
    assert len(list(outbox.glob("*savings*.eml"))) == len(HOSTILE)
