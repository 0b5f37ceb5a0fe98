"""PID → workload: cgroup path shapes, environment keys, kubelet pod facts, unknown processes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpuledger.agent.workload import (
    CgroupIdentity,
    KubeletPods,
    Workload,
    WorkloadResolver,
    parse_cgroup,
    parse_environ,
)
from gpuledger.schema import UNLABELLED
from tests.fakes.nvml import k8s_cgroup, write_proc

UID = "5f1b7c2e-1111-4a2b-9c3d-0123456789ab"
CID = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (k8s_cgroup(UID, CID, shape="containerd-v2"), CgroupIdentity(UID, CID)),
        (k8s_cgroup(UID, CID, shape="crio-v2"), CgroupIdentity(UID, CID)),
        (k8s_cgroup(UID, CID, shape="cgroupfs-v1"), CgroupIdentity(UID, CID)),
        (
            f"0::/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/docker-{CID}.scope\n",
            CgroupIdentity(UID, CID),
        ),
        (f"0::/system.slice/docker-{CID}.scope\n", CgroupIdentity(None, CID)),
        (f"12:memory:/docker/{CID}\n11:cpu:/docker/{CID}\n", CgroupIdentity(None, CID)),
        ("0::/user.slice/user-1000.slice/session-3.scope\n", CgroupIdentity(None, None)),
        ("", CgroupIdentity(None, None)),
    ],
    ids=[
        "v2-containerd-burstable",
        "v2-crio-guaranteed",
        "v1-cgroupfs",
        "v2-dockershim",
        "v2-plain-docker",
        "v1-plain-docker",
        "host-process",
        "unreadable",
    ],
)
def test_parse_cgroup(text: str, expected: CgroupIdentity) -> None:
    assert parse_cgroup(text) == expected


def test_parse_environ_keeps_equals_in_values() -> None:
    assert parse_environ(b"A=1\0B=x=y\0junk\0") == {"A": "1", "B": "x=y"}


@pytest.mark.parametrize(
    ("environ", "cgroup", "expected"),
    [
        (
            {"GPULEDGER_TEAM": "nlp", "GPULEDGER_MODEL": "llm-7b"},
            "",
            Workload(pid_command="python", team="nlp", model="llm-7b"),
        ),
        (
            {"SLURM_JOB_ID": "77", "SLURM_JOB_ACCOUNT": "vision"},
            "",
            Workload(job="77", pid_command="python", team="vision"),
        ),
        (
            {"SLURM_JOB_ID": "77", "SLURM_JOB_ACCOUNT": "vision", "GPULEDGER_TEAM": "speech"},
            "",
            Workload(job="77", pid_command="python", team="speech"),
        ),
        (
            {"HOSTNAME": "trainer-0", "POD_NAMESPACE": "nlp"},
            k8s_cgroup(UID, CID),
            Workload("nlp", "trainer-0", CID[:12], None, "python"),
        ),
        ({}, "", Workload(pid_command="python", team=UNLABELLED)),
    ],
    ids=["env-keys", "slurm", "env-team-over-slurm-account", "pod-without-kubelet", "unknown"],
)
def test_resolver_reads_proc(
    tmp_path: Path, environ: dict[str, str], cgroup: str, expected: Workload
) -> None:
    write_proc(tmp_path, 42, comm="python", cgroup=cgroup or "0::/\n", environ=environ)
    assert WorkloadResolver(proc_root=tmp_path).resolve(42) == expected


def test_vanished_process_is_still_a_workload(tmp_path: Path) -> None:
    got = WorkloadResolver(proc_root=tmp_path).resolve(999)
    assert got == Workload(pid_command="pid 999", team=UNLABELLED)


def test_reused_pid_is_looked_up_again(tmp_path: Path) -> None:
    resolver = WorkloadResolver(proc_root=tmp_path)
    write_proc(tmp_path, 5, comm="old", environ={"GPULEDGER_TEAM": "a"})
    assert resolver.resolve(5).pid_command == "old"
    write_proc(tmp_path, 5, comm="new", environ={"GPULEDGER_TEAM": "b"})
    assert resolver.resolve(5).pid_command == "old"  # cached while the PID stays on the GPU
    resolver.forget_except(set())
    assert resolver.resolve(5) == Workload(pid_command="new", team="b")


@pytest.fixture
def kubelet() -> Iterator[tuple[str, list[int]]]:
    """A kubelet ``/pods`` endpoint on 127.0.0.1 that counts its calls."""
    calls: list[int] = []
    body = {
        "kind": "PodList",
        "items": [
            {
                "metadata": {
                    "name": "trainer-0",
                    "namespace": "nlp",
                    "uid": UID,
                    "labels": {"team": "NLP", "model": "llm-7b"},
                },
                "status": {
                    "containerStatuses": [
                        {"name": "trainer", "containerID": f"containerd://{CID}"},
                        {"name": "sidecar", "containerID": f"containerd://{'f' * 64}"},
                    ]
                },
            }
        ],
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            calls.append(1)
            payload = json.dumps(body).encode() if self.path == "/pods" else b"{}"
            self.send_response(200 if self.path == "/pods" else 404)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()


def test_kubelet_names_pod_container_and_labels(
    tmp_path: Path, kubelet: tuple[str, list[int]]
) -> None:
    url, calls = kubelet
    write_proc(tmp_path, 7, comm="python", cgroup=k8s_cgroup(UID, CID, shape="cgroupfs-v1"))
    write_proc(tmp_path, 8, comm="python", cgroup=k8s_cgroup("0" * 8 + UID[8:], CID))
    resolver = WorkloadResolver(proc_root=tmp_path, pods=KubeletPods(url))
    assert resolver.resolve(7) == Workload(
        "nlp", "trainer-0", "trainer", None, "python", "NLP", "llm-7b"
    )
    # a pod the kubelet does not know, asked again within the refresh window: no second call
    assert resolver.resolve(8) == Workload(
        container=CID[:12], pid_command="python", team=UNLABELLED
    )
    resolver.forget_except(set())
    resolver.resolve(8)
    assert len(calls) == 1
