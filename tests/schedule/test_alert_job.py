"""After each attribute run the alerts job detects the month's alerts and delivers each once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpuledger.config import load_settings
from gpuledger.errors import GpuledgerError
from gpuledger.report.notify import detected
from gpuledger.report.notify.status import DISMISSED, set_status
from gpuledger.schedule.jobs import run_job
from gpuledger.schedule.lock import last_runs
from gpuledger.store.delta import Store
from tests.app.ledger import CONFIG, NLP_LEAD, VISION_LEAD, build_ledger
from tests.email.smtp_testserver import SmtpServer
from tests.notify.webhook_server import Hook, webhook_server

pytestmark = pytest.mark.slow

CFO = "cfo@example.com"
FIRST = datetime(2026, 10, 15, 10, 31, tzinfo=UTC)  # just after the attribute job's :30 fire time
SECOND = datetime(2026, 10, 15, 11, 31, tzinfo=UTC)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    with webhook_server() as started:
        monkeypatch.setenv("GPULEDGER_ALERTS_WEBHOOK_URL", started.url)
        yield started


@pytest.fixture
def ledger(tmp_path: Path, smtp_server: SmtpServer) -> tuple[Store, Path]:
    """The app tests' two-team ledger (nlp over budget, both forecast over), with mail settings."""
    config = tmp_path / "gpuledger.toml"
    config.write_text(
        CONFIG.replace("{auth}", "single-user")
        + f'\n[email]\nfinance = ["{CFO}"]\n\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_server.port}'
        + '\nstarttls = false\nsender = "gpuledger@example.com"\n'
    )
    return build_ledger(tmp_path / "home", config), config


def alert_run(store: Store) -> tuple[str, str]:
    """The status and line of the latest alerts run, which follows every attribute run."""
    run = last_runs(store.state)["alerts"]
    return run["status"], run["message"]


def mailed(server: SmtpServer) -> list[str]:
    return sorted(to for r in server.handler.received for to in r.rcpt_tos)


def test_running_the_job_twice_sends_nothing_new(
    ledger: tuple[Store, Path], smtp_server: SmtpServer, hook: Hook
) -> None:
    store, config = ledger
    alerts = detected.month_alerts(store, load_settings(config), "2026-10")
    assert len(alerts) == 4  # nlp: 80 %, 100 %, forecast; vision: forecast
    assert run_job("attribute", store.home, str(config), now=FIRST) == "attributed 2026-10"
    assert alert_run(store) == ("ok", "alerts 2026-10: 12 sent")  # 4 × lead, finance, webhook
    assert mailed(smtp_server) == [CFO] * 4 + [NLP_LEAD] * 3 + [VISION_LEAD]
    assert sorted(body["text"].splitlines()[0] for body in hook.received) == sorted(
        f"GPU budget alert: {alert.title}" for alert in alerts
    )
    run_job("attribute", store.home, str(config), now=SECOND)
    assert alert_run(store) == ("ok", "alerts 2026-10: 12 skipped")
    assert len(smtp_server.handler.received) == 8
    assert len(hook.requests) == 4


def test_a_dismissed_alert_is_not_sent_by_the_job(
    ledger: tuple[Store, Path], smtp_server: SmtpServer, hook: Hook
) -> None:
    store, config = ledger
    alerts = detected.month_alerts(store, load_settings(config), "2026-10")
    vision = next(alert for alert in alerts if alert.team == "vision")
    set_status(store.state, vision, DISMISSED, "planned: the quarter's evaluation runs")
    run_job("attribute", store.home, str(config), now=FIRST)
    assert alert_run(store) == ("ok", "alerts 2026-10: 1 dismissed, 9 sent")
    assert VISION_LEAD not in mailed(smtp_server)
    assert len(hook.received) == 3


def test_a_failed_alerts_run_is_recorded_and_leaves_attribution_done(
    ledger: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch, hook: Hook
) -> None:
    store, config = ledger

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise GpuledgerError("detector could not read daily_spend")

    monkeypatch.setattr(detected, "month_alerts", broken)
    assert run_job("attribute", store.home, str(config), now=FIRST) == "attributed 2026-10"
    assert last_runs(store.state)["attribute"]["status"] == "ok"
    assert alert_run(store) == ("failed", "detector could not read daily_spend")
    assert hook.requests == []
