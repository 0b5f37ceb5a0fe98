"""Job runs invoked directly at chosen moments: what each job does, and one run per fire time."""

from __future__ import annotations

import email
import email.policy
import logging
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.chargeback.close import close_period
from gpuledger.errors import GpuledgerError
from gpuledger.schedule.jobs import run_job
from gpuledger.schedule.lock import last_runs
from gpuledger.schema import UNALLOCATED, Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month, write_two_team_october
from tests.conftest import FIXTURES, REPO
from tests.email.smtp_testserver import SmtpServer

pytestmark = pytest.mark.slow

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_NOV_2 = datetime(2026, 11, 2, 8, 0, tzinfo=BERLIN)  # ISO week 45
MONDAY_NOV_9 = datetime(2026, 11, 9, 8, 0, tzinfo=BERLIN)  # ISO week 46
LEADS = {"nlp": "lead-nlp@example.com", "vision": "lead-vision@example.com"}


def write_config(tmp_path: Path, server: SmtpServer, extra: str = "") -> str:
    teams = "".join(f'[teams.{team}]\nlead = "{lead}"\n' for team, lead in LEADS.items())
    path = tmp_path / "gpuledger.toml"
    path.write_text(
        f"""
[schedule]
timezone = "Europe/Berlin"

[smtp]
host = "127.0.0.1"
port = {server.port}
starttls = false
sender = "gpuledger@example.com"

[email]
finance = ["finance@example.com"]

{teams}
{extra}
"""
    )
    return str(path)


def spend(store: Store) -> dict[tuple[str, str], Decimal]:
    frame = (
        store.read("allocation")
        .group_by(Alloc.x_BillingPeriod, Alloc.team)
        .agg(pl.col(Alloc.cost).sum())
    )
    return {
        (r[Alloc.x_BillingPeriod], r[Alloc.team]): Decimal(r[Alloc.cost]).quantize(Decimal("0.01"))
        for r in frame.to_dicts()
    }


def subjects(server: SmtpServer) -> list[tuple[str, str]]:
    out = []
    for item in server.handler.received:
        message = email.message_from_bytes(item.content, policy=email.policy.default)
        out.append((item.rcpt_tos[0], str(message["Subject"])))
    return sorted(out)


def test_weekly_email_sends_once_per_lead_and_week(
    store: Store, tmp_path: Path, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    write_two_team_october(store)
    config = write_config(tmp_path, smtp_server)
    caplog.set_level(logging.INFO, logger="gpuledger")

    assert run_job("weekly-email", store.home, config, now=MONDAY_NOV_2) == (
        "week 2026-W45 (2026-10): 2 sent"
    )
    assert subjects(smtp_server) == [
        ("lead-nlp@example.com", "GPU spend and savings, week 2026-W45"),
        ("lead-vision@example.com", "GPU spend and savings, week 2026-W45"),
    ]
    assert "weekly-email: week 2026-W45 (2026-10): 2 sent" in caplog.messages

    again = run_job("weekly-email", store.home, config, now=MONDAY_NOV_2.replace(minute=20))
    assert again.startswith("skipped: run for 2026-11-02T07:00:00+00:00 already ok by ")

    assert run_job("weekly-email", store.home, config, now=MONDAY_NOV_9) == (
        "week 2026-W46 (2026-11): 2 sent"
    )
    assert len(smtp_server.handler.received) == 4


def test_weekly_email_rerun_on_a_fresh_lock_still_sends_nothing_new(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """The run lock and the send log are independent guards: either one stops a duplicate."""
    write_two_team_october(store)
    config = write_config(tmp_path, smtp_server)
    run_job("weekly-email", store.home, config, now=MONDAY_NOV_2)
    with store.state.connect() as db:
        db.execute("DELETE FROM schedule_runs")

    assert run_job("weekly-email", store.home, config, now=MONDAY_NOV_2) == (
        "week 2026-W45 (2026-10): 2 skipped"
    )
    assert len(smtp_server.handler.received) == 2


@pytest.mark.parametrize(
    ("invoiced", "result", "messages"),
    [
        (False, "2026-10: waiting for the final invoice", 0),
        (True, "2026-10: 1 sent", 1),
    ],
    ids=["provisional-invoice-waits", "final-invoice-sends"],
)
def test_monthly_notice_waits_for_the_final_invoice(
    store: Store,
    tmp_path: Path,
    smtp_server: SmtpServer,
    invoiced: bool,
    result: str,
    messages: int,
) -> None:
    write_two_team_october(store, invoiced=invoiced)
    config = write_config(tmp_path, smtp_server)

    assert (
        run_job("monthly-notice", store.home, config, now=datetime(2026, 11, 3, 9, tzinfo=BERLIN))
        == result
    )
    assert len(smtp_server.handler.received) == messages
    if messages:
        (item,) = smtp_server.handler.received
        message = email.message_from_bytes(item.content, policy=email.policy.default)
        assert item.rcpt_tos == ["finance@example.com"]
        assert [a.get_filename() for a in message.iter_attachments()] == [
            "gpuledger-chargeback-2026-10.xlsx"
        ]


def test_monthly_notice_is_sent_once_across_daily_runs(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_two_team_october(store)
    config = write_config(tmp_path, smtp_server)

    results = [
        run_job("monthly-notice", store.home, config, now=datetime(2026, 11, d, 9, tzinfo=BERLIN))
        for d in (3, 4, 5)
    ]
    assert results == ["2026-10: 1 sent", "2026-10: 1 skipped", "2026-10: 1 skipped"]


def test_a_failing_source_fails_the_run_but_not_the_other_sources(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    good = FIXTURES / "gcp" / "export_resource_v1.json"
    missing = tmp_path / "missing.json"
    config = write_config(tmp_path, smtp_server, f'[sources]\ngcp = ["{missing}", "{good}"]\n')

    with pytest.raises(GpuledgerError, match=r"1 source\(s\) failed: gcp .*missing.json"):
        run_job("ingest-billing", store.home, config, now=MONDAY_NOV_2)

    assert store.read("cost").height > 0
    last = last_runs(store.state)["ingest-billing"]
    assert last["status"] == "failed"
    assert "missing.json" in last["message"]


WORKER = """
import sys
from datetime import datetime
from decimal import Decimal
from gpuledger.schedule.jobs import run_job
print(run_job("weekly-email", sys.argv[1], sys.argv[2], now=datetime.fromisoformat(sys.argv[3])))
"""


def test_two_scheduler_processes_run_a_job_once(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_two_team_october(store)
    config = write_config(tmp_path, smtp_server)
    command = [sys.executable, "-c", WORKER, store.home, config, MONDAY_NOV_2.isoformat()]

    workers = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    skipped, ran = sorted(
        (w.communicate(timeout=120)[0].strip() for w in workers),
        key=lambda out: not out.startswith("skipped"),
    )

    assert ran == "week 2026-W45 (2026-10): 2 sent"
    assert skipped.startswith("skipped: run for 2026-11-02T07:00:00+00:00 ")
    assert len(smtp_server.handler.received) == 2


def test_attribution_reruns_open_months_only(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_month(store, "2026-09", {Alloc.team: "nlp", Alloc.cost: "1000.00"})
    write_two_team_october(store)
    config = write_config(tmp_path, smtp_server)
    close_period(store, Settings(), "2026-09")
    versions = store.history("allocation")

    assert run_job("attribute", store.home, config, now=MONDAY_NOV_2) == "attributed 2026-10"
    assert len(store.history("allocation")) == len(versions) + 1
    # The hand-written October allocation is replaced by the engine's: the cost rows carry no team
    # tag, so all 2,200.00 lands on (unallocated); closed September keeps its allocation.
    assert spend(store) == {
        ("2026-09", "nlp"): Decimal("1000.00"),
        ("2026-10", UNALLOCATED): Decimal("2200.00"),
    }


def test_recommendations_are_recomputed_for_open_months(
    store: Store, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    write_two_team_october(store)
    config = write_config(tmp_path, smtp_server)

    assert (
        run_job("recommend", store.home, config, now=MONDAY_NOV_2) == "recommendations 2026-10: 0"
    )
    assert len(store.history("recommendation")) == 1
