"""Price table and refresh: the bundled table, the overlay, and each provider's response shapes.

The Price List API is not implemented by moto, so it runs through botocore's Stubber on a recorded
``get_products`` response; EC2 spot price history runs against the moto server over HTTP; the GCP
Cloud Catalog client talks REST to a local HTTP server serving recorded ``skus`` pages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import boto3
import polars as pl
import pytest
from botocore.stub import Stubber

from gpuledger.prices.aws import (
    fetch_on_demand,
    fetch_spot,
    latest_spot_prices,
    parse_price_list_item,
    price_list_filters,
    refresh_aws,
)
from gpuledger.prices.book import PriceBook, bundled_prices, save_refreshed
from gpuledger.prices.catalog import gpu_catalog
from gpuledger.prices.gcp import accelerator_of, refresh_gcp
from gpuledger.store.delta import Store
from tests.servers import MotoServer, moto_server  # noqa: F401  (fixture)

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
D = Decimal


def test_bundled_table_is_priced_dated_and_known_to_the_catalog() -> None:
    table = bundled_prices()
    known = gpu_catalog().select(pl.col("provider"), pl.col("instance_type"))
    assert table.join(known, on=["provider", "instance_type"], how="anti").is_empty()
    for row in table.to_dicts():
        assert D(row["on_demand_hourly"]) > D(row["spot_hourly"]) > 0, row
        assert row["source"]
        assert datetime.fromisoformat(row["as_of"])


def test_bundled_aws_prices_are_after_the_june_2025_cut() -> None:
    book = PriceBook(bundled_prices())
    p5 = book.lookup("AWS", "us-east-1", "p5.48xlarge")
    assert p5 is not None
    assert p5.on_demand == D("55.04")


def test_price_from_another_region_is_marked_approximate() -> None:
    book = PriceBook(bundled_prices())
    price = book.lookup("AWS", "eu-west-1", "g6.xlarge")
    assert price is not None
    assert price.approximate
    assert "used for eu-west-1" in price.source
    assert book.lookup("AWS", "us-east-1", "no-such.type") is None


def _price_list_response(*items: str, token: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": list(items)}
    if token:
        response["NextToken"] = token
    return response


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            (FIXTURES / "aws_price_list_p5.json").read_text(),
            ("p5.48xlarge", D("55.04"), "2025-06-01"),
        ),
        (
            json.dumps({"product": {"attributes": {"instanceType": "p5.48xlarge"}}, "terms": {}}),
            None,
        ),
    ],
    ids=["on-demand-term", "reserved-only"],
)
def test_price_list_item_parsing(item: str, expected: object) -> None:
    assert parse_price_list_item(item) == expected


def test_price_list_api_through_stubber_follows_next_token() -> None:
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    item = (FIXTURES / "aws_price_list_p5.json").read_text()
    params = {
        "ServiceCode": "AmazonEC2",
        "Filters": price_list_filters("p5.48xlarge", "us-east-1"),
        "FormatVersion": "aws_v1",
    }
    with Stubber(pricing) as stub:
        stub.add_response("get_products", _price_list_response(token="t1"), params)
        stub.add_response("get_products", _price_list_response(item), {**params, "NextToken": "t1"})
        found = fetch_on_demand(pricing, ["p5.48xlarge"], "us-east-1")
        stub.assert_no_pending_responses()
    assert found == {"p5.48xlarge": (D("55.04"), "2025-06-01")}


def _spot(
    zone: str, price: str, minutes_ago: int, instance_type: str = "g6.xlarge"
) -> dict[str, Any]:
    return {
        "AvailabilityZone": zone,
        "InstanceType": instance_type,
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": price,
        "Timestamp": NOW - timedelta(minutes=minutes_ago),
    }


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([_spot("a", "0.40", 5), _spot("a", "0.90", 60)], (D("0.40"), 1)),
        ([_spot("a", "0.35", 5), _spot("b", "0.40", 5), _spot("c", "0.60", 5)], (D("0.40"), 3)),
        ([_spot("a", "0.35", 5), _spot("b", "0.41", 5)], (D("0.38"), 2)),
    ],
    ids=["latest-per-zone-wins", "odd-zones-median", "even-zones-median"],
)
def test_latest_spot_prices(history: list[dict[str, Any]], expected: tuple[Decimal, int]) -> None:
    assert latest_spot_prices(history) == {"g6.xlarge": expected}


@pytest.mark.slow
def test_spot_price_history_against_moto_server(moto_server: MotoServer) -> None:  # noqa: F811
    ec2 = boto3.client(
        "ec2",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    zones = {z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]}
    found = fetch_spot(ec2, ["p5.48xlarge"], NOW)
    price, seen = found["p5.48xlarge"]
    assert price == D("0.00001")  # moto's placeholder spot price: this checks parsing, not value
    assert 1 <= seen <= len(zones)


@pytest.mark.slow
def test_refresh_aws_combines_both_apis(moto_server: MotoServer) -> None:  # noqa: F811
    pricing = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )

    def ec2_for(region: str) -> Any:
        return boto3.client(
            "ec2",
            endpoint_url=moto_server.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    item = (FIXTURES / "aws_price_list_p5.json").read_text()
    with Stubber(pricing) as stub:
        stub.add_response("get_products", _price_list_response(item))
        rows = refresh_aws(pricing, ec2_for, ["us-east-1"], ["p5.48xlarge"], NOW)
    assert [(r["instance_type"], r["on_demand_hourly"], r["spot_hourly"]) for r in rows] == [
        ("p5.48xlarge", "55.04", "0.00001")
    ]
    assert "Price List API" in str(rows[0]["source"])
    assert rows[0]["as_of"] == "2026-11-25"


class _CatalogHandler(BaseHTTPRequestHandler):
    """Serves the recorded Cloud Catalog ``skus`` pages; records each request path."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        _CatalogHandler.requests.append(self.path)
        token = parse_qs(url.query).get("pageToken", [""])[0]
        if url.path != "/v1/services/6F81-5844-456A/skus":
            self.send_error(404)
            return
        page = "gcp_skus_page2.json" if token == "page-2" else "gcp_skus_page1.json"
        body = (FIXTURES / page).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def catalog_endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _CatalogHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _CatalogHandler.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_cloud_catalog_refresh_over_rest(catalog_endpoint: str) -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.billing_v1 import CloudCatalogClient

    client = CloudCatalogClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=catalog_endpoint),
    )
    rows = refresh_gcp(client, ["us-central1"], NOW)
    assert [(r["instance_type"], r["on_demand_hourly"], r["spot_hourly"]) for r in rows] == [
        ("nvidia-h100-80gb", "9.79655", "2.25"),
        ("nvidia-tesla-a100", "2.933908", None),
    ]
    assert all("currencyCode=USD" in path for path in _CatalogHandler.requests)
    assert len(_CatalogHandler.requests) == 2


@pytest.mark.parametrize(
    ("description", "accelerator"),
    [
        ("Nvidia H100 80GB GPU running in Americas", "nvidia-h100-80gb"),
        ("Nvidia Tesla A100 80GB GPU running in EMEA", "nvidia-a100-80gb"),
        ("Nvidia Tesla A100 GPU running in Americas", "nvidia-tesla-a100"),
        ("Nvidia L4 GPU running in APAC", "nvidia-l4"),
        ("Nvidia Tesla P4 GPU running in Americas", "nvidia-tesla-p4"),
        ("Nvidia Tesla T4 GPU attached to Virtual Workstation running in Americas", None),
        ("N2 Instance Core running in Americas", None),
    ],
    ids=["h100", "a100-80", "a100-40", "l4", "p4-not-l4", "workstation", "cpu"],
)
def test_accelerator_of_description(description: str, accelerator: str | None) -> None:
    assert accelerator_of(description) == accelerator


def test_refreshed_prices_win_over_bundled(store: Store) -> None:
    row = {
        "provider": "AWS",
        "region": "us-east-1",
        "instance_type": "p5.48xlarge",
        "on_demand_hourly": "50.00",
        "spot_hourly": "21.5",
        "source": "AWS Price List API (get_products)",
        "as_of": "2026-11-25",
        "approximate": False,
    }
    save_refreshed(store.home, [row])
    price = PriceBook.load(store.home).lookup("AWS", "us-east-1", "p5.48xlarge")
    assert price is not None
    assert (price.on_demand, price.spot, price.approximate) == (D("50.00"), D("21.5"), False)
    other = PriceBook.load(store.home).lookup("AWS", "us-east-1", "p5.4xlarge")
    assert other is not None
    assert other.on_demand == D("6.88")


def test_a_gpu_priced_alone_is_no_rightsizing_candidate(store: Store) -> None:
    rows = [
        {
            "provider": "GCP",
            "region": "us-central1",
            "instance_type": name,
            "on_demand_hourly": price,
            "spot_hourly": None,
            "source": "test",
            "as_of": "2026-11-25",
            "approximate": False,
        }
        for name, price in (("nvidia-l4", "0.56"), ("g2-standard-4", "0.70683"))
    ]
    save_refreshed(store.home, rows)
    candidates = PriceBook.load(store.home).in_region("GCP", "us-central1")
    names = {c.instance_type for c in candidates}
    assert "g2-standard-4" in names
    assert "nvidia-l4" not in names
