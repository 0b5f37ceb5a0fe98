"""`gpuledger email` end to end: a real store, a real SMTP server, the outbox, and `status`."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from gpuledger.cli import app
from gpuledger.errors import DeliveryError, UsageError
from gpuledger.report.email.log import send_records
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month, write_two_team_october
from tests.email.smtp_testserver import SmtpServer

pytestmark = pytest.mark.slow

LEADS = {"nlp": "lead-nlp@example.com", "vision": "lead-vision@example.com"}


def write_ledger(store: Store, *, invoiced: bool = True) -> None:
    write_month(store, "2026-09", {Alloc.team: "nlp", Alloc.cost: "1000.00"})
    write_two_team_october(store, invoiced=invoiced)


def config_file(tmp_path: Path, server: SmtpServer | None) -> Path:
    teams = "".join(f'[teams.{t}]\nlead = "{lead}"\n' for t, lead in LEADS.items())
    port = server.port if server else 25
    path = tmp_path / "gpuledger.toml"
    path.write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\n'
        f'sender = "gpuledger@example.com"\n[email]\nfinance = ["finance@example.com"]\n{teams}'
    )
    return path


def invoke(store: Store, config: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", store.home, "--config", str(config), *args])


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_dry_run_writes_every_message_to_the_outbox_and_records_nothing(
    store: Store, tmp_path: Path
) -> None:
    write_ledger(store, invoiced=False)
    outbox = tmp_path / "outbox"

    result = invoke(
        store,
        config_file(tmp_path, None),
        "email",
        "--period",
        "2026-10",
        "--dry-run",
        "--outbox",
        str(outbox),
    )

    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in outbox.iterdir())
    assert files == [
        "2026-10-chargeback-_finance_.eml",
        "2026-10-savings-nlp.eml",
        "2026-10-savings-vision.eml",
    ]
    nlp = parse((outbox / "2026-10-savings-nlp.eml").read_bytes())
    assert nlp["To"] == "lead-nlp@example.com"
    plain = nlp.get_body(("plain",))
    assert plain is not None
    assert "GPU spend:       $1,500.00" in plain.get_content()
    assert "+$500.00 (+50.0 % of $1,000.00)" in plain.get_content()
    assert send_records(store.state) == []


def test_send_then_rerun_sends_nothing_new(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_ledger(store)
    config = config_file(tmp_path, smtp_server)

    first = invoke(store, config, "email", "--period", "2026-10")
    second = invoke(store, config, "email", "--period", "2026-10")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.output.count(" sent ") == 3
    assert second.output.count("skipped") == 3
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == [
        "finance@example.com",
        "lead-nlp@example.com",
        "lead-vision@example.com",
    ]


def test_finance_waits_for_the_final_invoice(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_ledger(store, invoiced=False)

    result = invoke(store, config_file(tmp_path, smtp_server), "email", "--period", "2026-10")

    assert result.exit_code == 0
    assert "finance notice: waiting for the final invoice of 2026-10" in result.output
    assert len(smtp_server.handler.received) == 2


def test_a_refused_lead_fails_the_command_and_shows_in_status(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_ledger(store)
    config = config_file(tmp_path, smtp_server)
    smtp_server.handler.rcpt_replies.append("550 5.1.1 no such user")

    result = invoke(store, config, "email", "--period", "2026-10", "--team", "nlp")
    status = invoke(store, config, "status")
    status_json = json.loads(invoke(store, config, "status", "--format", "json").output)

    assert isinstance(result.exception, DeliveryError)
    assert str(result.exception) == "1 of 1 message(s) not delivered"
    shown = " ".join(status.output.split())  # the console wraps long lines
    assert (
        "e-mail failed savings 2026-10 for nlp to lead-nlp@example.com after 1 attempt(s):"
        " SMTP refused recipients: lead-nlp@example.com: 550 5.1.1 no such user"
    ) in shown
    (failed,) = status_json["undelivered_email"]
    assert (failed["team"], failed["status"], failed["attempts"]) == ("nlp", "failed", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "period '2026-13' is not a month: expected YYYY-MM"),
        (["--period", "2026-10", "--outbox", "x"], "--outbox only goes with --dry-run"),
        (
            ["--period", "2026-10", "--team", "robotics"],
            "--team 'robotics': no such team with a lead in the config",
        ),
    ],
    ids=["bad-period", "outbox-without-dry-run", "unknown-team"],
)
def test_usage_errors(store: Store, tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke(store, config_file(tmp_path, None), "email", *args)
    assert isinstance(result.exception, UsageError)
    assert str(result.exception) == message
