"""Real servers for tests: a moto S3 server over HTTP on 127.0.0.1.

Import the fixtures into a test module (``from tests.servers import moto_server, s3``). The server
is started once per session on a free port; ``s3`` points boto3 and Polars at it through
``AWS_ENDPOINT_URL`` with dummy credentials and wipes its state before each test, so tests run
against the real S3 protocol, never an in-process patch.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"


@dataclass(frozen=True)
class MotoServer:
    endpoint: str

    def reset(self) -> None:
        """Drop every bucket and object (moto's own reset endpoint)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(f"http://{host}:{port}")
    finally:
        server.stop()


@dataclass(frozen=True)
class S3:
    """A boto3 S3 client on the moto server, with helpers to upload folders."""

    client: Any
    endpoint: str

    def upload_tree(self, folder: Path, bucket: str, prefix: str) -> list[str]:
        """Upload every file under ``folder`` to ``s3://bucket/prefix/…``; return the keys."""
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{prefix}/{path.relative_to(folder).as_posix()}".lstrip("/")
            self.client.upload_file(str(path), bucket, key)
            keys.append(key)
        return keys

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))


@pytest.fixture
def s3(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> S3:
    """A clean moto S3 that boto3 (default chain) and Polars both reach through the env."""
    import boto3

    moto_server.reset()
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=REGION)
    return S3(client, moto_server.endpoint)
