"""The GCP detailed billing export, and the flat "lines" both of its readers produce.

Part of ``collect/gcp``. The export (``gcp_billing_export_resource_v1_<ACCOUNT>``) has nested
records: ``service``, ``sku``, ``project{…, labels}``, ``labels``, ``system_labels``,
``location``, ``resource``, ``usage``, ``credits[]``, ``invoice{month}``. Two readers turn it
into the same flat frame of *lines*, described by :data:`LINES_SCHEMA`:

* files (``bq extract`` newline-delimited JSON, Parquet): :func:`export_lines` here, one cost line
  per export row plus one credit line per credit, in Polars;
* a BigQuery table: the query in :mod:`gpuledger.collect.gcp.bigquery`, which does the same per
  hour × resource × SKU × labels, inside BigQuery.

A cost line carries ``amount`` = ``cost`` and ``credits_total`` = the sum of the row's credits; a
credit line carries one credit (``credit_type``, ``amount``). :mod:`gpuledger.collect.gcp.mapping` maps lines to
``cost`` rows. Money is read as text and kept exact.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.values import money, quantity, utc_time
from gpuledger.schema import MONEY, UTC_TIME, make_schema

KEY_VALUES: Final = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
CREDIT: Final = pl.Struct(
    {
        "name": pl.String,
        "amount": pl.String,
        "full_name": pl.String,
        "id": pl.String,
        "type": pl.String,
    }
)

# The export's columns as read from files: money and times as text, parsed exactly later.
EXPORT_SCHEMA: Final = make_schema(
    {
        "billing_account_id": pl.String,
        "service": pl.Struct({"id": pl.String, "description": pl.String}),
        "sku": pl.Struct({"id": pl.String, "description": pl.String}),
        "usage_start_time": pl.String,
        "usage_end_time": pl.String,
        "project": pl.Struct(
            {"id": pl.String, "number": pl.String, "name": pl.String, "labels": KEY_VALUES}
        ),
        "labels": KEY_VALUES,
        "system_labels": KEY_VALUES,
        "location": pl.Struct(
            {"location": pl.String, "country": pl.String, "region": pl.String, "zone": pl.String}
        ),
        "resource": pl.Struct({"name": pl.String, "global_name": pl.String}),
        "export_time": pl.String,
        "cost": pl.String,
        "currency": pl.String,
        "currency_conversion_rate": pl.String,
        "usage": pl.Struct(
            {
                "amount": pl.String,
                "unit": pl.String,
                "amount_in_pricing_units": pl.String,
                "pricing_unit": pl.String,
            }
        ),
        "credits": pl.List(CREDIT),
        "invoice": pl.Struct({"month": pl.String}),
        "cost_type": pl.String,
        "cost_at_list": pl.String,
    }
)


class Line:
    """Columns of the flat lines frame (see the module docstring)."""

    billing_account_id = "billing_account_id"
    invoice_month = "invoice_month"
    cost_type = "cost_type"
    service_id = "service_id"
    service_description = "service_description"
    sku_id = "sku_id"
    sku_description = "sku_description"
    usage_start_time = "usage_start_time"
    usage_end_time = "usage_end_time"
    project_id = "project_id"
    project_number = "project_number"
    project_name = "project_name"
    project_labels = "project_labels"
    labels = "labels"
    system_labels = "system_labels"
    location_region = "location_region"
    location_zone = "location_zone"
    resource_name = "resource_name"
    resource_global_name = "resource_global_name"
    currency = "currency"
    currency_conversion_rate = "currency_conversion_rate"
    usage_amount = "usage_amount"
    usage_unit = "usage_unit"
    usage_amount_in_pricing_units = "usage_amount_in_pricing_units"
    usage_pricing_unit = "usage_pricing_unit"
    line = "line"  # cost | credit
    credit_type = "credit_type"
    credit_name = "credit_name"
    credit_id = "credit_id"
    commitment_credit_type = "commitment_credit_type"  # a CUD credit on the cost line, if any
    commitment_credit_id = "commitment_credit_id"
    amount = "amount"
    credits_total = "credits_total"
    cost_at_list = "cost_at_list"
    source_row = "source_row"


LINES_SCHEMA: Final = make_schema(
    {
        Line.billing_account_id: pl.String,
        Line.invoice_month: pl.String,
        Line.cost_type: pl.String,
        Line.service_id: pl.String,
        Line.service_description: pl.String,
        Line.sku_id: pl.String,
        Line.sku_description: pl.String,
        Line.usage_start_time: UTC_TIME,
        Line.usage_end_time: UTC_TIME,
        Line.project_id: pl.String,
        Line.project_number: pl.String,
        Line.project_name: pl.String,
        Line.project_labels: KEY_VALUES,
        Line.labels: KEY_VALUES,
        Line.system_labels: KEY_VALUES,
        Line.location_region: pl.String,
        Line.location_zone: pl.String,
        Line.resource_name: pl.String,
        Line.resource_global_name: pl.String,
        Line.currency: pl.String,
        Line.currency_conversion_rate: pl.Float64,
        Line.usage_amount: pl.Float64,
        Line.usage_unit: pl.String,
        Line.usage_amount_in_pricing_units: pl.Float64,
        Line.usage_pricing_unit: pl.String,
        Line.line: pl.String,
        Line.credit_type: pl.String,
        Line.credit_name: pl.String,
        Line.credit_id: pl.String,
        Line.commitment_credit_type: pl.String,
        Line.commitment_credit_id: pl.String,
        Line.amount: MONEY,
        Line.credits_total: MONEY,
        Line.cost_at_list: MONEY,
        Line.source_row: pl.Int64,
    }
)

COMMITMENT_CREDIT_TYPES: Final = (
    "COMMITTED_USAGE_DISCOUNT",
    "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE",
)
SOURCE_ROW: Final = "_source_row"
_TEXT: Final = pl.String()


def _credit_amounts() -> pl.Expr:
    return pl.col("credits").list.eval(
        pl.element().struct.field("amount").str.strip_chars().str.to_decimal(scale=18)
    )


def _commitment_credit(field: str) -> pl.Expr:
    cud = pl.element().struct.field("type").is_in(list(COMMITMENT_CREDIT_TYPES))
    return pl.col("credits").list.eval(pl.element().filter(cud).struct.field(field)).list.first()


def _shared_columns() -> list[pl.Expr]:
    """Columns a cost line and its credit lines share (what was used, where, by whom)."""
    field = pl.col
    return [
        field("billing_account_id").alias(Line.billing_account_id),
        field("invoice").struct.field("month").str.strip_chars().alias(Line.invoice_month),
        field("cost_type").alias(Line.cost_type),
        field("service").struct.field("id").alias(Line.service_id),
        field("service").struct.field("description").alias(Line.service_description),
        field("sku").struct.field("id").alias(Line.sku_id),
        field("sku").struct.field("description").alias(Line.sku_description),
        utc_time("usage_start_time", _TEXT).alias(Line.usage_start_time),
        utc_time("usage_end_time", _TEXT).alias(Line.usage_end_time),
        field("project").struct.field("id").alias(Line.project_id),
        field("project").struct.field("number").alias(Line.project_number),
        field("project").struct.field("name").alias(Line.project_name),
        field("project").struct.field("labels").alias(Line.project_labels),
        field("labels").alias(Line.labels),
        field("system_labels").alias(Line.system_labels),
        field("location").struct.field("region").alias(Line.location_region),
        field("location").struct.field("zone").alias(Line.location_zone),
        field("resource").struct.field("name").alias(Line.resource_name),
        field("resource").struct.field("global_name").alias(Line.resource_global_name),
        field("currency").alias(Line.currency),
        quantity("currency_conversion_rate", _TEXT).alias(Line.currency_conversion_rate),
        field(SOURCE_ROW).cast(pl.Int64).alias(Line.source_row),
    ]


def export_lines(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Cost and credit lines of export rows (``raw`` in :data:`EXPORT_SCHEMA`, with a
    ``_source_row`` number); rows are assumed sound (see ``mapping.check_export``)."""
    cost_lines = _cost_lines(raw)
    credit_lines = _credit_lines(raw)
    return pl.concat([cost_lines, credit_lines], how="diagonal_relaxed").select(
        [pl.col(name).cast(dtype) for name, dtype in LINES_SCHEMA.items()]
    )


def _cost_lines(raw: pl.LazyFrame) -> pl.LazyFrame:
    usage = pl.col("usage")
    return raw.with_columns(
        usage.struct.field("amount").alias("_usage_amount"),
        usage.struct.field("amount_in_pricing_units").alias("_usage_pricing"),
    ).select(
        *_shared_columns(),
        quantity("_usage_amount", _TEXT).alias(Line.usage_amount),
        usage.struct.field("unit").alias(Line.usage_unit),
        quantity("_usage_pricing", _TEXT).alias(Line.usage_amount_in_pricing_units),
        usage.struct.field("pricing_unit").alias(Line.usage_pricing_unit),
        pl.lit("cost").alias(Line.line),
        _commitment_credit("type").alias(Line.commitment_credit_type),
        _commitment_credit("id").alias(Line.commitment_credit_id),
        money("cost", _TEXT).alias(Line.amount),
        _credit_amounts().list.sum().cast(MONEY).alias(Line.credits_total),
        money("cost_at_list", _TEXT).alias(Line.cost_at_list),
    )


def _credit_lines(raw: pl.LazyFrame) -> pl.LazyFrame:
    credit = pl.col("_credit")
    return (
        raw.filter(pl.col("credits").list.len() > 0)
        .with_columns(pl.col("credits").alias("_credit"))
        .explode("_credit")
        .select(
            *_shared_columns(),
            pl.lit("credit").alias(Line.line),
            credit.struct.field("type").alias(Line.credit_type),
            pl.coalesce(credit.struct.field("full_name"), credit.struct.field("name")).alias(
                Line.credit_name
            ),
            credit.struct.field("id").alias(Line.credit_id),
            credit.struct.field("amount")
            .str.strip_chars()
            .str.to_decimal(scale=18)
            .alias(Line.amount),
        )
    )
