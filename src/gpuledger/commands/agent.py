"""`gpuledger agent`: run the NVML sampler on this GPU host until stopped (or for one bucket)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path
from types import FrameType

from gpuledger.agent.cloud import find_resource_id
from gpuledger.agent.metrics import AgentMetrics
from gpuledger.agent.nvml import NvmlBackend
from gpuledger.agent.sampler import Agent, AgentOptions
from gpuledger.agent.workload import KubeletPods, WorkloadResolver
from gpuledger.commands.context import Context
from gpuledger.config import Settings
from gpuledger.errors import UsageError
from gpuledger.progress import stderr_console


def run(
    ctx: Context,
    *,
    spool: Path,
    interval: float,
    bucket: int,
    once: bool,
    metrics_port: int | None,
    resource_id: str | None,
    max_spool_mb: int,
) -> None:
    _check_options(interval, bucket, max_spool_mb)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = ctx.settings
    options = AgentOptions(
        spool=spool,
        host=socket.gethostname(),
        resource_id=resource_id,
        interval=interval,
        bucket_seconds=bucket,
        max_spool_bytes=max_spool_mb * 2**20,
    )
    metrics = AgentMetrics()
    agent = Agent(NvmlBackend(), build_resolver(settings), options, metrics=metrics)
    agent.start()  # first, so a host without GPUs fails at once
    if resource_id is None:
        agent.set_resource_id(find_resource_id())
    if metrics_port is not None:
        metrics.serve(metrics_port)
    stop = threading.Event()
    _stop_on_signals(stop)
    stderr_console.print(
        f"agent: {len(agent.devices)} GPU(s), ResourceId {agent.aggregator.resource_id or 'unknown'}, "
        f"{bucket}s buckets → {spool}",
        highlight=False,
    )
    agent.run(stop, once=once)
    stderr_console.print(f"agent: wrote {len(agent.written)} bucket file(s)", highlight=False)


def build_resolver(settings: Settings) -> WorkloadResolver:
    config = settings.agent
    pods = (
        KubeletPods(config.kubelet_url, verify=config.kubelet_verify_tls)
        if config.kubelet_url
        else None
    )
    return WorkloadResolver(
        proc_root=Path(config.proc_root),
        team_env=tuple(config.team_env),
        model_env=tuple(config.model_env),
        team_labels=tuple(settings.tags.team),
        model_labels=tuple(settings.tags.model),
        pods=pods,
    )


def _check_options(interval: float, bucket: int, max_spool_mb: int) -> None:
    if interval <= 0 or bucket <= 0 or max_spool_mb <= 0:
        raise UsageError("--interval, --bucket and --max-spool-mb must be positive")
    if interval > bucket:
        raise UsageError(f"--interval {interval}s is longer than the --bucket of {bucket}s")


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
