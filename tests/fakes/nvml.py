"""A scripted GPU fleet played at the pynvml function level, for the agent's tests and bench.

``FakeNvml.installed()`` swaps the ``pynvml.nvml*`` functions the agent calls for methods of
this fake; everything above them (``NvmlBackend``, the agent) runs unchanged. The fake returns
pynvml's own ctypes structs (``c_nvmlMemory_t``, ``c_nvmlUtilization_t``,
``c_nvmlProcessUtilizationSample_t``) and friendly objects, and raises pynvml's real
``NVMLError_*`` classes: ``LibraryNotFound`` without a driver, ``Uninitialized`` before init,
``GpuIsLost`` from a GPU that fell off the bus, ``NotSupported`` for utilization, power and
per-process samples on MIG instances (and per-process samples where a GPU is set not to have
them), ``NotFound`` for empty MIG slots and for "no new per-process samples".

Activity is declared, not mutated: a list of :class:`Activity` (a process on a GPU from ``start``
to ``end`` seconds, at an SM % and a memory size), so the same script can also be rendered as
DCGM-exporter series for the Prometheus path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pynvml

GIB = 2**30
IDLE_WATTS = 60.0
WATTS_PER_UTIL = 3.0
BASE_MEMORY = 512 * 2**20  # driver and context overhead a GPU shows with no process


@dataclass(frozen=True)
class Activity:
    """One process on one GPU during ``[start, end)`` seconds of the script."""

    gpu_uuid: str
    pid: int
    start: float
    end: float
    sm: float
    memory: int
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None

    def running(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class FakeGpu:
    """A GPU (or a MIG instance, when ``parent`` is set) of the fleet."""

    uuid: str
    name: str
    memory_total: int
    per_process_util: bool = True
    mig_children: list[FakeGpu] = field(default_factory=list)
    parent: FakeGpu | None = None
    lost_at: float | None = None
    mig_capable: bool = True

    def mig(self, uuid: str, profile: str, memory_total: int) -> FakeGpu:
        child = FakeGpu(uuid, f"{self.name} MIG {profile}", memory_total, False, parent=self)
        self.mig_children.append(child)
        return child


def utilization(activities: Sequence[Activity], gpu_uuid: str, t: float) -> tuple[float, int]:
    """Device SM % and memory used of one GPU at ``t``, as the fake reports them."""
    running = [a for a in activities if a.gpu_uuid == gpu_uuid and a.running(t)]
    return min(100.0, sum(a.sm for a in running)), BASE_MEMORY + sum(a.memory for a in running)


def power_watts(util: float) -> float:
    return IDLE_WATTS + WATTS_PER_UTIL * util


class FakeNvml:
    """The fleet and its activity script; ``now`` is the script time in seconds."""

    def __init__(
        self,
        gpus: Sequence[FakeGpu],
        activities: Sequence[Activity] = (),
        *,
        driver: bool = True,
        epoch: float = 0.0,
    ) -> None:
        self.gpus = list(gpus)
        self.activities = list(activities)
        self.driver = driver
        self.epoch = epoch  # script second 0 in UNIX seconds, for NVML's µs timestamps
        self.now = 0.0
        self.initialized = 0
        self.calls = 0

    # -- installation -------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[FakeNvml]:
        """Replace the pynvml functions with this fake's, and restore them afterwards."""
        names = [n for n in dir(self) if n.startswith("nvml")]
        saved = {n: getattr(pynvml, n) for n in names}
        try:
            for n in names:
                setattr(pynvml, n, getattr(self, n))
            yield self
        finally:
            for n, fn in saved.items():
                setattr(pynvml, n, fn)

    def _ready(self) -> None:
        self.calls += 1
        if not self.initialized:
            raise pynvml.NVMLError_Uninitialized()

    def _device(self, handle: FakeGpu) -> FakeGpu:
        self._ready()
        root = handle.parent or handle
        if root.lost_at is not None and self.now >= root.lost_at:
            raise pynvml.NVMLError_GpuIsLost()
        return handle

    def _state(self, gpu: FakeGpu) -> tuple[float, int]:
        return utilization(self.activities, gpu.uuid, self.now)

    # -- the pynvml surface -------------------------------------------------------------

    def nvmlInit(self) -> None:
        if not self.driver:
            raise pynvml.NVMLError_LibraryNotFound()
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self._ready()
        self.initialized -= 1

    def nvmlDeviceGetCount(self) -> int:
        self._ready()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._ready()
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError_InvalidArgument()
        return self.gpus[index]

    def nvmlDeviceGetUUID(self, handle: FakeGpu) -> str:
        return self._device(handle).uuid

    def nvmlDeviceGetName(self, handle: FakeGpu) -> str:
        return self._device(handle).name

    def nvmlDeviceGetMemoryInfo(self, handle: FakeGpu) -> Any:
        gpu = self._device(handle)
        _util, used = self._state(gpu)
        used = min(used, gpu.memory_total)
        return pynvml.c_nvmlMemory_t(
            total=gpu.memory_total, free=gpu.memory_total - used, used=used
        )

    def nvmlDeviceGetMigMode(self, handle: FakeGpu) -> list[int]:
        gpu = self._device(handle)
        if not gpu.mig_capable:
            raise pynvml.NVMLError_NotSupported()
        enabled = pynvml.NVML_DEVICE_MIG_ENABLE if gpu.mig_children else 0
        return [enabled, enabled]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeGpu) -> int:
        self._device(handle)
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeGpu, index: int) -> FakeGpu:
        gpu = self._device(handle)
        if index >= len(gpu.mig_children):
            raise pynvml.NVMLError_NotFound()
        return gpu.mig_children[index]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: FakeGpu) -> list[Any]:
        gpu = self._device(handle)
        return [
            pynvml.nvmlFriendlyObject(
                {
                    "pid": a.pid,
                    "usedGpuMemory": a.memory,
                    "gpuInstanceId": 0xFFFFFFFF,
                    "computeInstanceId": 0xFFFFFFFF,
                }
            )
            for a in self.activities
            if a.gpu_uuid == gpu.uuid and a.running(self.now)
        ]

    def nvmlDeviceGetUtilizationRates(self, handle: FakeGpu) -> Any:
        gpu = self._device(handle)
        if gpu.parent is not None:
            raise pynvml.NVMLError_NotSupported()
        util, _used = self._state(gpu)
        return pynvml.c_nvmlUtilization_t(gpu=round(util), memory=round(util / 2))

    def nvmlDeviceGetPowerUsage(self, handle: FakeGpu) -> int:
        gpu = self._device(handle)
        if gpu.parent is not None:
            raise pynvml.NVMLError_NotSupported()
        util, _used = self._state(gpu)
        return round(power_watts(util) * 1000)

    def nvmlDeviceGetProcessUtilization(self, handle: FakeGpu, since_us: int) -> list[Any]:
        gpu = self._device(handle)
        if gpu.parent is not None or not gpu.per_process_util:
            raise pynvml.NVMLError_NotSupported()
        stamp = int((self.epoch + self.now) * 1_000_000)
        running = [
            a
            for a in self.activities
            if a.gpu_uuid == gpu.uuid and a.running(self.now) and a.sm > 0
        ]
        if stamp <= since_us or not running:
            raise pynvml.NVMLError_NotFound()
        return [
            pynvml.c_nvmlProcessUtilizationSample_t(
                pid=a.pid, timeStamp=stamp, smUtil=round(a.sm), memUtil=0, encUtil=0, decUtil=0
            )
            for a in running
        ]


def write_proc(
    root: Path,
    pid: int,
    *,
    comm: str,
    cgroup: str = "0::/user.slice/user-1000.slice/session-1.scope\n",
    environ: dict[str, str] | None = None,
) -> None:
    """A ``/proc/PID`` folder as the agent reads it: ``comm``, ``cgroup`` and ``environ``."""
    folder = root / str(pid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "comm").write_text(comm + "\n")
    (folder / "cgroup").write_text(cgroup)
    env = environ or {}
    (folder / "environ").write_bytes(b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items()))


def k8s_cgroup(pod_uid: str, container_id: str, *, shape: str = "containerd-v2") -> str:
    """``/proc/PID/cgroup`` text of a pod's container, in the shape a runtime writes it."""
    underscored = pod_uid.replace("-", "_")
    if shape == "containerd-v2":
        return (
            "0::/kubepods.slice/kubepods-burstable.slice/"
            f"kubepods-burstable-pod{underscored}.slice/cri-containerd-{container_id}.scope\n"
        )
    if shape == "crio-v2":
        return f"0::/kubepods.slice/kubepods-pod{underscored}.slice/crio-{container_id}.scope\n"
    if shape == "cgroupfs-v1":
        return "".join(
            f"{n}:{ctl}:/kubepods/besteffort/pod{pod_uid}/{container_id}\n"
            for n, ctl in ((12, "memory"), (11, "cpu,cpuacct"), (3, "devices"))
        )
    raise ValueError(shape)


def drive(agent: Any, fake: FakeNvml, *, seconds: float, start: Any, interval: float = 1.0) -> None:
    """Tick ``agent`` through ``seconds`` of the script, sampling mid-interval (off bucket edges)."""
    from datetime import timedelta

    for tick in range(round(seconds / interval)):
        fake.now = (tick + 0.5) * interval
        agent.sample(start + timedelta(seconds=fake.now))
