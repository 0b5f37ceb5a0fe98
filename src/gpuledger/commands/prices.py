"""`gpuledger prices refresh` and `gpuledger prices show`: the price table the savings are priced from.

Refresh asks the providers' own catalogs — the AWS Price List API and EC2 spot price history
(boto3's default credential chain), the GCP Cloud Billing Catalog (Application Default
Credentials) — for the instance types in the bundled table, and keeps what it found in
``<home>/prices/prices.csv``. It is never run by the tests against the internet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.errors import UsageError
from gpuledger.prices.book import Price, bundled_prices, price_table, save_refreshed

PROVIDERS = ("aws", "gcp")
DEFAULT_REGIONS = {"aws": ["us-east-1"], "gcp": ["us-central1"]}


def _aws_rows(regions: list[str], now: datetime) -> list[dict[str, object]]:
    import boto3

    from gpuledger.prices.aws import refresh_aws

    types = sorted(set(bundled_prices().filter(provider="AWS")[Price.instance_type].to_list()))
    pricing = boto3.client("pricing", region_name="us-east-1")

    def ec2_for(region: str) -> Any:
        return boto3.client("ec2", region_name=region)

    return refresh_aws(pricing, ec2_for, regions, types, now)


def _gcp_rows(regions: list[str], now: datetime) -> list[dict[str, object]]:
    from google.cloud.billing_v1 import CloudCatalogClient

    from gpuledger.prices.gcp import refresh_gcp

    return refresh_gcp(CloudCatalogClient(), regions, now)


def refresh(ctx: Context, *, provider: str, regions: list[str]) -> None:
    if provider not in PROVIDERS:
        raise UsageError(f"unknown provider {provider!r} (expected one of {', '.join(PROVIDERS)})")
    if not ctx.store.is_local:
        raise UsageError("prices refresh keeps its table in a local ledger home")
    now = datetime.now(UTC)
    chosen = regions or DEFAULT_REGIONS[provider]
    rows = _aws_rows(chosen, now) if provider == "aws" else _gcp_rows(chosen, now)
    path = save_refreshed(ctx.store.home, rows)
    Console().print(f"{len(rows)} price(s) from {provider} saved to {path}", highlight=False)


def show(ctx: Context, *, provider: str | None) -> None:
    table = price_table(ctx.store.home)
    if provider:
        table = table.filter(table[Price.provider].str.to_lowercase() == provider.lower())
    out = Table(title="GPU instance prices (USD/hour)", title_justify="left")
    for name in (
        Price.provider,
        Price.region,
        Price.instance_type,
        "on demand",
        "spot",
        "as of",
        "~",
    ):
        out.add_column(name)
    for row in table.sort(Price.provider, Price.region, Price.instance_type).to_dicts():
        out.add_row(
            row[Price.provider],
            row[Price.region],
            row[Price.instance_type],
            row[Price.on_demand_hourly] or "-",
            row[Price.spot_hourly] or "-",
            row[Price.as_of],
            "approx." if row[Price.approximate] else "",
        )
    Console().print(out)


def run(ctx: Context, *, action: str, **options: Any) -> None:
    """Dispatch ``prices <action>``."""
    if action == "refresh":
        refresh(ctx, **options)
    else:
        show(ctx, **options)
