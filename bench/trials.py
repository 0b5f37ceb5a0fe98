"""Kill -9 and concurrency trials on the sample company's ledger: trials, losses, duplicates.

    .venv/bin/python -m bench.trials                   # 20 trials, a few minutes
    .venv/bin/python -m bench.trials --trials 60 --seed 3

Builds the sample company at scale 1 once (``gpuledger demo --no-app``, kept under
``.bench-data/trials/``) and takes its stored totals as the reference: cost rows and BilledCost
per source and month, gpu_usage rows per source and month, each month's chargeback invoice. Each
trial runs on a fresh copy of that home, through the real command line:

- ``kill-ingest`` / ``kill-attribute``: the command is killed with SIGKILL at a random moment of
  its usual run time, ``status`` must not show the run as ``running``, then it is run again;
- ``two-ingests``, ``ingest+attribute``: both at once, then whatever failed is run again (and
  the month re-attributed where ``chargeback`` says the allocation is stale);
- ``two-closes``: ``close --force`` of one month twice at once: one closes it, once;
- ``two-sends``, ``two-dry-runs``: ``email`` twice at once, to a local SMTP sink or an outbox;
- ``two-schedulers``: two processes run the scheduler's attribute and weekly e-mail jobs of
  the same fire time.

A **loss** is a stored total that differs from the reference after the successful rerun; a
**duplicate** is a table or month with more rows than the reference, a month closed twice, or
an e-mail delivered or written twice.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from email import message_from_bytes
from pathlib import Path
from typing import Any

import polars as pl
from aiosmtpd.controller import Controller

from gpuledger.commands import attribute
from gpuledger.commands.context import Context
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.errors import GpuledgerError, UsageError
from gpuledger.report.export.render import statements_json
from gpuledger.schema import Cost, Stmt, Usage
from gpuledger.store.delta import Store

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / ".bench-data" / "trials"
SAMPLE = REPO / "sample_data"
INGESTS = {"aws": "aws", "gcp": "gcp", "focus": "azure", "gpu": "gpu"}
PERIOD = "2026-10"
CONFIG = "trial.toml"
ATTRIBUTE = ("attribute", "--period", PERIOD)
WEEKLY_FIRE = "2026-10-26T12:00:00+00:00"  # a Monday whose past week lies in PERIOD


@dataclass
class Outcome:
    """What one trial found."""

    kind: str
    losses: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    stuck: int = 0  # killed runs that `status` still showed as running
    note: str = ""


def gpuledger(home: Path, *args: str) -> subprocess.Popen[str]:
    """``gpuledger ARGS`` on ``home`` with the trial config (the demo's, SMTP to the sink)."""
    command = [sys.executable, "-m", "gpuledger", "--home", str(home)]
    command += ["--config", str(home / CONFIG), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def run(home: Path, *args: str) -> tuple[int, str, str]:
    return finish(gpuledger(home, *args))


def ingest_args(source: str) -> tuple[str, ...]:
    return ("ingest", source, str(SAMPLE / INGESTS[source]))


def base_home() -> Path:
    """The sample company ingested and attributed, built once."""
    home = DATA / "base"
    if (DATA / "ready").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    demo = [sys.executable, "-m", "gpuledger", "--home", str(home), "demo", "--no-app"]
    done = subprocess.run(demo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"demo failed:\n{done.stderr[-3000:]}")
    (DATA / "ready").write_text("built by bench/trials.py\n")
    return home


def totals(home: Path) -> dict[str, Any]:
    """What a trial compares: rows and money per source and month, each month's invoice."""
    store = Store(home)
    cost = (
        store.scan("cost")
        .group_by(Cost.x_Source, Cost.x_BillingPeriod)
        .agg(pl.len().alias("rows"), pl.col(Cost.BilledCost).sum().cast(pl.String))
        .collect()
    )
    usage = (
        store.scan("gpu_usage")
        .group_by(Usage.source, Usage.x_BillingPeriod)
        .agg(pl.len().alias("rows"))
        .collect()
    )
    statements = store.scan("statement").group_by(Stmt.period).agg(pl.len()).collect()
    return {
        "cost": {f"{r[0]}/{r[1]}": (r[2], r[3]) for r in cost.iter_rows()},
        "gpu_usage": {f"{r[0]}/{r[1]}": r[2] for r in usage.iter_rows()},
        "statement": {r[0]: r[1] for r in statements.iter_rows()},
    }


def chargeback(home: Path) -> dict[str, Any] | None:
    """PERIOD's statements as JSON (in this process), re-attributing once if they are stale."""
    context = Context(str(home), home / CONFIG)
    try:
        statements = build_statements(context.store, context.settings, PERIOD)
    except UsageError as exc:
        if "is stale" not in str(exc):
            return None
        with contextlib.redirect_stdout(io.StringIO()):
            attribute.run(context, period=PERIOD)
        statements = build_statements(context.store, context.settings, PERIOD)
    except GpuledgerError:
        return None
    return statements_json(statements)


def invoice(document: dict[str, Any] | None) -> str | None:
    """The invoice total and what the teams' statements add up to."""
    if document is None:
        return None
    teams = sum(Decimal(team["amount_due"]) for team in document["teams"])
    return f"{document['invoice_total']} (teams {teams})"


def statement_lines(document: dict[str, Any] | None) -> int:
    teams = document["teams"] if document else []
    return sum(len(team["lines"]) + len(team["adjustments"]) for team in teams)


def _rows(value: Any) -> int:
    return int(value[0] if isinstance(value, tuple) else value)


def compare(outcome: Outcome, reference: dict[str, Any], home: Path) -> None:
    """Losses and duplicates of ``home`` against the reference."""
    now = totals(home)
    for table in ("cost", "gpu_usage"):
        for key, expected in reference[table].items():
            found = now[table].get(key)
            if found == expected:
                continue
            doubled = found is not None and _rows(found) > _rows(expected)
            where = outcome.duplicates if doubled else outcome.losses
            where.append(f"{table} {key}: {found} vs {expected}")
    for period, rows in now["statement"].items():
        if rows > reference["lines"]:
            outcome.duplicates.append(f"statement {period}: {rows} rows")
    found_invoice = invoice(chargeback(home))
    if found_invoice != reference["invoice"]:
        outcome.losses.append(f"invoice {PERIOD}: {found_invoice} vs {reference['invoice']}")


def stuck_runs(home: Path) -> int:
    """Ingest runs ``status`` shows as running (none is, after a kill)."""
    code, out, _err = run(home, "status", "--format", "json")
    if code != 0:
        return 0
    return sum(r["status"] == "running" for r in json.loads(out)["last_ingests"])


def killed(home: Path, args: tuple[str, ...], within: float, rng: random.Random) -> None:
    process = gpuledger(home, *args)
    time.sleep(rng.uniform(0.0, within))
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def both(home: Path, first: tuple[str, ...], second: tuple[str, ...]) -> list[int]:
    """Exit codes of two commands started at once."""
    processes = [gpuledger(home, *first), gpuledger(home, *second)]
    return [finish(p)[0] for p in processes]


class Sink:
    """A local SMTP server that keeps (recipient, subject) of every message it accepts."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        subject = str(message_from_bytes(envelope.content)["Subject"])
        self.received += [(rcpt, subject) for rcpt in envelope.rcpt_tos]
        return "250 OK"

    def check(self, outcome: Outcome) -> None:
        """Messages delivered twice are duplicates; none delivered means the trial tested nothing."""
        if not self.received:
            raise SystemExit(f"{outcome.kind}: no message reached the SMTP sink")
        counts = Counter(self.received)
        outcome.duplicates += [f"{key} x{n}" for key, n in counts.items() if n > 1]
        outcome.note = f"{len(counts)} messages delivered"


def write_trial_config(home: Path, port: int) -> None:
    """The demo's config with its SMTP server replaced by the local sink."""
    text = (home / "gpuledger.toml").read_text()
    smtp = (
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = false\nsender = "g@acme.example"\n'
    )
    block = re.compile(r"\[smtp\]\n(?:[^\[\n][^\n]*\n|\n)*")
    (home / CONFIG).write_text(block.sub(smtp + "\n", text, count=1))


def scheduler_jobs(home: Path) -> subprocess.Popen[str]:
    """One scheduler process's attribute and weekly e-mail jobs of one fire time."""
    code = (
        "import sys; from datetime import datetime; from gpuledger.schedule.jobs import run_job;"
        f"now = datetime.fromisoformat('{WEEKLY_FIRE}');"
        "print(run_job('attribute', sys.argv[1], sys.argv[2], now=now));"
        "print(run_job('weekly-email', sys.argv[1], sys.argv[2], now=now))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(home), str(home / CONFIG)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


Trial = Callable[[Path, Sink, random.Random, dict[str, float]], Outcome]


def kill_ingest(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    source = rng.choice(sorted(INGESTS))
    outcome = Outcome(f"kill-ingest {source}")
    killed(home, ingest_args(source), t[source], rng)
    outcome.stuck = stuck_runs(home)
    if run(home, *ingest_args(source))[0] != 0:
        outcome.losses.append(f"rerun of ingest {source} failed")
    return outcome


def kill_attribute(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    outcome = Outcome("kill-attribute")
    killed(home, ATTRIBUTE, t["attribute"], rng)
    if run(home, "attribute", "--period", PERIOD)[0] != 0:
        outcome.losses.append("rerun of attribute failed")
    return outcome


def two_ingests(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    source = rng.choice(sorted(INGESTS))
    outcome = Outcome(f"two-ingests {source}")
    codes = both(home, ingest_args(source), ingest_args(source))
    if any(codes) and run(home, *ingest_args(source))[0] != 0:
        outcome.losses.append(f"rerun of ingest {source} failed")
    return outcome


def ingest_attribute(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    source = rng.choice(sorted(INGESTS))
    outcome = Outcome(f"ingest+attribute {source}")
    codes = both(home, ingest_args(source), ATTRIBUTE)
    if codes[0] and run(home, *ingest_args(source))[0] != 0:
        outcome.losses.append(f"rerun of ingest {source} failed")
    return outcome


def two_closes(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    outcome = Outcome("two-closes")
    args = ("close", "--period", PERIOD, "--force")
    codes = both(home, args, args)
    if codes.count(0) != 1:
        outcome.duplicates.append(f"close exit codes {codes}")
    return outcome


def two_sends(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    outcome = Outcome("two-sends")
    sink.received.clear()
    both(home, ("email", "--period", PERIOD), ("email", "--period", PERIOD))
    sink.check(outcome)
    return outcome


def two_dry_runs(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    outcome = Outcome("two-dry-runs")
    outbox = home / "trial-outbox"
    args = ("email", "--period", PERIOD, "--dry-run", "--outbox", str(outbox))
    both(home, args, args)
    names = [p.name for p in outbox.iterdir()]
    expected = {p.name for p in (home / "outbox").iterdir()}
    if sorted(names) != sorted(expected):
        outcome.duplicates.append(f"outbox {sorted(names)} vs {sorted(expected)}")
    return outcome


def two_schedulers(home: Path, sink: Sink, rng: random.Random, t: dict[str, float]) -> Outcome:
    outcome = Outcome("two-schedulers")
    sink.received.clear()
    processes = [scheduler_jobs(home), scheduler_jobs(home)]
    for process in processes:
        process.communicate(timeout=600)
    sink.check(outcome)
    return outcome


TRIALS: tuple[Trial, ...] = (
    kill_ingest, kill_attribute, kill_ingest, kill_attribute, two_ingests,
    ingest_attribute, two_closes, two_sends, two_dry_runs, two_schedulers,
)  # fmt: skip


def calibrate(base: Path, work: Path) -> dict[str, float]:
    """Seconds each killed command usually runs, measured once on a copy and kept."""
    kept = DATA / "calibration.json"
    if kept.exists():
        return dict(json.loads(kept.read_text()))
    home = fresh_copy(base, work)
    seconds: dict[str, float] = {}
    for name, args in [*((s, ingest_args(s)) for s in INGESTS), ("attribute", ATTRIBUTE)]:
        start = time.perf_counter()
        run(home, *args)
        seconds[name] = round(time.perf_counter() - start, 1)
    kept.write_text(json.dumps(seconds))
    return seconds


def fresh_copy(base: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base, work)
    return work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--verbose", action="store_true", help="print each trial's findings")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    base = base_home()
    work = DATA / "work"
    sink = Sink()
    sink.controller.start()
    try:
        write_trial_config(base, sink.port)
        reference = totals(base)
        document = chargeback(base)
        reference["lines"] = statement_lines(document)
        reference["invoice"] = invoice(document)
        seconds = calibrate(base, work)
        print(f"calibration (s): {seconds}", flush=True)
        outcomes = []
        started = time.perf_counter()
        for number in range(options.trials):
            home = fresh_copy(base, work)
            outcome = TRIALS[number % len(TRIALS)](home, sink, rng, seconds)
            compare(outcome, reference, home)
            outcomes.append(outcome)
            if options.verbose or outcome.losses or outcome.duplicates or outcome.stuck:
                print(f"{number + 1:3} {outcome}", flush=True)
    finally:
        sink.controller.stop()
    report(outcomes, time.perf_counter() - started)


def report(outcomes: list[Outcome], seconds: float) -> None:
    kinds = sorted({o.kind.split()[0] for o in outcomes})
    print(f"{'trial':18} {'trials':>6} {'losses':>6} {'duplicates':>10} {'stuck running':>13}")
    for kind in kinds:
        mine = [o for o in outcomes if o.kind.split()[0] == kind]
        print(
            f"{kind:18} {len(mine):6} {sum(bool(o.losses) for o in mine):6}"
            f" {sum(bool(o.duplicates) for o in mine):10} {sum(o.stuck for o in mine):13}"
        )
    print(
        f"trials {len(outcomes)}, losses {sum(bool(o.losses) for o in outcomes)},"
        f" duplicates {sum(bool(o.duplicates) for o in outcomes)},"
        f" stuck running {sum(o.stuck for o in outcomes)} ({seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
