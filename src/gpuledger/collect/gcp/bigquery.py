"""Reading the GCP billing export straight from BigQuery: THE query, and the client wiring.

Part of ``collect/gcp``. The heavy lifting happens in BigQuery: one query, filtered to the invoice
months asked for, aggregates the export to hour × resource × SKU × labels and returns the flat
lines of :mod:`gpuledger.collect.gcp.lines` (cost lines, then one line per credit type), read back
as Arrow. The raw table is never read row by row.

Money is summed as NUMERIC (exact to 9 decimal places), never as FLOAT64 sums. The query is
written in BigQuery SQL; :func:`lines_sql` can transpile it (sqlglot) so tests run the very same
query on DuckDB over a local copy of the export.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl
import sqlglot

from gpuledger.collect.gcp.lines import COMMITMENT_CREDIT_TYPES, LINES_SCHEMA
from gpuledger.errors import InputError, SourceError

TABLE_PLACEHOLDER: Final = "__EXPORT_TABLE__"

# Columns that identify one aggregated line (labels are grouped by their JSON text).
_KEYS: Final = """
    billing_account_id, invoice_month, cost_type, service_id, service_description, sku_id,
    sku_description, usage_start_time, project_id, project_number, project_name,
    project_labels_key, labels_key, system_labels_key, location_region, location_zone,
    resource_name, resource_global_name, currency, currency_conversion_rate"""

_SHARED: Final = """
    billing_account_id, invoice_month, cost_type, service_id, service_description, sku_id,
    sku_description, usage_start_time, MAX(usage_end_time) AS usage_end_time, project_id,
    project_number, project_name, ANY_VALUE(project_labels) AS project_labels,
    ANY_VALUE(labels) AS labels, ANY_VALUE(system_labels) AS system_labels, location_region,
    location_zone, resource_name, resource_global_name, currency, currency_conversion_rate"""

_CUD: Final = ", ".join(f"'{t}'" for t in COMMITMENT_CREDIT_TYPES)

LINES_SQL: Final = f"""
WITH export AS (
  SELECT
    billing_account_id,
    invoice.month AS invoice_month,
    cost_type,
    service.id AS service_id,
    service.description AS service_description,
    sku.id AS sku_id,
    sku.description AS sku_description,
    TIMESTAMP_TRUNC(usage_start_time, HOUR) AS usage_start_time,
    usage_end_time,
    project.id AS project_id,
    project.number AS project_number,
    project.name AS project_name,
    project.labels AS project_labels,
    labels,
    system_labels,
    TO_JSON_STRING(project.labels) AS project_labels_key,
    TO_JSON_STRING(labels) AS labels_key,
    TO_JSON_STRING(system_labels) AS system_labels_key,
    location.region AS location_region,
    location.zone AS location_zone,
    resource.name AS resource_name,
    resource.global_name AS resource_global_name,
    currency,
    currency_conversion_rate,
    usage.amount AS usage_amount,
    usage.unit AS usage_unit,
    usage.amount_in_pricing_units AS usage_amount_in_pricing_units,
    usage.pricing_unit AS usage_pricing_unit,
    CAST(cost AS NUMERIC(38, 9)) AS cost,
    CAST(cost_at_list AS NUMERIC(38, 9)) AS cost_at_list,
    credits,
    (SELECT IFNULL(SUM(CAST(c.amount AS NUMERIC(38, 9))), 0) FROM UNNEST(credits) AS c) AS row_credits,
    (SELECT MAX(c.type) FROM UNNEST(credits) AS c WHERE c.type IN ({_CUD})) AS cud_type,
    (SELECT MAX(c.id) FROM UNNEST(credits) AS c WHERE c.type IN ({_CUD})) AS cud_id
  FROM `{TABLE_PLACEHOLDER}`
  WHERE invoice.month IN UNNEST(@invoice_months)
)
SELECT
  {_SHARED},
  SUM(usage_amount) AS usage_amount,
  MAX(usage_unit) AS usage_unit,
  SUM(usage_amount_in_pricing_units) AS usage_amount_in_pricing_units,
  MAX(usage_pricing_unit) AS usage_pricing_unit,
  'cost' AS line,
  CAST(NULL AS STRING) AS credit_type,
  CAST(NULL AS STRING) AS credit_name,
  CAST(NULL AS STRING) AS credit_id,
  MAX(cud_type) AS commitment_credit_type,
  MAX(cud_id) AS commitment_credit_id,
  SUM(cost) AS amount,
  SUM(row_credits) AS credits_total,
  SUM(cost_at_list) AS cost_at_list
FROM export
GROUP BY {_KEYS}, usage_unit, usage_pricing_unit
UNION ALL
SELECT
  {_SHARED},
  CAST(NULL AS FLOAT64) AS usage_amount,
  CAST(NULL AS STRING) AS usage_unit,
  CAST(NULL AS FLOAT64) AS usage_amount_in_pricing_units,
  CAST(NULL AS STRING) AS usage_pricing_unit,
  'credit' AS line,
  credit.type AS credit_type,
  IFNULL(credit.full_name, credit.name) AS credit_name,
  credit.id AS credit_id,
  CAST(NULL AS STRING) AS commitment_credit_type,
  CAST(NULL AS STRING) AS commitment_credit_id,
  SUM(CAST(credit.amount AS NUMERIC(38, 9))) AS amount,
  CAST(NULL AS NUMERIC(38, 9)) AS credits_total,
  CAST(NULL AS NUMERIC(38, 9)) AS cost_at_list
FROM export CROSS JOIN UNNEST(export.credits) AS credit
GROUP BY {_KEYS}, credit.type, credit.full_name, credit.name, credit.id
"""


def lines_sql(table: str, dialect: str = "bigquery") -> str:
    """THE query over ``table`` (``project.dataset.table``), in BigQuery SQL or transpiled."""
    sql = LINES_SQL.replace(TABLE_PLACEHOLDER, table)
    if dialect == "bigquery":
        return sql
    return str(sqlglot.transpile(sql, read="bigquery", write=dialect)[0])


def parse_table(src: str) -> tuple[str, str]:
    """(project, ``project.dataset.table``) of a ``bq://project.dataset.table`` source."""
    path = src.removeprefix("bq://")
    parts = path.split(".")
    if len(parts) != 3 or not all(parts):
        raise InputError(f"{src}: not a BigQuery table", expected="bq://project.dataset.table")
    return parts[0], path


def query_lines(
    src: str,
    invoice_months: list[str],
    *,
    client_options: dict[str, Any] | None = None,
    credentials: Any = None,
) -> pl.DataFrame:
    """Run THE query for ``invoice_months`` (``YYYYMM``) and return its lines.

    Credentials come from Application Default Credentials unless ``credentials`` is given;
    ``client_options`` (``api_endpoint``) points the client elsewhere, as tests do.
    """
    from google.cloud import bigquery

    project, table = parse_table(src)
    client = bigquery.Client(
        project=project, credentials=credentials, client_options=client_options
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ArrayQueryParameter("invoice_months", "STRING", invoice_months)]
    )
    try:
        rows = client.query_and_wait(lines_sql(table), job_config=config)
        arrow = rows.to_arrow(create_bqstorage_client=False)
    except Exception as exc:  # google-api-core raises many unrelated types
        transient = type(exc).__name__ in {
            "ServiceUnavailable",
            "TooManyRequests",
            "ConnectionError",
        }
        raise SourceError(f"{src}: BigQuery query failed: {exc}", transient=transient) from exc
    return conform_lines(pl.from_arrow(arrow))


def conform_lines(frame: pl.DataFrame | pl.Series) -> pl.DataFrame:
    """Query output (BigQuery or DuckDB) with the exact dtypes of ``LINES_SCHEMA``."""
    if isinstance(frame, pl.Series):
        frame = frame.to_frame()
    if "source_row" not in frame.columns:  # aggregated lines have no single source row
        frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("source_row"))
    missing = [name for name in LINES_SCHEMA.names() if name not in frame.columns]
    if missing:
        raise SourceError(f"BigQuery answer lacks column(s) {', '.join(missing)}")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in LINES_SCHEMA.items()])
