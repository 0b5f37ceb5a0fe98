"""Everything on the sample company's bills besides GPU instance-hours.

Disks, egress and CPU side-cars follow the GPU fleet hour by hour (three non-GPU rows per GPU
instance-hour at benchmark scales, as in real fleets); support, tax, credits, a refund and a shared
transit gateway are monthly or daily lines that no instance tag explains, so the attribution engine
has to place them by rule.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import polars as pl

from gpuledger.period import Period
from gpuledger.sample.accounts import ACCOUNTS
from gpuledger.schema import MONEY, UTC_TIME, make_schema

SIDE_SERVICES = {
    # provider: (storage service, network service, compute service, cpu type, cpu $/h, disk $/h)
    "AWS": (
        "Amazon Elastic Block Store",
        "AWS Data Transfer",
        "Amazon Elastic Compute Cloud",
        "m6i.2xlarge",
        "0.384",
        "0.2244",
    ),
    "GCP": (
        "Compute Engine",
        "Networking",
        "Compute Engine",
        "n2-standard-8",
        "0.388472",
        "0.2301",
    ),
    "Microsoft": ("Storage", "Bandwidth", "Virtual Machines", "Standard_D8s_v5", "0.384", "0.2104"),
}

OTHER_CHARGES_SCHEMA = make_schema(
    {
        "provider": pl.String,
        "billing_account_id": pl.String,
        "sub_account_id": pl.String,
        "service_name": pl.String,
        "service_category": pl.String,
        "charge_kind": pl.String,
        "resource_id": pl.String,
        "instance_type": pl.String,
        "team_tag": pl.String,
        "hour_start": UTC_TIME,
        "month": pl.String,
        "usage_amount": pl.Float64,
        "usage_unit": pl.String,
        "amount": MONEY,
        "description": pl.String,
    }
)


def other_charges(
    instances: pl.DataFrame,
    instance_hours: pl.DataFrame,
    months: list[str],
    rng: np.random.Generator,
    *,
    base_fleet_size: int,
) -> pl.DataFrame:
    """Disks, network and CPU side-cars of the GPU fleet, plus monthly support, tax, credits."""
    hourly = instance_hours.join(
        instances.select(
            "resource_id",
            "provider",
            "billing_account_id",
            "sub_account_id",
            "resource_name",
            "team_tag",
            "zone",
        ),
        on="resource_id",
    )
    bulk = instances.height > base_fleet_size
    frames = [_disk_rows(hourly), _network_rows(hourly, rng, hourly_rows=bulk)]
    if bulk:
        frames.append(_cpu_rows(hourly))
    frames.append(_monthly_rows(instances, instance_hours, months))
    return pl.concat(
        [f.select(list(OTHER_CHARGES_SCHEMA)).cast(OTHER_CHARGES_SCHEMA) for f in frames]
    )


def _side(provider_column: str, index: int) -> pl.Expr:
    return pl.col(provider_column).replace_strict(
        {p: v[index] for p, v in SIDE_SERVICES.items()}, return_dtype=pl.String
    )


def _disk_rows(hourly: pl.DataFrame) -> pl.DataFrame:
    disk_id = (
        pl.when(pl.col("provider") == "AWS")
        .then(pl.concat_str(pl.lit("vol-0"), pl.col("resource_id").str.slice(3, 16)))
        .when(pl.col("provider") == "GCP")
        .then(
            pl.concat_str(
                pl.lit("//compute.googleapis.com/projects/"),
                pl.col("sub_account_id"),
                pl.lit("/zones/"),
                pl.col("zone"),
                pl.lit("/disks/"),
                pl.col("resource_name"),
                pl.lit("-data"),
            )
        )
        .otherwise(
            pl.concat_str(
                pl.col("resource_id").str.replace("virtualMachines", "disks"), pl.lit("-data")
            )
        )
    )
    return hourly.with_columns(
        _side("provider", 0).alias("service_name"),
        pl.lit("Storage").alias("service_category"),
        pl.lit("storage").alias("charge_kind"),
        disk_id.alias("resource_id"),
        pl.lit(None, pl.String).alias("instance_type"),
        pl.lit(2048 / 730).alias("usage_amount"),
        pl.lit("GB-Hours").alias("usage_unit"),
        _side("provider", 5).cast(MONEY).alias("amount"),
        pl.lit("2 TiB SSD data volume").alias("description"),
    )


def _network_rows(
    hourly: pl.DataFrame, rng: np.random.Generator, *, hourly_rows: bool
) -> pl.DataFrame:
    """Egress from each instance: hourly at benchmark scales, one row a day in the small sample."""
    rows = (
        hourly
        if hourly_rows
        else hourly.with_columns(pl.col("hour_start").dt.truncate("1d")).unique(
            ["resource_id", "hour_start"], maintain_order=True
        )
    )
    per_row = 1 if hourly_rows else 24
    gigabytes = rng.gamma(2.0, 1.5, rows.height) * per_row
    return rows.with_columns(
        _side("provider", 1).alias("service_name"),
        pl.lit("Networking").alias("service_category"),
        pl.lit("network").alias("charge_kind"),
        pl.lit(None, pl.String).alias("instance_type"),
        pl.Series("usage_amount", gigabytes.round(3)),
        pl.lit("GB").alias("usage_unit"),
        (pl.Series(gigabytes.round(3)) * 0.09)
        .round(6)
        .cast(pl.Decimal(38, 6))
        .cast(MONEY)
        .alias("amount"),
        pl.lit("Data transfer out to the internet").alias("description"),
    )


def _cpu_rows(hourly: pl.DataFrame) -> pl.DataFrame:
    """A CPU side-car instance per GPU instance (data loaders, API gateways)."""
    cpu_id = (
        pl.when(pl.col("provider") == "AWS")
        .then(pl.concat_str(pl.lit("i-1"), pl.col("resource_id").str.slice(3, 16)))
        .otherwise(pl.concat_str(pl.col("resource_id"), pl.lit("-cpu")))
    )
    return hourly.with_columns(
        _side("provider", 2).alias("service_name"),
        pl.lit("Compute").alias("service_category"),
        pl.lit("usage").alias("charge_kind"),
        cpu_id.alias("resource_id"),
        _side("provider", 3).alias("instance_type"),
        pl.lit(1.0).alias("usage_amount"),
        pl.lit("Hrs").alias("usage_unit"),
        _side("provider", 4).cast(MONEY).alias("amount"),
        pl.lit("CPU side-car instance").alias("description"),
    )


def _monthly_rows(
    instances: pl.DataFrame, instance_hours: pl.DataFrame, months: list[str]
) -> pl.DataFrame:
    """Support, tax, credits, a refund and shared networking: lines no instance tag explains."""
    usage = (
        instance_hours.join(
            instances.select(
                "resource_id", "provider", "billing_account_id", "sub_account_id", "effective_rate"
            ),
            on="resource_id",
        )
        .group_by("provider", "billing_account_id", "sub_account_id", "month")
        .agg(pl.col("effective_rate").sum().alias("usage"))
    )
    rows: list[dict[str, object]] = []
    for month in months:
        start, end = Period.parse(month).bounds()
        aws = usage.filter((pl.col("provider") == "AWS") & (pl.col("month") == month))
        payer = ACCOUNTS["AWS"][0][0]
        aws_total = sum(aws["usage"].to_list(), Decimal(0))
        rows.append(
            _line(
                "AWS",
                payer,
                payer,
                "AWS Support (Business)",
                "Support",
                "support",
                month,
                (aws_total * Decimal("0.03")).quantize(Decimal("0.01")),
                "AWS Support (Business) 3% of usage",
                quantity=(float(aws_total), "Dollars"),
            )
        )
        for row in aws.filter(pl.col("sub_account_id") == ACCOUNTS["AWS"][1][2]).iter_rows(
            named=True
        ):
            rows.append(
                _line(
                    "AWS",
                    payer,
                    row["sub_account_id"],
                    "Amazon Elastic Compute Cloud",
                    "Compute",
                    "tax",
                    month,
                    (row["usage"] * Decimal("0.0625")).quantize(Decimal("0.01")),
                    "Sales tax 6.25%",
                )
            )
        rows.append(
            _line(
                "AWS",
                payer,
                ACCOUNTS["AWS"][0][2],
                "AWS Transit Gateway",
                "Networking",
                "network",
                month,
                Decimal("1.20") * Decimal((end - start).days * 24),
                "Shared transit gateway attachments",
                quantity=(float((end - start).days * 24), "Hrs"),
            )
        )
        if month == months[0]:
            rows.append(
                _line(
                    "AWS",
                    payer,
                    ACCOUNTS["AWS"][1][2],
                    "Amazon Elastic Compute Cloud",
                    "Compute",
                    "credit",
                    month,
                    Decimal("-1500.00"),
                    "AWS Activate promotional credit",
                )
            )
        if month == months[-1]:
            rows.append(
                _line(
                    "AWS",
                    payer,
                    ACCOUNTS["AWS"][0][2],
                    "Amazon Elastic Compute Cloud",
                    "Compute",
                    "refund",
                    month,
                    Decimal("-212.50"),
                    "Refund: capacity reservation not delivered",
                )
            )
            gcp = ACCOUNTS["GCP"][1]
            rows.append(
                _line(
                    "GCP",
                    gcp[0],
                    gcp[2],
                    "Compute Engine",
                    "Compute",
                    "credit",
                    month,
                    Decimal("-750.00"),
                    "Research promotion credit",
                )
            )
    return pl.DataFrame(rows, schema=OTHER_CHARGES_SCHEMA)


def _line(
    provider: str,
    billing: str,
    sub: str,
    service: str,
    category: str,
    kind: str,
    month: str,
    amount: Decimal,
    description: str,
    *,
    quantity: tuple[float, str] | None = None,
) -> dict[str, object]:
    """A monthly line; ``quantity`` is (amount, unit) for lines priced per unit."""
    return {
        "provider": provider,
        "billing_account_id": billing,
        "sub_account_id": sub,
        "service_name": service,
        "service_category": category,
        "charge_kind": kind,
        "resource_id": None,
        "instance_type": None,
        "team_tag": None,
        "hour_start": None,
        "month": month,
        "usage_amount": quantity[0] if quantity else None,
        "usage_unit": quantity[1] if quantity else None,
        "amount": amount,
        "description": description,
    }
