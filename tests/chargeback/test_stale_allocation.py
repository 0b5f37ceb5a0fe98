"""A month's allocation is stale once its inputs change (issue #19 item 10), and only then.

``attribute`` records the cost and gpu_usage versions it read; ``chargeback``, ``status`` and
``close`` see an ingest that changed the month's rows, even one that keeps the total, and even
one that commits while attribution runs. Writes to other months and compaction do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from gpuledger.commands import attribute
from gpuledger.commands.context import Context
from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.freshness import allocation_staleness
from gpuledger.errors import UsageError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from gpuledger.store.maintain import maintain
from tests.engine.attribute_helpers import busy, cost, cost_frame, tags, usage_frame

OCT = "2026-10"
STALE = "allocation of 2026-10 is stale: cost changed since attribution at"


def _write_cost(store: Store, nlp: str, vision: str, period: str = OCT) -> None:
    """Two cost lines of ``period``: one tagged nlp, one tagged vision."""
    rows = [
        cost(EffectiveCost=Decimal(nlp), ResourceId="vol-1", Tags=tags(team="nlp")),
        cost(EffectiveCost=Decimal(vision), ResourceId="vol-2", Tags=tags(team="vision")),
    ]
    if period != OCT:
        rows = [{**row, Cost.x_BillingPeriod: period} for row in rows]
    frame = cost_frame(rows).collect()
    store.replace_partitions("cost", frame, [Cost.x_Source, Cost.x_BillingPeriod])


def _attribute(store: Store) -> None:
    attribute.run(Context(str(store.home), None, Settings(), store), period=OCT)


def _team_totals(store: Store) -> dict[str, Decimal]:
    return {t.team: t.total for t in build_statements(store, Settings(), OCT).teams}


def _cli(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", store.home, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def attributed(store: Store) -> Store:
    _write_cost(store, "70.00", "30.00")
    _attribute(store)
    assert _team_totals(store) == {"nlp": Decimal("70.00"), "vision": Decimal("30.00")}
    return store


def test_cost_moved_between_teams_with_the_same_total_is_stale(attributed: Store) -> None:
    _write_cost(attributed, "30.00", "70.00")
    with pytest.raises(UsageError, match=STALE):
        build_statements(attributed, Settings(), OCT)
    _attribute(attributed)
    assert _team_totals(attributed) == {"nlp": Decimal("30.00"), "vision": Decimal("70.00")}


def test_chargeback_status_and_close_force_refuse_a_stale_month(attributed: Store) -> None:
    _write_cost(attributed, "30.00", "70.00")
    shown = _cli(attributed, "chargeback", "--period", OCT)
    assert shown.returncode == 2
    assert STALE in " ".join(shown.stderr.split())
    closed = _cli(attributed, "close", "--period", OCT, "--force")
    assert closed.returncode == 2
    assert STALE in " ".join(closed.stderr.split())
    assert not attributed.state.is_closed(OCT)
    status = _cli(attributed, "status")
    assert STALE in " ".join(status.stdout.split())
    document = json.loads(_cli(attributed, "status", "--format", "json").stdout)
    assert document["stale_allocations"][0]["period"] == OCT
    assert document["stale_allocations"][0]["moved"] == ["cost"]


def test_an_ingest_committing_while_attribute_runs_leaves_it_stale(
    attributed: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingest commits after attribution read its inputs, before it writes the allocation."""
    write = Store.replace_partitions

    def ingest_first(self: Store, table: str, *args: Any, **kwargs: Any) -> int:
        if table == "allocation":
            _write_cost(self, "30.00", "70.00")
        return write(self, table, *args, **kwargs)

    monkeypatch.setattr(Store, "replace_partitions", ingest_first)
    _attribute(attributed)
    monkeypatch.undo()
    with pytest.raises(UsageError, match=STALE):
        build_statements(attributed, Settings(), OCT)


def test_new_telemetry_of_the_month_makes_it_stale(attributed: Store) -> None:
    usage = usage_frame(
        busy("a", team="nlp", resource="vol-1", source="agent", x_BillingPeriod=OCT)
    ).collect()
    attributed.append("gpu_usage", usage)
    stale = allocation_staleness(attributed, OCT)
    assert stale is not None
    assert stale.moved == ("gpu_usage",)


def test_another_month_and_compaction_leave_it_fresh(attributed: Store) -> None:
    _write_cost(attributed, "5.00", "5.00", period="2026-11")
    usage = usage_frame(busy("a", team="nlp", x_BillingPeriod="2026-11")).collect()
    attributed.append("gpu_usage", usage)
    attributed.append("gpu_usage", usage)
    _write_cost(attributed, "1.00", "1.00", period="2026-11")
    maintain(attributed, retention_hours=0)
    assert allocation_staleness(attributed, OCT) is None
    assert _team_totals(attributed) == {"nlp": Decimal("70.00"), "vision": Decimal("30.00")}


def test_compaction_of_the_months_own_files_leaves_it_fresh(store: Store) -> None:
    usage = usage_frame(
        busy("a", team="nlp", resource="vol-1", source="agent", x_BillingPeriod=OCT)
    ).collect()
    store.append("gpu_usage", usage.head(6))
    store.append("gpu_usage", usage.tail(6))
    _write_cost(store, "70.00", "30.00")
    _attribute(store)
    results = {r.table: r for r in maintain(store, ["gpu_usage"], retention_hours=0)}
    assert results["gpu_usage"].files_compacted == 2
    assert allocation_staleness(store, OCT) is None


def test_an_allocation_without_a_record_keeps_the_totals_check(store: Store) -> None:
    """Written by the engine directly (an older gpuledger, the scheduler): inputs unknown."""
    from gpuledger.engine.attribution.attribute import run_attribution

    _write_cost(store, "70.00", "30.00")
    run_attribution(store, Settings(), OCT)
    _write_cost(store, "30.00", "70.00")
    assert allocation_staleness(store, OCT) is None
