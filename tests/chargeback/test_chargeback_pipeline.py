"""Close and restatement through the real pipeline: FOCUS ingest → attribution → chargeback.

The committed FOCUS 1.2 sample (AWS, 2026-05, teams in the ``Owner`` tag) is ingested by the
FOCUS collector and attributed by the engine; May is closed; a restated export that drops
some line items is ingested and attributed again. May's statements must not move by a byte,
and June must carry the difference per team as adjustments of May.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import polars as pl

from gpuledger.collect.focus import collector as focus
from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.close import close_period
from gpuledger.engine.chargeback.live import live_statements
from gpuledger.report.export.render import render
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

MAY, JUNE = "2026-05", "2026-06"
SAMPLE = FIXTURES / "focus" / "focus-1.2-synthetic-aws.csv.gz"
FORMATS = ("json", "csv", "table", "xlsx", "focus")


def ingest(store: Store, settings: Settings, export: Path, text: str) -> None:
    export.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    focus.ingest(store, settings, str(export.parent))
    run_attribution(store, settings, MAY)


def test_restated_export_after_close(store: Store, tmp_path: Path) -> None:
    settings = Settings.model_validate({"tags": {"team": ["Owner"]}})
    original = gzip.decompress(SAMPLE.read_bytes()).decode("utf-8")
    export = tmp_path / "exports" / "focus.csv.gz"
    export.parent.mkdir()
    ingest(store, settings, export, original)
    closed = close_period(store, settings, MAY, force=True).statements
    frozen = {fmt: render(build_statements(store, settings, MAY), fmt) for fmt in FORMATS}

    lines = original.splitlines(keepends=True)
    restated = "".join(lines[:1] + lines[1:][::2])  # the provider drops every other line item
    ingest(store, settings, export, restated)

    assert {fmt: render(build_statements(store, settings, MAY), fmt) for fmt in FORMATS} == frozen
    now = {team.team: team.total for team in live_statements(store, settings, MAY).teams}
    then = {team.team: team.total for team in closed.teams}
    assert now != then  # the restatement did change May
    june = build_statements(store, settings, JUNE)
    expected = {
        team: now.get(team, Decimal(0)) - then.get(team, Decimal(0))
        for team in set(now) | set(then)
        if now.get(team, Decimal(0)) != then.get(team, Decimal(0))
    }
    assert {team.team: team.adjustment_total for team in june.teams} == expected
    assert all(a.corrects_period == MAY for t in june.teams for a in t.adjustments)
    assert june.invoice_total == Decimal(0)  # June itself has no billing data yet
    assert pl.read_delta(store.uri("statement")).height == sum(len(t.lines) for t in closed.teams)
