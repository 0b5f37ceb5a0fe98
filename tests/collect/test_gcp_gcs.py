"""Both collectors read ``gs://bucket/prefix`` through google-cloud-storage.

No GCS emulator can be installed here, so a small local HTTP server answers the three JSON API
calls the client makes (bucket metadata, object listing, media download), and the client is
pointed at it the documented way, ``STORAGE_EMULATOR_HOST``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse

import polars as pl
import pytest

from gpuledger.collect.focus import collector as focus
from gpuledger.collect.gcp import collector as gcp
from gpuledger.config import Settings
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow


class _FakeStorage(BaseHTTPRequestHandler):
    objects: ClassVar[dict[str, bytes]] = {}  # "bucket/name" → content

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = url.path.split("/")
        bucket = parts[parts.index("b") + 1]
        if url.path.endswith(f"/b/{bucket}"):
            body = json.dumps({"kind": "storage#bucket", "name": bucket}).encode()
        elif url.path.endswith("/o"):
            prefix = parse_qs(url.query).get("prefix", [""])[0]
            items = [
                {"kind": "storage#object", "bucket": bucket, "name": key.split("/", 1)[1],
                 "size": str(len(content))}
                for key, content in sorted(self.objects.items())
                if key.startswith(f"{bucket}/{prefix}")
            ]  # fmt: skip
            body = json.dumps({"kind": "storage#objects", "items": items}).encode()
        else:
            name = unquote("/".join(parts[parts.index("o") + 1 :]))
            body = self.objects[f"{bucket}/{name}"]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bytes]]:
    objects: dict[str, bytes] = {}
    handler = type("Handler", (_FakeStorage,), {"objects": objects})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_port}")
    try:
        yield objects
    finally:
        server.shutdown()
        server.server_close()


def test_gcp_export_under_gs_is_listed_and_read(gcs: dict[str, bytes], store: Store) -> None:
    gcs["billing/exports/gcp/export-000000000000.json"] = (
        FIXTURES / "gcp" / "export_resource_v1.json"
    ).read_bytes()
    gcs["billing/exports/other/readme.txt"] = b"not part of the export"

    result = gcp.ingest(store, Settings(), "gs://billing/exports/gcp/")

    totals = dict(
        store.read("cost")
        .group_by(Cost.x_BillingPeriod)
        .agg(pl.col(Cost.EffectiveCost).sum())
        .iter_rows()
    )
    assert totals == {"2026-09": Decimal("14.4537"), "2026-10": Decimal("1.3")}
    assert result.quarantined == 0
    assert store.read("cost").get_column(Cost.x_SourceFile).unique().to_list() == [
        "gs://billing/exports/gcp/export-000000000000.json"
    ]


def test_focus_export_under_gs_is_listed_and_read(gcs: dict[str, bytes], store: Store) -> None:
    gcs["billing/focus/20260501-20260531/part_0_0001.csv.gz"] = (
        FIXTURES / "focus" / "focus-1.2-synthetic-gcp.csv.gz"
    ).read_bytes()

    result = focus.ingest(store, Settings(), "gs://billing/focus/")

    assert result.rows == 1000
    billed = store.read("cost").get_column(Cost.BilledCost).sum()
    assert billed == Decimal("31758.210633880783500")
