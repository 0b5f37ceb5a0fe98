"""Agent: which workload a GPU process belongs to, from ``/proc`` and (optionally) the kubelet.

NVML reports host PIDs. From ``/proc/PID/cgroup`` come the Kubernetes pod UID and the container
id (cgroup v1 and v2; containerd, CRI-O and docker path shapes); from ``/proc/PID/environ`` the
Slurm job and the team/model environment keys; from the kubelet's ``/pods`` list, when
configured, the pod's name, namespace, container name and labels. A process nothing is known
about is still a workload: ``(unlabelled)`` with its command name.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpuledger.columns import UNLABELLED

# pod<uid>: dashes in cgroupfs paths, underscores in systemd slice names
_POD_UID = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_CONTAINER_ID = re.compile(r"(?<![0-9a-f])([0-9a-f]{64})(?![0-9a-f])")
_SA_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class Workload:
    """The identity a GPU process is accounted under; every field may be unknown."""

    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    job: str | None = None
    pid_command: str | None = None
    team: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class CgroupIdentity:
    pod_uid: str | None
    container_id: str | None


def parse_cgroup(text: str) -> CgroupIdentity:
    """Pod UID (dashed) and container id from the text of ``/proc/PID/cgroup``.

    The first ``pod<uid>`` on any line is the pod; the last 64-hex token is the container, which
    covers ``cri-containerd-<id>.scope``, ``crio-<id>.scope``, ``docker-<id>.scope``,
    ``/docker/<id>`` and the cgroupfs ``/kubepods/<qos>/pod<uid>/<id>`` shape alike.
    """
    pod = _POD_UID.search(text)
    containers = _CONTAINER_ID.findall(text)
    return CgroupIdentity(
        pod.group(1).replace("_", "-") if pod else None, containers[-1] if containers else None
    )


def parse_environ(raw: bytes) -> dict[str, str]:
    """``/proc/PID/environ`` (NUL-separated ``KEY=value``) as a dict."""
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    labels: Mapping[str, str]
    containers: Mapping[str, str]  # container id (64 hex) → container name


class KubeletPods:
    """Pod UID → pod facts from the kubelet's read-only ``GET /pods`` list, refreshed on a miss.

    Misses refresh at most once per ``min_refresh_s``, so a process the kubelet does not know
    (a host process in a pod-shaped cgroup) cannot turn every sample into an HTTP call.
    """

    def __init__(self, url: str, *, verify: bool = True, min_refresh_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.verify = verify
        self.min_refresh_s = min_refresh_s
        self._pods: dict[str, PodInfo] = {}
        self._refreshed = float("-inf")

    def lookup(self, pod_uid: str) -> PodInfo | None:
        if pod_uid not in self._pods and time.monotonic() - self._refreshed > self.min_refresh_s:
            self._refresh()
        return self._pods.get(pod_uid)

    def _refresh(self) -> None:
        import httpx

        self._refreshed = time.monotonic()
        headers = {}
        if _SA_TOKEN.is_file():
            headers["Authorization"] = f"Bearer {_SA_TOKEN.read_text().strip()}"
        try:
            response = httpx.get(
                f"{self.url}/pods", headers=headers, timeout=2.0, verify=self.verify
            )
            response.raise_for_status()
            self._pods = parse_pod_list(response.json())
        except (httpx.HTTPError, ValueError):
            return  # keep the last good list; the agent's metrics show unlabelled pods


def parse_pod_list(body: Mapping[str, Any]) -> dict[str, PodInfo]:
    """A Kubernetes ``PodList`` (kubelet ``/pods`` or API server) as pod UID → :class:`PodInfo`."""
    pods: dict[str, PodInfo] = {}
    for item in body.get("items") or []:
        meta = item.get("metadata") or {}
        statuses = (item.get("status") or {}).get("containerStatuses") or []
        containers = {
            str(s["containerID"]).rsplit("://", 1)[-1]: str(s.get("name"))
            for s in statuses
            if s.get("containerID")
        }
        pods[str(meta.get("uid"))] = PodInfo(
            name=str(meta.get("name")),
            namespace=str(meta.get("namespace")),
            labels=dict(meta.get("labels") or {}),
            containers=containers,
        )
    return pods


@dataclass
class WorkloadResolver:
    """PID → :class:`Workload`, reading ``/proc`` under ``proc_root`` once per PID."""

    proc_root: Path = Path("/proc")
    team_env: Sequence[str] = ("GPULEDGER_TEAM",)
    model_env: Sequence[str] = ("GPULEDGER_MODEL",)
    team_labels: Sequence[str] = ("team",)
    model_labels: Sequence[str] = ("model",)
    pods: KubeletPods | None = None
    _cache: dict[int, Workload] = field(default_factory=dict)

    def resolve(self, pid: int) -> Workload:
        found = self._cache.get(pid)
        if found is None:
            found = self._cache[pid] = self._read(pid)
        return found

    def forget_except(self, live: set[int]) -> None:
        """Drop PIDs no longer on any GPU, so a reused PID is looked up afresh."""
        for pid in set(self._cache) - live:
            del self._cache[pid]

    def _read(self, pid: int) -> Workload:
        base = self.proc_root / str(pid)
        command = _read_text(base / "comm").strip() or f"pid {pid}"
        cgroup = parse_cgroup(_read_text(base / "cgroup"))
        try:
            env = parse_environ((base / "environ").read_bytes())
        except OSError:
            env = {}
        namespace, pod, container, labels = self._pod_identity(cgroup, env)
        job = env.get("SLURM_JOB_ID")
        team = _first(env, self.team_env) or _first(labels, self.team_labels)
        team = team or env.get("SLURM_JOB_ACCOUNT")
        model = _first(env, self.model_env) or _first(labels, self.model_labels)
        if not (team or pod or job or namespace):
            team = UNLABELLED
        return Workload(namespace, pod, container, job, command, team, model)

    def _pod_identity(
        self, cgroup: CgroupIdentity, env: Mapping[str, str]
    ) -> tuple[str | None, str | None, str | None, Mapping[str, str]]:
        """Namespace, pod, container and labels; without a kubelet, what the environment says.

        In a pod, ``HOSTNAME`` is the pod name and the downward API commonly sets
        ``POD_NAMESPACE``; the container is then known only by its runtime id.
        """
        if cgroup.pod_uid is None:
            return None, None, cgroup.container_id and cgroup.container_id[:12], {}
        info = self.pods.lookup(cgroup.pod_uid) if self.pods else None
        if info is not None:
            container = info.containers.get(cgroup.container_id or "")
            return info.namespace, info.name, container, info.labels
        short = cgroup.container_id[:12] if cgroup.container_id else None
        return env.get("POD_NAMESPACE"), env.get("HOSTNAME"), short, {}


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _first(values: Mapping[str, str], keys: Sequence[str]) -> str | None:
    for key in keys:
        if values.get(key):
            return values[key]
    return None
