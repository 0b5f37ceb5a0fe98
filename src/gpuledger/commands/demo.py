"""`gpuledger demo`: a fresh home, the sample company's exports through every stage, the app.

The steps are the ones a real deployment runs, in the same order and through the same code:
ingest each source (the on-prem clusters after the telemetry they are priced from), attribute
each month, print the chargeback, recommendations and waste, then
serve the app. Nothing here computes anything itself.
"""

from __future__ import annotations

import importlib
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule

from gpuledger.commands.checkout import source_checkout
from gpuledger.commands.context import Context
from gpuledger.errors import UsageError
from gpuledger.sample import write_sample
from gpuledger.sample.company import build_company

MARKER = ".gpuledger-demo"
DEFAULT_HOME = Path.home() / ".gpuledger-demo"
SOURCES = (
    ("aws", "aws"),
    ("gcp", "gcp"),
    ("focus", "azure"),
    ("gpu", "gpu"),
    ("slurm", "slurm"),
)


def _repo_sample_data() -> Path | None:
    """The checkout's committed ``sample_data/``; an installed wheel has none (it generates)."""
    checkout = source_checkout()
    if checkout is None or not (checkout / "sample_data" / "aws").is_dir():
        return None
    return checkout / "sample_data"


def _write_example_config(target: Path) -> None:
    """The annotated example config that ships in the package (``gpuledger/data``)."""
    example = resources.files("gpuledger").joinpath("data", "gpuledger.toml")
    target.write_bytes(example.read_bytes())


def _fresh_home(home: Path) -> None:
    """Start from an empty home; refuse to wipe a folder the demo did not create."""
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise UsageError(
                f"{home} is not empty and was not made by the demo; pass --home to a new folder"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by `gpuledger demo`; safe to delete\n")


def _step(console: Console, title: str, command: str, ctx: Context, **options: Any) -> None:
    console.print(Rule(title, align="left"))
    module = importlib.import_module(f"gpuledger.commands.{command}")
    module.run(ctx, **options)


def run(ctx: Context, *, no_app: bool, port: int) -> None:
    console = Console()
    home = Path(ctx.home) if ctx.home else DEFAULT_HOME
    _fresh_home(home)
    if ctx.config is None:
        _write_example_config(home / "gpuledger.toml")
        ctx = Context(home=str(home), config=home / "gpuledger.toml")
    else:
        ctx = Context(home=str(home), config=ctx.config)
    sample = _repo_sample_data()
    if sample is None:
        sample = home / "sample_data"
        console.print(f"writing sample data to {sample}")
        write_sample(sample)
    months = build_company(1, 7).months
    console.print(f"ledger home: {home}\nsample data: {sample}", highlight=False)
    for source, folder in SOURCES:
        _step(console, f"ingest {source}", "ingest", ctx, source=source, src=str(sample / folder))
    if ctx.settings.clusters:  # the on-prem cluster, priced from its settings and the telemetry
        _step(console, "ingest onprem", "ingest", ctx, source="onprem", src="all", periods=months)
    for month in months:
        _step(console, f"attribute {month}", "attribute", ctx, period=month)
    latest = months[-1]
    _step(
        console, f"chargeback {latest}", "chargeback", ctx, period=latest, format="table", out=None
    )
    _step(console, f"waste {latest}", "waste", ctx, period=latest, team=None, format="table")
    _step(
        console,
        f"recommendations {latest}",
        "recommend",
        ctx,
        period=latest,
        format="table",
        dismiss=None,
        acknowledge=None,
        done=None,
        reason=None,
    )
    _step(
        console,
        f"savings e-mails {latest} (dry run)",
        "email",
        ctx,
        period=latest,
        dry_run=True,
        outbox=None,  # <home>/outbox, as `gpuledger email --dry-run` writes
        team=None,
    )
    _step(console, "status", "status", ctx, format="table")
    console.print(
        f"\nTry: gpuledger --home {home} --config {ctx.config} chargeback --period {latest}"
        " --format xlsx --out statements.xlsx",
        highlight=False,
        soft_wrap=True,
    )
    if not no_app:
        _step(console, "app", "app", ctx, port=port, address="127.0.0.1")
