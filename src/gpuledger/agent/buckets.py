"""Agent: split each GPU sample over its workloads and sum the samples into gpu_usage buckets.

Splitting rules (``util_method`` records which one applied to a row):

- no process on the GPU → the sample belongs to the idle row (null workload), ``device``;
- one workload → it gets the device's utilization, ``device``;
- several workloads, per-process samples available (time-slicing, MPS) → each gets the sum of
  its processes' SM %, ``process``;
- several workloads, no per-process samples → the device's utilization split by each
  workload's share of process memory (equal shares if no memory is reported), ``memory_share``.

A row's method is the least precise one used in any of its samples. ``active_seconds`` is the
time the workload was seen on the GPU (samples x interval, at most the bucket); the idle row
holds the sampled time with no process, so a GPU's rows add up to the time it was watched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from gpuledger.agent.nvml import GpuDevice, GpuReading
from gpuledger.agent.workload import Workload
from gpuledger.columns import Usage

DEVICE, PROCESS, MEMORY_SHARE = "device", "process", "memory_share"

UsageRow = dict[str, object]
"""One gpu_usage row, keyed by the canonical column names."""
_PRECISION = {DEVICE: 0, PROCESS: 1, MEMORY_SHARE: 2}


@dataclass(frozen=True)
class Share:
    """One workload's part of one GPU sample."""

    workload: Workload | None
    sm_util: float | None
    memory_bytes: int
    method: str


def split_sample(reading: GpuReading, workloads: Mapping[int, Workload]) -> list[Share]:
    """The sample's shares per workload, by the rules in the module docstring."""
    memory: dict[Workload, int] = {}
    pids: dict[Workload, list[int]] = {}
    for process in reading.processes:
        workload = workloads[process.pid]
        memory[workload] = memory.get(workload, 0) + (process.memory_bytes or 0)
        pids.setdefault(workload, []).append(process.pid)
    if not memory:
        return [Share(None, reading.sm_util, reading.memory_used, DEVICE)]
    if len(memory) == 1:
        ((workload, used),) = memory.items()
        return [Share(workload, reading.sm_util, used, DEVICE)]
    if reading.process_util is not None:
        per_pid = reading.process_util
        return [
            Share(w, min(100.0, sum(per_pid.get(p, 0.0) for p in pids[w])), memory[w], PROCESS)
            for w in memory
        ]
    total = sum(memory.values())
    return [
        Share(
            w,
            None
            if reading.sm_util is None
            else reading.sm_util * (used / total if total else 1 / len(memory)),
            used,
            MEMORY_SHARE,
        )
        for w, used in memory.items()
    ]


@dataclass
class _Accumulator:
    """Running sums of one (bucket, GPU, workload) row."""

    device: GpuDevice
    samples: int = 0
    util_sum: float = 0.0
    util_samples: int = 0
    memory_peak: int = 0
    power_sum: float = 0.0
    power_samples: int = 0
    method: str = DEVICE

    def add(self, share: Share, power_w: float | None) -> None:
        self.samples += 1
        if share.sm_util is not None:
            self.util_sum += share.sm_util
            self.util_samples += 1
        if power_w is not None:
            self.power_sum += power_w
            self.power_samples += 1
        self.memory_peak = max(self.memory_peak, share.memory_bytes)
        if _PRECISION[share.method] > _PRECISION[self.method]:
            self.method = share.method


class BucketAggregator:
    """Samples in, closed buckets out as canonical gpu_usage rows."""

    def __init__(self, *, bucket_seconds: int, interval: float, host: str, resource_id: str | None):
        self.bucket_seconds = bucket_seconds
        self.interval = interval
        self.host = host
        self.resource_id = resource_id
        self._open: dict[int, dict[tuple[str, Workload | None], _Accumulator]] = {}

    def bucket_of(self, when: datetime) -> int:
        """Epoch second of the bucket that holds ``when`` (buckets align to the epoch)."""
        epoch = int(when.timestamp())
        return epoch - epoch % self.bucket_seconds

    def add(
        self, when: datetime, device: GpuDevice, reading: GpuReading, shares: list[Share]
    ) -> None:
        rows = self._open.setdefault(self.bucket_of(when), {})
        for share in shares:
            key = (device.uuid, share.workload)
            row = rows.get(key)
            if row is None:
                row = rows[key] = _Accumulator(device)
            row.add(share, reading.power_w)

    def close_before(self, now: datetime) -> list[tuple[datetime, list[UsageRow]]]:
        """Every open bucket that ended at or before ``now``, as (bucket start, rows)."""
        cutoff = self.bucket_of(now)
        return [self._close(start) for start in sorted(self._open) if start < cutoff]

    def close_all(self) -> list[tuple[datetime, list[UsageRow]]]:
        """Every open bucket, the current one included (shutdown: keep what was sampled)."""
        return [self._close(start) for start in sorted(self._open)]

    def open_buckets(self) -> int:
        return len(self._open)

    def _close(self, start: int) -> tuple[datetime, list[UsageRow]]:
        rows = self._open.pop(start)
        bucket_start = datetime.fromtimestamp(start, UTC)
        records = [
            self._record(bucket_start, workload, acc) for (_uuid, workload), acc in rows.items()
        ]
        return bucket_start, sorted(records, key=_row_order)

    def _record(
        self, bucket_start: datetime, workload: Workload | None, acc: _Accumulator
    ) -> UsageRow:
        device, who = acc.device, workload or Workload()
        return {
            Usage.bucket_start: bucket_start,
            Usage.bucket_seconds: self.bucket_seconds,
            Usage.host: self.host,
            Usage.ResourceId: self.resource_id,
            Usage.gpu_uuid: device.uuid,
            Usage.gpu_index: device.index,
            Usage.gpu_model: device.model,
            Usage.mig_profile: device.mig_profile,
            Usage.parent_gpu_uuid: device.parent_uuid,
            Usage.namespace: who.namespace,
            Usage.pod: who.pod,
            Usage.container: who.container,
            Usage.job: who.job,
            Usage.pid_command: who.pid_command,
            Usage.team: who.team,
            Usage.model: who.model,
            Usage.active_seconds: min(float(self.bucket_seconds), acc.samples * self.interval),
            Usage.sm_util: acc.util_sum / acc.util_samples if acc.util_samples else None,
            Usage.mem_used_bytes: acc.memory_peak,
            Usage.mem_total_bytes: device.memory_total,
            Usage.power_w: acc.power_sum / acc.power_samples if acc.power_samples else None,
            Usage.samples: acc.samples,
            Usage.util_method: acc.method,
            Usage.source: "agent",
            Usage.x_BillingPeriod: bucket_start.strftime("%Y-%m"),
        }


def _row_order(row: UsageRow) -> tuple[tuple[bool, str], ...]:
    """GPU, then workload (the idle row, with no workload, first): a stable order for the file."""
    keys = (Usage.gpu_uuid, Usage.namespace, Usage.pod, Usage.pid_command)
    return tuple((row[key] is not None, str(row[key] or "")) for key in keys)
