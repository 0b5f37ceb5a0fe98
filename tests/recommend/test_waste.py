"""The waste definition on a hand-built GPU: idle time, unused capacity and their dollars."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.waste.compute import Waste, compute_waste
from gpuledger.schema import IDLE_MODEL
from gpuledger.store.delta import Store
from tests.recommend.builders import OCT, Instance, write_month


def etl_box() -> Instance:
    """One A10G billed 10 h at 1.20/h, so a GPU-hour costs 1.20.

    Hours 0-2: the etl job at 10 % SM holding 8 of 24 GiB: underused, unused share 1 − 8/24.
    Hours 3-5: the job at 80 % SM. Hour 6: the job at 3 % SM: idle (under 5 %).
    Hours 7-9: no process: idle, the owner's.
    """
    box = Instance("i-etl", "g5.xlarge", Decimal("1.20"), 10, owner="platform")
    box.run(range(3), job="etl", team="Data", model="m", sm=10, mem_gib=8)
    box.run(range(3, 6), job="etl", team="Data", model="m", sm=80, mem_gib=20)
    box.run([6], job="etl", team="Data", model="m", sm=3, mem_gib=20)
    return box.run(range(7, 10))


# team, model, workload, GPU-h, idle GPU-h, SM-weighted GPU-h, unused GPU-h, cost, idle $, waste $
EXPECTED = [
    ("data", "m", "etl", 7.0, 1.0, 2.73, 2.0, "8.40", "1.20", "3.60"),
    ("platform", IDLE_MODEL, IDLE_MODEL, 3.0, 3.0, 0.0, 0.0, "3.60", "3.60", "3.60"),
]


def test_waste_definition_on_a_hand_built_gpu(store: Store, settings: Settings) -> None:
    write_month(store, OCT, [etl_box()])
    waste = compute_waste(store, settings, OCT).sort(Waste.team)
    got = [
        (
            r[Waste.team],
            r[Waste.model],
            r[Waste.workload],
            r[Waste.gpu_hours],
            r[Waste.idle_gpu_hours],
            round(r[Waste.used_gpu_hours], 6),
            round(r[Waste.unused_gpu_hours], 6),
            str(r[Waste.cost]),
            str(r[Waste.idle_cost]),
            str(r[Waste.waste_cost]),
        )
        for r in waste.to_dicts()
    ]
    assert got == EXPECTED
    assert waste[Waste.mem_peak_gib].to_list() == [20.0, 0.0]
    assert waste[Waste.mem_capacity_gib].to_list() == [24.0, 24.0]


@pytest.mark.parametrize(
    ("team", "rows"),
    [("data", 1), ("DATA", 1), ("platform", 1), ("nobody", 0)],
    ids=["data", "any-case", "owner", "none"],
)
def test_waste_for_one_team(store: Store, settings: Settings, team: str, rows: int) -> None:
    write_month(store, OCT, [etl_box()])
    waste = compute_waste(store, settings, OCT, team=team)
    assert waste.height == rows
    assert waste.filter(pl.col(Waste.team) != team.lower()).is_empty()


def test_shared_gpu_bucket_is_split_by_active_seconds(store: Store, settings: Settings) -> None:
    """Two jobs on one GPU in one hour: 2700 and 900 active seconds hold 0.75 and 0.25 GPU-h."""
    box = Instance("i-shared", "g5.xlarge", Decimal(4), 1)
    box.run([0], job="a", team="x", sm=50)
    box.run([0], job="b", team="y", sm=50)
    box.usage[0]["active_seconds"] = 2700.0
    box.usage[1]["active_seconds"] = 900.0
    write_month(store, OCT, [box])
    waste = compute_waste(store, settings, OCT).sort(Waste.workload)
    assert waste[Waste.gpu_hours].to_list() == [0.75, 0.25]
    assert [str(c) for c in waste[Waste.cost]] == ["3.00", "1.00"]
