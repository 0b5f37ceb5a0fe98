"""The NVML seam of the agent: the only module that calls pynvml.

The agent sees :class:`GpuBackend` and plain records (:class:`GpuDevice`, :class:`GpuReading`);
pynvml's handles, ctypes structs and error classes stay in here. Faults are mapped three ways:

- no driver, no library, no GPU → :class:`NvmlUnavailable` (one clear line, exit 1);
- one GPU failing (fallen off the bus, unknown error) → :class:`GpuFault` for that GPU only;
- a query the GPU does not support (utilization on a MIG instance, per-process samples on an old
  driver, power) → ``None`` in the reading, so the agent degrades instead of stopping.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

import pynvml

from gpuledger.errors import SourceError

log = logging.getLogger("gpuledger.agent")
_MIG_PROFILE = re.compile(r"MIG\s+(\d+g\.\d+gb(?:\+\w+)?)", re.IGNORECASE)
_UNSUPPORTED = (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound)


class NvmlUnavailable(SourceError):
    """NVML cannot run on this host at all: no driver, no library, or no GPU."""


class GpuFault(Exception):
    """One GPU failed a query; the agent marks it and keeps sampling the others."""

    def __init__(self, uuid: str, error: str) -> None:
        super().__init__(f"{uuid}: {error}")
        self.uuid = uuid
        self.error = error


@dataclass(frozen=True)
class GpuDevice:
    """A GPU as the agent accounts for it: a whole GPU, or one MIG instance of a parent GPU."""

    handle: Any
    uuid: str
    index: int
    model: str
    memory_total: int
    mig_profile: str | None = None
    parent_uuid: str | None = None


@dataclass(frozen=True)
class ProcessUse:
    """A compute process on a GPU, with the memory it holds (None where the driver hides it)."""

    pid: int
    memory_bytes: int | None


@dataclass(frozen=True)
class GpuReading:
    """One sample of one GPU; ``None`` marks a measurement the GPU does not support."""

    memory_used: int
    sm_util: float | None
    power_w: float | None
    processes: tuple[ProcessUse, ...]
    process_util: dict[int, float] | None  # pid → SM %, None when per-process samples unsupported


class GpuBackend(Protocol):
    """What the agent needs from a GPU library; :class:`NvmlBackend` is the real one."""

    def open(self) -> None: ...

    def devices(self) -> list[GpuDevice]: ...

    def read(self, device: GpuDevice) -> GpuReading: ...

    def close(self) -> None: ...


def error_name(exc: BaseException) -> str:
    """A short, stable name for an NVML error, used as a metric label."""
    return type(exc).__name__.removeprefix("NVMLError_")


class NvmlBackend:
    """The real backend over ``nvidia-ml-py``."""

    def __init__(self) -> None:
        self._last_seen_us: dict[str, int] = {}

    def open(self) -> None:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise NvmlUnavailable(
                f"NVML is not available on this host ({exc}); is the NVIDIA driver installed "
                "and is /dev/nvidia* visible to this process?"
            ) from exc
        if pynvml.nvmlDeviceGetCount() == 0:
            self.close()
            raise NvmlUnavailable("NVML found no NVIDIA GPU on this host")

    def close(self) -> None:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()

    def devices(self) -> list[GpuDevice]:
        """Every GPU to account for: whole GPUs, and the MIG instances of MIG-enabled ones."""
        found: list[GpuDevice] = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                parent = _describe(handle, index)
                migs = self._mig_devices(handle, parent)
            except pynvml.NVMLError as exc:
                log.error("GPU %d cannot be described (%s); sampling the others", index, exc)
                continue
            found.extend(migs or [parent])
        return found

    def _mig_devices(self, handle: Any, parent: GpuDevice) -> list[GpuDevice]:
        try:
            current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
        except _UNSUPPORTED:
            return []
        if current != pynvml.NVML_DEVICE_MIG_ENABLE:
            return []
        instances = []
        for slot in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)):
            try:
                mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except (pynvml.NVMLError_NotFound, pynvml.NVMLError_InvalidArgument):
                continue  # an empty slot
            described = _describe(mig, parent.index)
            instances.append(
                GpuDevice(
                    handle=mig,
                    uuid=described.uuid,
                    index=parent.index,
                    model=parent.model,
                    memory_total=described.memory_total,
                    mig_profile=mig_profile(described.model),
                    parent_uuid=parent.uuid,
                )
            )
        return instances

    def read(self, device: GpuDevice) -> GpuReading:
        """Sample one GPU; a failure of the GPU itself raises :class:`GpuFault`."""
        handle = device.handle
        try:
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            processes = tuple(
                ProcessUse(int(p.pid), None if p.usedGpuMemory is None else int(p.usedGpuMemory))
                for p in pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
            )
            util = _optional(lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
            power = _optional(lambda: pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)
            per_process = self._process_util(device)
        except pynvml.NVMLError as exc:
            raise GpuFault(device.uuid, error_name(exc)) from exc
        return GpuReading(int(memory.used), util, power, processes, per_process)

    def _process_util(self, device: GpuDevice) -> dict[int, float] | None:
        """Mean SM % per PID over the samples newer than the last call; None if unsupported.

        NVML raises NotFound when no process ran a kernel since the last call: every process on
        the GPU was idle, which is an empty dict, not a missing measurement.
        """
        since = self._last_seen_us.get(device.uuid, 0)
        try:
            samples = pynvml.nvmlDeviceGetProcessUtilization(device.handle, since)
        except pynvml.NVMLError_NotFound:
            return {}
        except _UNSUPPORTED:
            return None
        totals: dict[int, list[float]] = {}
        for sample in samples:
            totals.setdefault(int(sample.pid), []).append(float(sample.smUtil))
            since = max(since, int(sample.timeStamp))
        self._last_seen_us[device.uuid] = since
        return {pid: sum(values) / len(values) for pid, values in totals.items()}


def _describe(handle: Any, index: int) -> GpuDevice:
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    return GpuDevice(
        handle=handle,
        uuid=str(pynvml.nvmlDeviceGetUUID(handle)),
        index=index,
        model=str(pynvml.nvmlDeviceGetName(handle)),
        memory_total=int(memory.total),
    )


def _optional(query: Any) -> float | None:
    try:
        return float(query())
    except _UNSUPPORTED:
        return None


def mig_profile(device_name: str) -> str | None:
    """The MIG profile in a MIG device's name (``"NVIDIA A100-SXM4-40GB MIG 3g.20gb"`` → 3g.20gb)."""
    match = _MIG_PROFILE.search(device_name)
    return match.group(1).lower() if match else None


def mig_compute_share(profile: str, parent_model: str) -> float:
    """The parent GPU's share a MIG instance holds, by compute slices of its profile.

    A100, H100, H200 and B200 have 7 compute slices; A30 has 4. ``3g.40gb`` on an H100 is 3/7.
    """
    slices = int(profile.split("g.", 1)[0])
    total = 4 if "A30" in parent_model.upper() else 7
    return min(slices, total) / total
