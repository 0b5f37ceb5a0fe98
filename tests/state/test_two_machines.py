"""Two machines on one ``s3://`` ledger with one PostgreSQL state: they agree on everything.

Each "machine" is a separate ``gpuledger`` process with its own ``HOME`` (so nothing can be shared
through a home folder), on a moto S3 server and the test PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month, write_two_team_october
from tests.email.smtp_testserver import SmtpServer
from tests.servers import S3, moto_server, s3
from tests.state.postgres import Postgres

__all__ = ["moto_server", "s3"]

pytestmark = pytest.mark.slow

LEDGER = "s3://acme-billing/ledger"
OTHER = "s3://acme-billing/other-ledger"
LEADS = {"nlp": "lead-nlp@example.com", "vision": "lead-vision@example.com"}


@pytest.fixture
def shared(
    s3: S3, postgres_env: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Store:
    """The ledger on S3: September and October, both invoiced.

    Built in a local folder and uploaded: a Delta write from this process would wait on the
    moto server, which runs in this process too.
    """
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_S3_ALLOW_UNSAFE_RENAME", "true")
    local = Store(tmp_path / "built")
    write_month(local, "2026-09", {Alloc.team: "nlp", Alloc.cost: "1000.00"})
    write_two_team_october(local)
    s3.client.create_bucket(Bucket="acme-billing")
    s3.upload_tree(tmp_path / "built" / "tables", "acme-billing", "ledger/tables")
    store = Store(LEDGER, state=postgres_env.config())
    for period in local.state.billing_periods():
        store.state.record_billing_period(
            period["source"],
            period["billing_account"],
            period["period"],
            invoiced=bool(period["invoiced"]),
            delivery=period["delivery"],
        )
    return store


def config_file(tmp_path: Path, postgres: Postgres, smtp_port: int = 25) -> Path:
    teams = "".join(f'[teams.{t}]\nlead = "{lead}"\n' for t, lead in LEADS.items())
    path = tmp_path / "gpuledger.toml"
    path.write_text(
        f'[state]\nurl = "{postgres.url}"\npassword_env = "{next(iter(postgres.env()))}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nstarttls = false\n'
        f'sender = "gpuledger@example.com"\n[email]\nfinance = ["finance@example.com"]\n{teams}'
    )
    return path


def machine(tmp_path: Path, name: str, postgres: Postgres) -> dict[str, str]:
    """The environment of a process on its own machine: its own HOME, the shared settings."""
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    return {**os.environ, **postgres.env(), "HOME": str(home), "GPULEDGER_NO_PROGRESS": "1"}


def gpuledger(env: dict[str, str], config: Path, home: str, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "gpuledger", "--home", home, "--config", str(config), *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return out


def test_a_month_closed_on_one_machine_is_closed_on_the_other(
    shared: Store, postgres_env: Postgres, tmp_path: Path
) -> None:
    config = config_file(tmp_path, postgres_env)
    a, b = (machine(tmp_path, name, postgres_env) for name in ("a", "b"))
    finished(gpuledger(a, config, LEDGER, "close", "--period", "2026-10", "--force"))
    statements = json.loads(
        finished(
            gpuledger(b, config, LEDGER, "chargeback", "--period", "2026-10", "--format", "json")
        )
    )
    assert statements["closed"] is True


def test_an_empty_ledger_lists_none_of_the_others_ingests(
    shared: Store, postgres_env: Postgres, tmp_path: Path
) -> None:
    shared.state.finish_ingest(shared.state.start_ingest("aws", "s3://exports/cur"), status="ok")
    config = config_file(tmp_path, postgres_env)
    b = machine(tmp_path, "b", postgres_env)
    own = json.loads(finished(gpuledger(b, config, LEDGER, "status", "--format", "json")))
    other = json.loads(finished(gpuledger(b, config, OTHER, "status", "--format", "json")))
    assert [run["src"] for run in own["last_ingests"]] == ["s3://exports/cur"]
    assert other["last_ingests"] == []


def test_two_machines_send_each_e_mail_once(
    shared: Store, postgres_env: Postgres, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    config = config_file(tmp_path, postgres_env, smtp_server.port)
    # The month's recommendations first: two first writers of one Delta table on S3 would race
    # (a Delta matter, not the state's), and the savings mails read them.
    finished(
        gpuledger(
            machine(tmp_path, "a", postgres_env), config, LEDGER, "recommend", "--period", "2026-10"
        )
    )
    runs = [
        gpuledger(
            machine(tmp_path, name, postgres_env), config, LEDGER, "email", "--period", "2026-10"
        )
        for name in ("a", "b")
    ]
    outputs = [finished(run) for run in runs]
    assert sorted(message.rcpt_tos[0] for message in smtp_server.handler.received) == [
        "finance@example.com",
        "lead-nlp@example.com",
        "lead-vision@example.com",
    ]
    assert sum(output.count("skipped") for output in outputs) == 3


CLAIM = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from gpuledger.config import load_settings
    from gpuledger.schedule.lock import RunLock
    from gpuledger.store.delta import Store

    store = Store(sys.argv[1], state=load_settings(sys.argv[2]).state)
    fire = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)
    refusal = RunLock(store.state, sys.argv[3]).acquire("attribute", fire, fire)
    print("ran" if refusal is None else "skipped")
    """
)


def test_two_schedulers_run_a_job_once(
    shared: Store, postgres_env: Postgres, tmp_path: Path
) -> None:
    config = config_file(tmp_path, postgres_env)
    claims = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM, LEDGER, str(config), f"host-{name}:1"],
            env=machine(tmp_path, name, postgres_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    assert sorted(finished(claim).strip() for claim in claims) == ["ran", "skipped"]
