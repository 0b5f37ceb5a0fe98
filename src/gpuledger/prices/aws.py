"""Refresh AWS GPU prices: on-demand from the Price List API, spot from EC2 spot price history.

Only the boto3 calls live in :func:`fetch_on_demand` and :func:`fetch_spot`; turning their
responses into prices is done by pure functions that tests call on recorded response shapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gpuledger.errors import SourceError

PRICE_LIST_SOURCE = "AWS Price List API (get_products)"
SPOT_SOURCE = "EC2 spot price history (median over zones of each zone's latest price)"
# The filters that select the plain on-demand Linux price of a shared-tenancy instance.
_FIXED_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
}


def price_list_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """``get_products`` filters for one instance type's on-demand Linux price in one region."""
    wanted = {"instanceType": instance_type, "regionCode": region, **_FIXED_FILTERS}
    return [{"Type": "TERM_MATCH", "Field": key, "Value": value} for key, value in wanted.items()]


def parse_price_list_item(item: str) -> tuple[str, Decimal, str] | None:
    """(instance type, USD per hour, effective date) from one ``PriceList`` JSON string.

    The price sits at ``terms.OnDemand.<offer>.priceDimensions.<dim>.pricePerUnit.USD``; an item
    without an hourly on-demand USD price (a reservation-only SKU) yields None.
    """
    product = json.loads(item)
    instance_type = product.get("product", {}).get("attributes", {}).get("instanceType")
    for offer in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in offer.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if instance_type and usd is not None and dimension.get("unit") == "Hrs":
                return instance_type, Decimal(usd).normalize(), offer.get("effectiveDate", "")[:10]
    return None


def fetch_on_demand(
    pricing: Any, instance_types: Iterable[str], region: str
) -> dict[str, tuple[Decimal, str]]:
    """Instance type → (on-demand USD/hour, effective date) from the Price List API."""
    found: dict[str, tuple[Decimal, str]] = {}
    for instance_type in instance_types:
        pages = pricing.get_paginator("get_products").paginate(
            ServiceCode="AmazonEC2",
            Filters=price_list_filters(instance_type, region),
            FormatVersion="aws_v1",
        )
        for page in _checked(pages, "AWS Price List API"):
            for item in page.get("PriceList", []):
                parsed = parse_price_list_item(item)
                if parsed and parsed[1] > 0:
                    found[parsed[0]] = (parsed[1], parsed[2])
    return found


def latest_spot_prices(history: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Decimal, int]]:
    """Instance type → (median over zones of each zone's latest spot price, number of zones).

    Spot prices move; the latest price per availability zone is what a new request would pay
    there, and the median over zones is what a scheduler free to pick a zone can expect.
    """
    latest: dict[tuple[str, str], tuple[datetime, Decimal]] = {}
    for entry in history:
        key = (entry["InstanceType"], entry["AvailabilityZone"])
        seen = latest.get(key)
        if seen is None or entry["Timestamp"] > seen[0]:
            latest[key] = (entry["Timestamp"], Decimal(entry["SpotPrice"]))
    by_type: dict[str, list[Decimal]] = {}
    for (instance_type, _zone), (_at, price) in latest.items():
        by_type.setdefault(instance_type, []).append(price)
    return {name: (_median(prices), len(prices)) for name, prices in by_type.items()}


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def fetch_spot(
    ec2: Any, instance_types: Iterable[str], now: datetime, days: int = 7
) -> dict[str, tuple[Decimal, int]]:
    """Recent Linux spot prices for these instance types in the client's region."""
    pages = ec2.get_paginator("describe_spot_price_history").paginate(
        InstanceTypes=list(instance_types),
        ProductDescriptions=["Linux/UNIX"],
        StartTime=now - timedelta(days=days),
        EndTime=now,
    )
    history = [
        entry
        for page in _checked(pages, "EC2 spot price history")
        for entry in page["SpotPriceHistory"]
    ]
    return latest_spot_prices(history)


def _checked(pages: Iterable[Mapping[str, Any]], what: str) -> list[Mapping[str, Any]]:
    """All pages, with boto errors turned into a SourceError that says which API failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return list(pages)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        transient = code in {"Throttling", "ThrottlingException", "RequestLimitExceeded"}
        raise SourceError(f"{what}: {exc}", transient=transient) from exc
    except BotoCoreError as exc:
        raise SourceError(f"{what}: {exc}", transient=True) from exc


def refresh_aws(
    pricing: Any,
    ec2_for_region: Callable[[str], Any],
    regions: Iterable[str],
    instance_types: list[str],
    now: datetime,
) -> list[dict[str, object]]:
    """Price rows for each region and instance type that either API priced."""
    rows: list[dict[str, object]] = []
    for region in regions:
        on_demand = fetch_on_demand(pricing, instance_types, region)
        spot = fetch_spot(ec2_for_region(region), instance_types, now)
        for instance_type in sorted(set(on_demand) | set(spot)):
            rows.append(_row(region, instance_type, on_demand.get(instance_type), spot, now))
    return rows


def _row(
    region: str,
    instance_type: str,
    on_demand: tuple[Decimal, str] | None,
    spot: Mapping[str, tuple[Decimal, int]],
    now: datetime,
) -> dict[str, object]:
    spot_price = spot.get(instance_type)
    sources = []
    if on_demand:
        sources.append(f"on-demand: {PRICE_LIST_SOURCE}, effective {on_demand[1]}")
    if spot_price:
        sources.append(f"spot: {SPOT_SOURCE}, {spot_price[1]} zone(s)")
    return {
        "provider": "AWS",
        "region": region,
        "instance_type": instance_type,
        "on_demand_hourly": str(on_demand[0]) if on_demand else None,
        "spot_hourly": str(spot_price[0]) if spot_price else None,
        "source": "; ".join(sources),
        "as_of": now.date().isoformat(),
        "approximate": False,
    }
