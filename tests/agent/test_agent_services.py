"""The agent's neighbours: cloud metadata services, the metrics endpoint, and the command itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gpuledger.agent.cloud import MetadataEndpoints, find_resource_id
from gpuledger.agent.metrics import AgentMetrics
from gpuledger.agent.nvml import NvmlBackend
from gpuledger.agent.sampler import Agent, AgentOptions
from gpuledger.agent.workload import WorkloadResolver
from gpuledger.commands import agent as agent_command
from gpuledger.commands.context import Context
from gpuledger.schema import Usage
from tests.agent.spool_files import read_spool_file
from tests.fakes.nvml import GIB, Activity, FakeGpu, FakeNvml, drive

GCP_ID = "//compute.googleapis.com/projects/acme-ml/zones/us-central1-a/instances/4211"
AZURE_ID = "/subscriptions/5a7c/resourceGroups/ml/providers/Microsoft.Compute/virtualMachines/v1"


def metadata_server(cloud: str) -> ThreadingHTTPServer:
    """One cloud's metadata service as the agent meets it (AWS insists on an IMDSv2 token)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body.encode())

        def do_PUT(self) -> None:
            if cloud == "aws" and self.path == "/latest/api/token":
                return self._answer(200, "tok3n")
            return self._answer(405, "")

        def do_GET(self) -> None:
            if cloud == "aws" and self.path == "/latest/meta-data/instance-id":
                ok = self.headers.get("X-aws-ec2-metadata-token") == "tok3n"
                return self._answer(200 if ok else 401, "i-0123456789abcdef0" if ok else "")
            if cloud == "gcp" and self.headers.get("Metadata-Flavor") == "Google":
                answers = {
                    "/computeMetadata/v1/instance/id": "4211",
                    "/computeMetadata/v1/instance/zone": "projects/8812/zones/us-central1-a",
                    "/computeMetadata/v1/project/project-id": "acme-ml",
                }
                if self.path in answers:
                    return self._answer(200, answers[self.path], {"Metadata-Flavor": "Google"})
            if (
                cloud == "azure"
                and self.headers.get("Metadata") == "true"
                and self.path.startswith("/metadata/instance/compute/resourceId?")
            ):
                return self._answer(200, AZURE_ID)
            return self._answer(404, "")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def clouds() -> Iterator[dict[str, str]]:
    servers = {cloud: metadata_server(cloud) for cloud in ("aws", "gcp", "azure", "none")}
    try:
        yield {c: f"http://127.0.0.1:{s.server_address[1]}" for c, s in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()


@pytest.mark.parametrize(
    ("cloud", "expected"),
    [("aws", "i-0123456789abcdef0"), ("gcp", GCP_ID), ("azure", AZURE_ID), ("none", None)],
    ids=["aws-imdsv2", "gcp-metadata", "azure-imds", "no-cloud"],
)
def test_resource_id_from_metadata(
    clouds: dict[str, str], cloud: str, expected: str | None
) -> None:
    # every service but this cloud's answers "not here"
    other = clouds["none"]
    endpoints = MetadataEndpoints(
        aws=clouds["aws"] if cloud == "aws" else other,
        gcp=clouds["gcp"] if cloud == "gcp" else other,
        azure=clouds["azure"] if cloud == "azure" else other,
    )
    assert find_resource_id(endpoints) == expected


def test_unreachable_metadata_gives_up_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    began = time.monotonic()
    assert find_resource_id(MetadataEndpoints(closed, closed, closed)) is None
    assert time.monotonic() - began < 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_endpoint_serves_gpus_and_workloads(tmp_path: Path) -> None:
    gpu = FakeGpu("GPU-1", "NVIDIA L4", 24 * GIB)
    fake = FakeNvml([gpu], [Activity("GPU-1", 11, 0, 2, sm=70, memory=4 * GIB)])
    metrics = AgentMetrics()
    agent = Agent(
        NvmlBackend(),
        WorkloadResolver(proc_root=tmp_path),
        AgentOptions(spool=tmp_path / "spool", host="h", resource_id=None),
        metrics=metrics,
    )
    port = free_port()
    metrics.serve(port, address="127.0.0.1")
    with fake.installed():
        agent.start()
        drive(agent, fake, seconds=3, start=datetime(2026, 10, 1, tzinfo=UTC))
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    gpu_labels = (
        ("gpu_index", "0"),
        ("gpu_model", "NVIDIA L4"),
        ("gpu_uuid", "GPU-1"),
        ("mig_profile", ""),
    )
    assert samples[("gpuledger_agent_samples_total", ())] == 3
    assert samples[("gpuledger_gpu_sm_util_percent", gpu_labels)] == 0  # the process left at 2 s
    assert not [k for k in samples if k[0] == "gpuledger_workload_sm_util_percent"]  # gone too


def test_agent_command_once_writes_one_bucket(tmp_path: Path) -> None:
    gpu = FakeGpu("GPU-1", "NVIDIA L4", 24 * GIB)
    fake = FakeNvml([gpu], [Activity("GPU-1", 11, 0, 1e9, sm=70, memory=4 * GIB)])
    config = tmp_path / "gpuledger.toml"
    config.write_text(f'[agent]\nproc_root = "{tmp_path / "proc"}"\n')
    with fake.installed():
        agent_command.run(
            Context(home=str(tmp_path / "home"), config=config),
            spool=tmp_path / "spool",
            interval=0.2,
            bucket=1,
            once=True,
            metrics_port=None,
            resource_id="i-0abc",
            max_spool_mb=16,
        )
    (written,) = (tmp_path / "spool").glob("gpu_usage-*.csv")
    rows = read_spool_file(written)
    assert rows[Usage.ResourceId].to_list() == ["i-0abc"]
    assert rows[Usage.pid_command].to_list() == ["pid 11"]  # no /proc entry: unlabelled
    assert 1 <= rows[Usage.samples][0] <= 6


def test_agent_without_driver_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "GPULEDGER_HOME": str(tmp_path)}
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("gpuledger")),
            "agent",
            "--once",
            "--spool",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: NVML is not available on this host")
    assert len(done.stderr.strip().splitlines()) <= 2  # one message (a narrow terminal may wrap it)
