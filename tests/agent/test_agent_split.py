"""Invariants of splitting one GPU sample over its workloads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuledger.agent.buckets import MEMORY_SHARE, PROCESS, split_sample
from gpuledger.agent.nvml import GpuReading, ProcessUse
from gpuledger.agent.workload import Workload

WORKLOADS = [Workload(pod=f"p{i}") for i in range(4)]

processes = st.lists(
    st.tuples(
        st.integers(0, 3),  # workload
        st.one_of(st.none(), st.integers(0, 80 * 2**30)),  # memory, None where hidden
        st.floats(0, 100),  # SM % from per-process samples
    ),
    min_size=2,
    max_size=12,
)


def reading(
    items: list[tuple[int, int | None, float]], util: float, per_process: bool
) -> GpuReading:
    procs = tuple(ProcessUse(pid, memory) for pid, (_w, memory, _sm) in enumerate(items))
    per_pid = {pid: sm for pid, (_w, _m, sm) in enumerate(items)} if per_process else None
    return GpuReading(sum(m or 0 for _w, m, _s in items), util, 300.0, procs, per_pid)


@given(items=processes, util=st.floats(0, 100))
def test_memory_share_conserves_device_utilization(
    items: list[tuple[int, int | None, float]], util: float
) -> None:
    owners = {pid: WORKLOADS[w] for pid, (w, _m, _s) in enumerate(items)}
    shares = split_sample(reading(items, util, per_process=False), owners)
    if len({w for w, _m, _s in items}) == 1:
        assert [s.sm_util for s in shares] == [util]
        return
    assert {s.method for s in shares} == {MEMORY_SHARE}
    assert sum(s.sm_util or 0 for s in shares) == pytest.approx(util, abs=1e-9)
    assert sum(s.memory_bytes for s in shares) == sum(m or 0 for _w, m, _s in items)


@given(items=processes)
def test_per_process_samples_add_up_per_workload(
    items: list[tuple[int, int | None, float]],
) -> None:
    owners = {pid: WORKLOADS[w] for pid, (w, _m, _s) in enumerate(items)}
    shares = split_sample(reading(items, 50.0, per_process=True), owners)
    if len({w for w, _m, _s in items}) == 1:
        return
    for share in shares:
        assert share.method == PROCESS
        own = [sm for w, _m, sm in items if WORKLOADS[w] == share.workload]
        assert share.sm_util == pytest.approx(min(100.0, sum(own)))
    assert len(shares) == len({w for w, _m, _s in items})


def test_idle_gpu_is_one_share_without_workload() -> None:
    (share,) = split_sample(GpuReading(2**29, 3.0, 61.0, (), {}), {})
    assert (share.workload, share.sm_util, share.memory_bytes, share.method) == (
        None,
        3.0,
        2**29,
        "device",
    )
