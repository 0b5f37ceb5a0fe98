"""Refresh GCP GPU prices from the Cloud Billing Catalog (Compute Engine GPU SKUs).

Compute Engine bills a GPU as its own SKU per GPU-hour ("Nvidia H100 80GB GPU running in
Americas"), on demand and as Spot ("Preemptible"). These refresh the per-GPU accelerator rows
(``nvidia-h100-80gb`` …), the rows a GPU line of a GCP bill is priced against; whole machine
types (A2, A3, G2) also include vCPU and memory SKUs and keep their bundled prices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from gpuledger.errors import SourceError

COMPUTE_ENGINE = "services/6F81-5844-456A"
CATALOG_SOURCE = "GCP Cloud Billing Catalog (list_skus)"
# SKU description → accelerator type; the first match wins, so the longer names come first.
_ACCELERATORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bH100 80GB\b", "nvidia-h100-80gb"),
        (r"\bA100 80GB\b", "nvidia-a100-80gb"),
        (r"\bA100\b", "nvidia-tesla-a100"),
        (r"\bL4\b", "nvidia-l4"),
        (r"\bT4\b", "nvidia-tesla-t4"),
        (r"\bV100\b", "nvidia-tesla-v100"),
        (r"\bP100\b", "nvidia-tesla-p100"),
        (r"\bP4\b", "nvidia-tesla-p4"),
    )
)
_USAGE_TYPES = {"OnDemand": "on_demand", "Preemptible": "spot"}


def accelerator_of(description: str) -> str | None:
    """The accelerator type a GPU SKU description names, or None (workstation licences too)."""
    if "workstation" in description.lower():
        return None
    for pattern, name in _ACCELERATORS:
        if pattern.search(description):
            return name
    return None


def money(units: int | str, nanos: int) -> Decimal:
    """A ``google.type.Money`` amount, exactly: units + nanos / 10^9."""
    return Decimal(int(units)) + Decimal(int(nanos)) / Decimal(10**9)


def hourly_price(sku: Any) -> Decimal | None:
    """The SKU's current price per hour (its latest pricing info, first tier), if hourly."""
    if not sku.pricing_info:
        return None
    expression = sku.pricing_info[-1].pricing_expression
    if expression.usage_unit != "h" or not expression.tiered_rates:
        return None
    price = expression.tiered_rates[0].unit_price
    return money(price.units, price.nanos).normalize()


def gpu_prices(skus: Iterable[Any], regions: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(region, accelerator) → {"on_demand"|"spot": price, "sku": id} from GPU SKUs."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for sku in skus:
        kind = _USAGE_TYPES.get(sku.category.usage_type)
        accelerator = accelerator_of(sku.description)
        price = hourly_price(sku)
        if sku.category.resource_group != "GPU" or not kind or not accelerator or price is None:
            continue
        for region in set(sku.service_regions) & regions:
            entry = found.setdefault((region, accelerator), {})
            entry[kind] = price
            entry.setdefault("skus", []).append(sku.sku_id)
    return found


def fetch_skus(client: Any) -> list[Any]:
    """Every Compute Engine SKU, priced in USD."""
    from google.api_core.exceptions import GoogleAPICallError

    try:
        return list(client.list_skus(request={"parent": COMPUTE_ENGINE, "currency_code": "USD"}))
    except GoogleAPICallError as exc:
        transient = getattr(exc, "code", 0) in {429, 500, 502, 503, 504}
        raise SourceError(f"GCP Cloud Catalog: {exc}", transient=transient) from exc


def refresh_gcp(client: Any, regions: Iterable[str], now: datetime) -> list[dict[str, object]]:
    """Price rows (per GPU-hour) for each accelerator the catalog prices in these regions."""
    found = gpu_prices(fetch_skus(client), set(regions))
    return [
        {
            "provider": "GCP",
            "region": region,
            "instance_type": accelerator,
            "on_demand_hourly": _text(entry.get("on_demand")),
            "spot_hourly": _text(entry.get("spot")),
            "source": f"{CATALOG_SOURCE}: SKU {', '.join(sorted(entry['skus']))}",
            "as_of": now.date().isoformat(),
            "approximate": False,
        }
        for (region, accelerator), entry in sorted(found.items())
    ]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
