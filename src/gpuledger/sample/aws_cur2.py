"""The sample company's AWS bill as a CUR 2.0 Data Export (Parquet, with manifests).

Sample data, AWS: every AWS instance-hour of the company becomes the line items AWS would write
for its pricing kind, and the company's other AWS charges follow as their own line items:

* on demand: ``Usage`` (``BoxUsage:<type>``);
* spot: ``Usage`` (``SpotUsage:<type>``, pricing term ``Spot``) at the spot price;
* Savings Plan: ``SavingsPlanCoveredUsage`` plus its ``SavingsPlanNegation``, and one
  ``SavingsPlanRecurringFee`` per hour of the month for the plan's hourly commitment (the part
  no usage consumed is the unused commitment);
* reservation (no upfront): ``DiscountedUsage`` at the reservation's effective rate, and one
  ``RIFee`` per reservation and month whose unused hours are its unused recurring fee;
* disks and transfer as ``Usage``, support as ``Fee``, and ``Tax``, ``Credit``, ``Refund``;
* EKS split cost allocation: the speech inference node is an EKS GPU node whose hours are split
  over two teams' pods (``split_line_item_*``, :func:`~.aws_cur2_lines.eks_split_lines`).

The layout is AWS's: ``<out>/cur2/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-0000N.snappy.parquet``
and ``<out>/cur2/<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``. Every month
but the latest carries a ``bill_invoice_id``: those are invoiced, the latest is provisional.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Final

import polars as pl

from gpuledger.period import Period
from gpuledger.sample.aws_cur2_lines import (
    LINE_SCHEMA,
    eks_split_lines,
    instance_lines,
    other_lines,
    reservation_fees,
    savings_plan_fees,
)
from gpuledger.sample.company import Company

BUCKET: Final = "acme-billing-exports"
PREFIX: Final = "cur2"
EXPORT: Final = "acme-gpu-cur2"
ROWS_PER_FILE: Final = 500_000


def write_aws_cur2(company: Company, out: Path) -> list[Path]:
    """Write the company's AWS line items as a CUR 2.0 export under ``out``; return the files."""
    lines = aws_lines(company)
    written: list[Path] = []
    for month in company.months:
        invoiced = month != company.months[-1]
        month_lines = lines.filter(pl.col("month") == month)
        written += write_period(to_cur2(month_lines, invoiced), out, month)
    return written


def aws_lines(company: Company) -> pl.DataFrame:
    """All AWS line items of the company, in the writer's own intermediate columns."""
    aws = company.instances.filter(pl.col("provider") == "AWS")
    hours = company.instance_hours.join(aws, on="resource_id")
    frames = [
        instance_lines(hours),
        eks_split_lines(hours),
        savings_plan_fees(hours, company.months),
        reservation_fees(aws, hours, company.months),
        other_lines(company.other_charges.filter(pl.col("provider") == "AWS"), aws),
    ]
    return pl.concat([f.select(list(LINE_SCHEMA)).cast(LINE_SCHEMA) for f in frames])


def _double(column: str) -> pl.Expr:
    """Money as AWS writes it in CUR 2.0 Parquet: a double."""
    return pl.col(column).cast(pl.Float64)


def _tags(*pairs: tuple[str, str]) -> pl.Expr:
    """A ``map<string,string>`` of the non-null values, keyed as CUR 2.0 keys activated tags."""
    entries = pl.concat_list(
        pl.struct(pl.lit(key).alias("key"), pl.col(column).alias("value")) for key, column in pairs
    ).list.eval(pl.element().filter(pl.element().struct.field("value").is_not_null()))
    return entries.cast(pl.Map(pl.String, pl.String))


def to_cur2(lines: pl.DataFrame, invoiced: bool) -> pl.DataFrame:
    """Intermediate line items → CUR 2.0 columns with CUR 2.0's names and Parquet types."""
    start, end = pl.col("start"), pl.col("end")
    period_start = start.dt.truncate("1mo")
    key = pl.concat_str("resource_id", "line_type", "usage_type", start.cast(pl.String), "account")
    line_id = key.hash(seed=11).cast(pl.String)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    naive = pl.Datetime("ms")
    environment = pl.when(pl.col("account_name") == "ml-dev").then(pl.lit("dev"))
    lines = lines.with_columns(environment.otherwise(pl.lit("prod")).alias("environment"))
    return lines.sort("start", "account", "resource_id", "line_type").select(
        line_id.alias("identity_line_item_id"),
        pl.concat_str(start.dt.strftime(stamp), pl.lit("/"), end.dt.strftime(stamp)).alias(
            "identity_time_interval"
        ),
        pl.lit("Anniversary").alias("bill_bill_type"),
        pl.lit("AWS").alias("bill_billing_entity"),
        period_start.dt.replace_time_zone(None).cast(naive).alias("bill_billing_period_start_date"),
        period_start.dt.offset_by("1mo")
        .dt.replace_time_zone(None)
        .cast(naive)
        .alias("bill_billing_period_end_date"),
        (
            pl.concat_str(pl.lit("2026"), period_start.dt.strftime("%m"), pl.lit("1850417"))
            if invoiced
            else pl.lit(None, dtype=pl.String)
        ).alias("bill_invoice_id"),
        pl.lit("Amazon Web Services, Inc.").alias("bill_invoicing_entity"),
        pl.col("payer").alias("bill_payer_account_id"),
        pl.col("payer_name").alias("bill_payer_account_name"),
        _tags(("environment", "environment")).alias("cost_category"),
        pl.col("zone").alias("line_item_availability_zone"),
        _double("unblended").alias("line_item_blended_cost"),
        pl.lit("USD").alias("line_item_currency_code"),
        pl.lit("Amazon Web Services, Inc.").alias("line_item_legal_entity"),
        pl.col("description").alias("line_item_line_item_description"),
        pl.col("line_type").alias("line_item_line_item_type"),
        pl.col("operation").alias("line_item_operation"),
        pl.col("product_code").alias("line_item_product_code"),
        pl.col("resource_id").alias("line_item_resource_id"),
        _double("unblended").alias("line_item_unblended_cost"),
        pl.col("rate").cast(pl.String).alias("line_item_unblended_rate"),
        pl.col("account").alias("line_item_usage_account_id"),
        pl.col("account_name").alias("line_item_usage_account_name"),
        pl.col("amount").alias("line_item_usage_amount"),
        end.dt.replace_time_zone(None).cast(naive).alias("line_item_usage_end_date"),
        start.dt.replace_time_zone(None).cast(naive).alias("line_item_usage_start_date"),
        pl.col("usage_type").alias("line_item_usage_type"),
        pl.lit("USD").alias("pricing_currency"),
        _double("public_on_demand").alias("pricing_public_on_demand_cost"),
        pl.col("pricing_term").alias("pricing_term"),
        pl.col("unit").alias("pricing_unit"),
        pl.col("instance_type").alias("product_instance_type"),
        pl.col("region").alias("product_region_code"),
        pl.col("product_code").alias("product_servicecode"),
        pl.col("usage_type").alias("product_usagetype"),
        _tags(("product_name", "product_name"), ("region", "region")).alias("product"),
        pl.col("ri_arn").alias("reservation_reservation_a_r_n"),
        _double("ri_effective").alias("reservation_effective_cost"),
        _double("ri_unused_upfront").alias(
            "reservation_unused_amortized_upfront_fee_for_billing_period"
        ),
        _double("ri_unused_recurring").alias("reservation_unused_recurring_fee"),
        _tags(("user_team", "team_tag"), ("user_model", "model_tag")).alias("resource_tags"),
        pl.col("sp_arn").alias("savings_plan_savings_plan_a_r_n"),
        _double("sp_effective").alias("savings_plan_savings_plan_effective_cost"),
        _double("sp_total_commitment").alias("savings_plan_total_commitment_to_date"),
        _double("sp_used_commitment").alias("savings_plan_used_commitment"),
        pl.col("split_parent").alias("split_line_item_parent_resource_id"),
        _double("split_cost").alias("split_line_item_split_cost"),
        _double("split_unused").alias("split_line_item_unused_cost"),
    )


def write_period(frame: pl.DataFrame, out: Path, month: str) -> list[Path]:
    """One billing period's files and its manifest, as Data Exports lays them out."""
    written = []
    for number, offset in enumerate(range(0, max(frame.height, 1), ROWS_PER_FILE), start=1):
        written.append(write_data_file(frame.slice(offset, ROWS_PER_FILE), out, month, number))
    return [*written, write_manifest(frame.schema, out, month, written)]


def write_data_file(frame: pl.DataFrame, out: Path, month: str, number: int) -> Path:
    """Data file ``number`` of a period: ``data/BILLING_PERIOD=<month>/<export>-0000N``."""
    data = out / PREFIX / EXPORT / "data" / f"BILLING_PERIOD={month}"
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"{EXPORT}-{number:05d}.snappy.parquet"
    frame.write_parquet(path, compression="snappy")
    return path


def write_manifest(schema: pl.Schema, out: Path, month: str, files: list[Path]) -> Path:
    """The period's manifest, written after its data files as AWS does."""
    metadata = out / PREFIX / EXPORT / "metadata" / f"BILLING_PERIOD={month}"
    metadata.mkdir(parents=True, exist_ok=True)
    manifest = metadata / f"{EXPORT}-Manifest.json"
    manifest.write_text(json.dumps(_manifest(schema, month, files), indent=2) + "\n")
    return manifest


def _manifest(schema: pl.Schema, month: str, files: list[Path]) -> dict[str, object]:
    start = Period.parse(month).start
    execution = f"{EXPORT}-{month}-{(start + timedelta(days=1)).strftime('%Y%m%d')}"
    base = f"s3://{BUCKET}/{PREFIX}/{EXPORT}/data/BILLING_PERIOD={month}"
    return {
        "executionId": execution,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:999999999999:export/{EXPORT}",
        "columns": [{"name": n, "type": _athena_type(t)} for n, t in schema.items()],
        "dataFiles": [f"{base}/{path.name}" for path in files],
    }


def _athena_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Map):
        return "map<string,string>"
    if dtype == pl.Float64:
        return "double"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    return "string"
