"""`gpuledger alerts`: the month's alerts with status and delivery, status changes, a dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuledger.commands.alerts import run
from gpuledger.commands.context import Context
from gpuledger.errors import UsageError
from gpuledger.report.notify.delivery_state import alert_states
from gpuledger.report.notify.detected import month_alerts
from tests.app.ledger import build_ledger, write_config


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    config = write_config(tmp_path)
    build_ledger(tmp_path / "home", config)
    return Context(str(tmp_path / "home"), config)


def listed(ctx: Context, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    run(ctx, period="2026-10", format="json")
    document = json.loads(capsys.readouterr().out)
    assert (document["period"], document["currency"]) == ("2026-10", "USD")
    alerts: list[dict[str, object]] = document["alerts"]
    return alerts


def test_json_lists_each_alert_with_status_and_delivery(
    ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    alerts = listed(ctx, capsys)
    nlp_full = next(a for a in alerts if a["team"] == "nlp" and a["threshold"] == 1.0)
    assert (nlp_full["expected"], nlp_full["actual"], nlp_full["impact"]) == (
        "15.00",
        "20.00",
        "5.00",
    )
    assert nlp_full["status"] == "open"
    assert nlp_full["delivery"] == {
        "lead_mail": "not sent",
        "finance_mail": "not sent",
        "webhook": "not sent",
        "detail": None,
    }


def test_dismiss_by_id_and_unknown_ids(ctx: Context, capsys: pytest.CaptureFixture[str]) -> None:
    first = str(listed(ctx, capsys)[0]["id"])
    run(ctx, period="2026-10", format="json", dismiss=first, reason="planned")
    capsys.readouterr()
    assert {a["id"]: a["status"] for a in listed(ctx, capsys)}[first] == "dismissed"
    with pytest.raises(UsageError, match="no alert 'ano-nope' in this month"):
        run(ctx, period="2026-10", acknowledge="ano-nope")


def test_dry_run_writes_messages_and_records_nothing(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPULEDGER_ALERTS_WEBHOOK_URL", "https://hooks.example.com/secret-path")
    outbox = tmp_path / "outbox"
    run(ctx, period="2026-10", send=True, dry_run=True, outbox=outbox)
    assert len(list(outbox.glob("*.eml"))) == 4  # one per alert to its lead (no finance address)
    bodies = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    assert len(bodies) == 4
    assert all("/alerts?period=2026-10&id=" in body["text"] for body in bodies)
    assert not any("secret-path" in p.read_text() for p in outbox.iterdir())
    store = ctx.read_store
    states = alert_states(store.state, month_alerts(store, ctx.settings, "2026-10"))
    assert {s.lead_mail for s in states.values()} == {"not sent"}
    assert {s.webhook for s in states.values()} == {"not sent"}


def test_dry_run_needs_send(ctx: Context) -> None:
    with pytest.raises(UsageError, match="--dry-run goes with --send"):
        run(ctx, period="2026-10", dry_run=True)
