"""Agent: the sampling loop that ties NVML, workload mapping, buckets, spool and metrics together.

Each tick reads every GPU once; a GPU that faults is marked (metric, one log line when it starts
and when it recovers) and skipped, the others keep being sampled. Closed buckets go to the spool
as they close; on shutdown (SIGTERM, ``--once``) the open bucket is written too, under a name of
its own, so a restarted agent never overwrites it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gpuledger.agent.buckets import BucketAggregator, UsageRow, split_sample
from gpuledger.agent.metrics import AgentMetrics
from gpuledger.agent.nvml import GpuBackend, GpuDevice, GpuFault, error_name
from gpuledger.agent.spool import SPOOL_SUFFIX, Spool, spool_file_name
from gpuledger.agent.workload import WorkloadResolver

log = logging.getLogger("gpuledger.agent")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AgentOptions:
    spool: Path
    host: str
    resource_id: str | None
    interval: float = 1.0
    bucket_seconds: int = 300
    max_spool_bytes: int = 512 * 2**20


class Agent:
    """One host's sampler; ``sample`` is one tick, ``run`` the loop around it."""

    def __init__(
        self,
        backend: GpuBackend,
        resolver: WorkloadResolver,
        options: AgentOptions,
        *,
        metrics: AgentMetrics | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.backend = backend
        self.resolver = resolver
        self.options = options
        self.metrics = metrics or AgentMetrics()
        self.clock = clock
        self.aggregator = BucketAggregator(
            bucket_seconds=options.bucket_seconds,
            interval=options.interval,
            host=options.host,
            resource_id=options.resource_id,
        )
        self.spool = Spool(options.spool, max_bytes=options.max_spool_bytes)
        self.devices: list[GpuDevice] = []
        self.faulted: set[str] = set()
        self.written: list[Path] = []
        self._run_tag = f"{int(time.time())}"

    def start(self) -> None:
        """Open NVML and list the GPUs; raises ``NvmlUnavailable`` on a host without them."""
        self.backend.open()
        self.devices = self.backend.devices()
        log.info("sampling %d GPU(s) on %s", len(self.devices), self.options.host)

    def set_resource_id(self, resource_id: str | None) -> None:
        """The cloud instance id, once looked up (after start, so a GPU-less host fails first)."""
        self.aggregator.resource_id = resource_id

    def sample(self, now: datetime) -> None:
        """Read every GPU once, add the shares to the open bucket, write buckets that closed."""
        self.metrics.begin_tick()
        live: set[int] = set()
        for device in self.devices:
            try:
                reading = self.backend.read(device)
            except GpuFault as fault:
                self._mark_fault(fault)
                continue
            if device.uuid in self.faulted:
                self.faulted.discard(device.uuid)
                log.warning("GPU %s answers again", device.uuid)
            workloads = {p.pid: self.resolver.resolve(p.pid) for p in reading.processes}
            live.update(workloads)
            shares = split_sample(reading, workloads)
            self.aggregator.add(now, device, reading, shares)
            self.metrics.observe(device, reading, shares)
        self.resolver.forget_except(live)
        closed = self.aggregator.close_before(now)
        for bucket_start, rows in closed:
            self._write(bucket_start, rows, partial=False)
        if closed:
            self._refresh_devices()

    def flush(self) -> None:
        """Write the open bucket(s) as they are: shutdown keeps what was sampled."""
        for bucket_start, rows in self.aggregator.close_all():
            self._write(bucket_start, rows, partial=True)

    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        """Sample every ``interval`` until ``stop`` is set (or, with ``once``, the bucket ends)."""
        first_bucket = self.aggregator.bucket_of(self.clock())
        next_tick = time.monotonic()
        try:
            while not stop.is_set():
                now = self.clock()
                if once and self.aggregator.bucket_of(now) != first_bucket:
                    break
                self.sample(now)
                next_tick += self.options.interval
                stop.wait(max(0.0, next_tick - time.monotonic()))
        finally:
            self.flush()
            self.backend.close()

    def _mark_fault(self, fault: GpuFault) -> None:
        self.metrics.fault(fault.uuid, fault.error)
        if fault.uuid not in self.faulted:
            self.faulted.add(fault.uuid)
            log.error(
                "GPU %s fails NVML queries (%s); sampling the others", fault.uuid, fault.error
            )

    def _refresh_devices(self) -> None:
        """Pick up MIG reconfiguration between buckets; keep the old list if NVML balks.

        A faulted GPU that drops out of the listing stays on the list, so it stays marked (and
        is picked up again if it comes back) instead of silently vanishing from the metrics.
        """
        try:
            listed = self.backend.devices()
        except Exception as exc:  # any NVML error: the current list is still the best known
            log.warning("could not re-list GPUs (%s)", error_name(exc))
            return
        seen = {device.uuid for device in listed}
        self.devices = listed + [
            d for d in self.devices if d.uuid in self.faulted and d.uuid not in seen
        ]

    def _write(self, bucket_start: datetime, rows: list[UsageRow], *, partial: bool) -> None:
        if not rows:
            return
        name = spool_file_name(self.options.host, bucket_start, self.options.bucket_seconds)
        if partial:
            name = name.removesuffix(SPOOL_SUFFIX) + f"-partial{self._run_tag}{SPOOL_SUFFIX}"
        try:
            self.written.append(self.spool.write(rows, name))
        except OSError as exc:
            self.metrics.spool_write_errors.inc()
            log.error("could not write bucket %s to %s: %s", name, self.spool.folder, exc)
            return
        self.metrics.buckets_written.inc()
        pruned = self.spool.prune()
        self.metrics.spool_dropped.inc(pruned.unshipped_removed)
        self.metrics.spool_bytes.set(pruned.bytes_after)
