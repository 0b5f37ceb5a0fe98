"""Sample data: the company's Azure bill as an Azure Cost Management FOCUS export.

Written as the "Cost and usage details (FOCUS)" export delivers it: a CSV per billing month under
``<export name>/<YYYYMMDD-YYYYMMDD>/<run id>/part_0_0001.csv`` next to a ``manifest.json``, daily
rows per resource and meter, the FOCUS 1.0 columns plus Microsoft's ``x_`` columns
(``x_SkuDetails`` carries the VM size as ``ServiceType``, ``x_ResourceGroupName``,
``x_SkuMeterCategory``, …). Money is written as plain decimals; nulls as empty cells.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final

import polars as pl

from gpuledger.period import Period
from gpuledger.sample.company import Company
from gpuledger.schema import MONEY

PROVIDER: Final = "Microsoft"
EXPORT_NAME: Final = "acme-focus-cost"
_TIME: Final = "%Y-%m-%dT%H:%M:%SZ"
_REGION_NAMES: Final = {"eastus": "East US", "westus2": "West US 2", "westeurope": "West Europe"}
_PRICING: Final = {"spot": "Dynamic", "reserved": "Committed", "savings_plan": "Committed"}
_CHARGE_CATEGORIES: Final = {"tax": "Tax", "credit": "Credit", "refund": "Adjustment"}

FOCUS_1_0_COLUMNS: Final = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass",
    "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
    "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountStatus", "CommitmentDiscountType", "ConsumedQuantity", "ConsumedUnit",
    "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName",
    "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName",
    "Tags",
)  # fmt: skip
MICROSOFT_COLUMNS: Final = (
    "x_BilledCostInUsd", "x_BillingExchangeRate", "x_BillingProfileId", "x_BillingProfileName",
    "x_EffectiveCostInUsd", "x_InvoiceSectionId", "x_InvoiceSectionName", "x_PricingCurrency",
    "x_PricingSubcategory", "x_PricingUnitDescription", "x_ResourceGroupName", "x_ResourceType",
    "x_SkuDescription", "x_SkuDetails", "x_SkuMeterCategory", "x_SkuMeterId", "x_SkuMeterName",
    "x_SkuMeterSubcategory", "x_SkuRegion", "x_SkuServiceFamily",
)  # fmt: skip


def write_focus_export(company: Company, out: Path) -> list[Path]:
    """Write one FOCUS CSV (and its manifest) per month of ``company``; returns the CSV paths."""
    rows = pl.concat([_vm_rows(company), _charge_rows(company)], how="diagonal_relaxed")
    if rows.is_empty():
        return []
    paths = []
    for month in company.months:
        start = Period.parse(month).start
        run_id = _stable_guid(EXPORT_NAME, month)
        folder = out / EXPORT_NAME / f"{start:%Y%m%d}-{_last_day(month)}" / run_id
        folder.mkdir(parents=True, exist_ok=True)
        monthly = rows.filter(pl.col("_month") == month).sort(
            "ChargePeriodStart", "ResourceId", "ChargeDescription"
        )
        path = folder / "part_0_0001.csv"
        _as_text(monthly).write_csv(path)
        _write_manifest(folder, path, monthly.height, month, run_id)
        paths.append(path)
    return paths


def _last_day(month: str) -> str:
    start, end = Period.parse(month).bounds()
    return f"{start:%Y%m}{(end - start).days:02d}"


def _vm_rows(company: Company) -> pl.DataFrame:
    """One row per VM and day: hours run × the hourly rates."""
    vms = company.instances.filter(pl.col("provider") == PROVIDER)
    days = (
        company.instance_hours.join(vms.select("resource_id"), on="resource_id")
        .with_columns(pl.col("hour_start").dt.truncate("1d").alias("_day"))
        .group_by("resource_id", "month", "_day")
        .agg(pl.len().cast(pl.Int64).alias("_hours"))
        .join(vms, on="resource_id")
    )
    hours = pl.col("_hours").cast(MONEY)
    size = pl.col("instance_type").str.strip_prefix("Standard_")
    meter = size.str.replace_all("_", " ")
    series = size.str.extract(r"^[A-Z]+") + pl.lit(" Series")
    sku_details = pl.format(
        '{{"ServiceType":"{}","VCPUs":{},"UsageType":"ComputeHR","ImageType":"Canonical"}}',
        pl.col("instance_type"),
        size.str.extract(r"(\d+)").cast(pl.Int64),
    )
    return days.select(
        *_account_columns(),
        pl.col("zone").alias("AvailabilityZone"),
        (hours * pl.col("effective_rate")).alias("BilledCost"),
        (hours * pl.col("effective_rate")).alias("EffectiveCost"),
        (hours * pl.col("on_demand_rate")).alias("ListCost"),
        (hours * pl.col("on_demand_rate")).alias("ContractedCost"),
        pl.col("on_demand_rate").alias("ListUnitPrice"),
        pl.col("on_demand_rate").alias("ContractedUnitPrice"),
        pl.lit("Usage").alias("ChargeCategory"),
        meter.alias("ChargeDescription"),
        pl.lit("Usage-Based").alias("ChargeFrequency"),
        pl.col("_day").alias("ChargePeriodStart"),
        pl.col("_day").dt.offset_by("1d").alias("ChargePeriodEnd"),
        pl.col("pricing")
        .replace_strict(_PRICING, default="Standard", return_dtype=pl.String)
        .alias("PricingCategory"),
        pl.col("_hours").cast(pl.Float64).alias("PricingQuantity"),
        pl.lit("Hours").alias("PricingUnit"),
        pl.col("_hours").cast(pl.Float64).alias("ConsumedQuantity"),
        pl.lit("Hours").alias("ConsumedUnit"),
        pl.col("resource_id").alias("ResourceId"),
        pl.col("resource_name").alias("ResourceName"),
        pl.lit("Virtual machine").alias("ResourceType"),
        pl.lit("Compute").alias("ServiceCategory"),
        pl.lit("Virtual Machines").alias("ServiceName"),
        _tags().alias("Tags"),
        pl.lit("Virtual Machines").alias("x_SkuMeterCategory"),
        series.alias("x_SkuMeterSubcategory"),
        meter.alias("x_SkuMeterName"),
        sku_details.alias("x_SkuDetails"),
        pl.lit("Compute").alias("x_SkuServiceFamily"),
        pl.lit("microsoft.compute/virtualmachines").alias("x_ResourceType"),
        pl.lit("1 Hour").alias("x_PricingUnitDescription"),
        pl.col("month").alias("_month"),
    )


def _charge_rows(company: Company) -> pl.DataFrame:
    """Disks, bandwidth and the other Azure lines, summed per resource and day as Azure does."""
    charges = company.other_charges.filter(pl.col("provider") == PROVIDER)
    subscriptions = (
        company.instances.filter(pl.col("provider") == PROVIDER)
        .select("sub_account_id", "sub_account_name", "billing_account_name", "region", "zone")
        .unique("sub_account_id")
    )
    month_start = (pl.col("month") + "-01").str.to_datetime("%Y-%m-%d", time_zone="UTC")
    daily = (
        charges.join(subscriptions, on="sub_account_id", how="left")
        .with_columns(
            pl.coalesce(pl.col("hour_start").dt.truncate("1d"), month_start).alias("_day"),
            pl.col("hour_start").is_null().alias("_monthly"),
        )
        .group_by(
            "billing_account_id",
            "billing_account_name",
            "sub_account_id",
            "sub_account_name",
            "region",
            "zone",
            "service_name",
            "service_category",
            "charge_kind",
            "resource_id",
            "team_tag",
            "description",
            "usage_unit",
            "month",
            "_day",
            "_monthly",
        )
        .agg(pl.col("amount").sum(), pl.col("usage_amount").sum())
    )
    amount = pl.col("amount").cast(MONEY)
    end = pl.when(pl.col("_monthly")).then(month_start.dt.offset_by("1mo"))
    return daily.select(
        *_account_columns(),
        pl.lit(None, dtype=pl.String).alias("AvailabilityZone"),
        amount.alias("BilledCost"),
        amount.alias("EffectiveCost"),
        amount.alias("ListCost"),
        amount.alias("ContractedCost"),
        pl.col("charge_kind")
        .replace_strict(_CHARGE_CATEGORIES, default="Usage", return_dtype=pl.String)
        .alias("ChargeCategory"),
        pl.col("description").alias("ChargeDescription"),
        pl.when(pl.col("_monthly"))
        .then(pl.lit("Recurring"))
        .otherwise(pl.lit("Usage-Based"))
        .alias("ChargeFrequency"),
        pl.col("_day").alias("ChargePeriodStart"),
        end.otherwise(pl.col("_day").dt.offset_by("1d")).alias("ChargePeriodEnd"),
        pl.lit("Standard").alias("PricingCategory"),
        pl.col("usage_amount").alias("PricingQuantity"),
        pl.col("usage_unit").alias("PricingUnit"),
        pl.col("usage_amount").alias("ConsumedQuantity"),
        pl.col("usage_unit").alias("ConsumedUnit"),
        pl.col("resource_id").alias("ResourceId"),
        pl.col("resource_id").str.split("/").list.last().alias("ResourceName"),
        pl.col("service_category").alias("ServiceCategory"),
        pl.col("service_name").alias("ServiceName"),
        pl.when(pl.col("team_tag").is_not_null())
        .then(pl.format('{{"team":"{}"}}', pl.col("team_tag")))
        .alias("Tags"),
        pl.col("service_name").alias("x_SkuMeterCategory"),
        pl.col("description").alias("x_SkuMeterName"),
        pl.col("month").alias("_month"),
    )


def _account_columns() -> list[pl.Expr]:
    """Billing account, subscription, invoice period and region columns of a row."""
    start = (pl.col("month") + "-01").str.to_datetime("%Y-%m-%d", time_zone="UTC")
    account = pl.lit("/providers/Microsoft.Billing/billingAccounts/") + pl.col("billing_account_id")
    return [
        account.alias("BillingAccountId"),
        pl.col("billing_account_name").alias("BillingAccountName"),
        pl.lit("USD").alias("BillingCurrency"),
        start.alias("BillingPeriodStart"),
        start.dt.offset_by("1mo").alias("BillingPeriodEnd"),
        pl.lit("Microsoft").alias("InvoiceIssuerName"),
        pl.lit("Microsoft").alias("ProviderName"),
        pl.lit("Microsoft").alias("PublisherName"),
        pl.col("region").alias("RegionId"),
        pl.col("region")
        .replace_strict(_REGION_NAMES, default=pl.col("region"), return_dtype=pl.String)
        .alias("RegionName"),
        (pl.lit("/subscriptions/") + pl.col("sub_account_id")).alias("SubAccountId"),
        pl.col("sub_account_name").alias("SubAccountName"),
        pl.col("resource_id")
        .str.extract(r"(?i)/resourceGroups/([^/]+)", 1)
        .alias("x_ResourceGroupName"),
        pl.lit("USD").alias("x_PricingCurrency"),
        pl.lit(1.0).alias("x_BillingExchangeRate"),
        pl.col("region").alias("x_SkuRegion"),
    ]


def _tags() -> pl.Expr:
    """Azure resource tags as the export writes them: one JSON object, untagged keys left out."""
    pairs = [
        pl.when(pl.col(column).is_not_null()).then(
            pl.format('"{}":"{}"', pl.lit(key), pl.col(column))
        )
        for key, column in (("team", "team_tag"), ("model", "model_tag"))
    ]
    joined = pl.concat_list(pairs).list.drop_nulls().list.join(",")
    return pl.format("{{{}}}", joined)


def _as_text(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows in the export's column order, money as plain decimals, times as ISO 8601."""
    ids = rows.select(pl.col("ChargeDescription").unique()).to_series().drop_nulls().to_list()
    sku_ids = {text: hashlib.sha256(text.encode()).hexdigest()[:12].upper() for text in ids}
    money_columns = (
        "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
        "ContractedUnitPrice",
    )  # fmt: skip
    rows = rows.with_columns(
        *[_plain_decimal(pl.col(c)).alias(c) for c in money_columns if c in rows.columns],
        *[pl.col(c).dt.strftime(_TIME) for c in rows.columns if c.endswith(("Start", "End"))],
        pl.col("ChargeDescription")
        .replace_strict(sku_ids, default=None, return_dtype=pl.String)
        .alias("SkuId"),
        _plain_decimal(pl.col("BilledCost")).alias("x_BilledCostInUsd"),
        _plain_decimal(pl.col("EffectiveCost")).alias("x_EffectiveCostInUsd"),
        pl.col("ChargeDescription").alias("x_SkuDescription"),
        pl.lit("Standard").alias("x_PricingSubcategory"),
    )
    columns = [*FOCUS_1_0_COLUMNS, *MICROSOFT_COLUMNS]
    return rows.select(
        [
            pl.col(c) if c in rows.columns else pl.lit(None, dtype=pl.String).alias(c)
            for c in columns
        ]
    )


def _plain_decimal(value: pl.Expr) -> pl.Expr:
    """``12.500000`` → ``12.5``, ``100.000`` → ``100``: decimals as Azure writes them."""
    text = value.cast(MONEY).cast(pl.String)
    return text.str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")


def _stable_guid(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _write_manifest(folder: Path, csv: Path, rows: int, month: str, run_id: str) -> None:
    start, end = Period.parse(month).bounds()
    manifest = {
        "manifestVersion": "2024-04-01",
        "dataFormat": "Csv",
        "blobCount": 1,
        "byteCount": csv.stat().st_size,
        "dataRowCount": rows,
        "exportConfig": {
            "exportName": EXPORT_NAME,
            "type": "FocusCost",
            "dataVersion": "1.0",
            "timeFrame": "BillingMonthToDate",
            "granularity": "Daily",
        },
        "runInfo": {
            "runId": run_id,
            "startDate": start.strftime(_TIME),
            "endDate": end.strftime(_TIME),
        },
        "blobs": [{"blobName": csv.name, "byteCount": csv.stat().st_size, "dataRowCount": rows}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
