"""THE Athena query over a CUR table: the line items aggregated to the level the rules read.

Collect step, AWS, ``athena://`` sources (see :mod:`gpuledger.collect.aws.athena`). The query
groups a CUR 2.0 or legacy CUR table by hour and by every column the CUR mapping
(:func:`gpuledger.collect.aws.cur2.map_cur2`) reads: accounts, billing period, line item type,
service, usage type, resource, region, instance type, pricing term and unit, the reservation and
Savings Plan ARNs, the split-cost parent, every tag and cost category. Amounts are summed, so its
answer has the CUR names and types the mapping expects and maps to the same money as the files.

* Money is cast to ``DECIMAL(38, 10)`` before it is summed, never summed as DOUBLE: the amount as
  AWS wrote it, exactly as the file path reads it (an amount with more than 10 decimal places
  would be rounded half up at the 10th, at most 5e-11 per line).
* The amortized cost needs no column of its own: AWS's formula
  (:func:`~gpuledger.collect.aws.cur2.amortized_cost`) picks, per line item type and
  reservation, a sum or difference of amount columns. Line item type and reservation ARN are
  grouping keys, so the formula applied to the summed columns equals the sum of the formula over
  the lines; the mapping applies it once, as it does for files.
* Usage amounts are summed per usage type and pricing unit (grouping keys), so GPU hours stay
  hours.
* A line's description and end time are not keys: the answer keeps the greatest of each, and the
  smallest line item id and time interval as the row's identity.
* Tags are grouped as the table holds them: CUR 2.0 as its ``resource_tags`` and
  ``cost_category`` maps, legacy CUR as one ``resource_tags_…`` / ``cost_category_…`` column per
  key, which the mapping folds into one list as it does for a legacy file.

The text is Athena's SQL (Trino); :func:`transpiled` gives it in another dialect (sqlglot), so
tests run the very same query on DuckDB over the export files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from gpuledger.collect.aws.columns import IDENTITY, MONEY_COLUMNS, Cur
from gpuledger.errors import InputError
from gpuledger.period import Period

# AWS states line amounts to at most 10 decimal places (the public legacy sample's smallest is
# 1.3E-9): a double rounded to 10 places is the amount as written, which the file path reads.
MONEY_SQL: Final = "DECIMAL(38, 10)"
PRODUCT_MAP: Final = "product"  # CUR 2.0 keeps the product's name in this map
BILLING_PERIOD: Final = "billing_period"  # CUR 2.0 table partition: 'YYYY-MM'
LEGACY_YEAR: Final = "year"  # legacy CUR table partitions: '2026' and '10' (or '1')
LEGACY_MONTH: Final = "month"
TAG_PREFIXES: Final = ("resource_tags_", "cost_category_")

# Grouping keys: every text column the mapping reads, as the table names it.
KEY_COLUMNS: Final = (
    Cur.bill_invoice_id,
    Cur.bill_payer_account_id,
    Cur.bill_payer_account_name,
    Cur.bill_billing_period_start_date,
    Cur.bill_billing_period_end_date,
    Cur.line_item_usage_account_id,
    Cur.line_item_usage_account_name,
    Cur.line_item_line_item_type,
    Cur.line_item_product_code,
    Cur.line_item_usage_type,
    Cur.line_item_resource_id,
    Cur.line_item_currency_code,
    Cur.product_servicecode,
    Cur.product_product_name,
    Cur.product_region_code,
    Cur.product_instance_type,
    Cur.product_sku,
    Cur.pricing_term,
    Cur.pricing_unit,
    Cur.reservation_reservation_a_r_n,
    Cur.savings_plan_savings_plan_a_r_n,
    Cur.split_line_item_parent_resource_id,
    Cur.resource_tags,
    Cur.cost_category,
)
LATEST_COLUMNS: Final = (Cur.line_item_usage_end_date, Cur.line_item_line_item_description)
# A row's identity is that of its first line: rows then carry a line id (``x_LineItemId``), and
# the collector's repeated-row check compares only rows whose identity repeats (none do, the
# answer being grouped) instead of hashing every row whole.
FIRST_COLUMNS: Final = (Cur.identity_line_item_id, IDENTITY[1])
# The mapping never reads the net unblended cost: summing it would only widen the answer.
SUMMED_MONEY: Final = tuple(c for c in MONEY_COLUMNS if c != Cur.line_item_net_unblended_cost)
SUMMED_QUANTITY: Final = (Cur.line_item_usage_amount,)
_NUMERIC_TYPES: Final = ("double", "float", "real", "decimal", "bigint", "integer", "int")


def cost_lines_sql(table: str, columns: Mapping[str, str], periods: Sequence[Period] = ()) -> str:
    """THE query over ``table`` (``database.table``) in Athena's SQL.

    ``columns`` maps the table's column names to their Athena types (``information_schema``);
    columns the mapping reads but the table lacks are left out (the mapping fills them with
    nulls). Only the billing ``periods`` given are read (by partition where the table has one).
    """
    if not periods:
        raise InputError(f"athena table {table}: no billing period to read", expected="YYYY-MM")
    names = {name.lower(): kind.lower() for name, kind in columns.items()}
    _check_types(names, table)
    keys = [key for name in _key_columns(names) if (key := _key(name, names)) is not None]
    hour = f"date_trunc('hour', {Cur.line_item_usage_start_date})"
    select = [
        *(expr if expr == name else f"{expr} AS {name}" for name, expr in keys),
        f"{hour} AS {Cur.line_item_usage_start_date}",
        *(f"MIN({name}) AS {name}" for name in FIRST_COLUMNS if name in names),
        *(f"MAX({name}) AS {name}" for name in LATEST_COLUMNS if name in names),
        *(f"SUM(CAST({name} AS {MONEY_SQL})) AS {name}" for name in SUMMED_MONEY if name in names),
        *(f"SUM({name}) AS {name}" for name in SUMMED_QUANTITY if name in names),
    ]
    group = [expr for _, expr in keys] + [hour]
    where = _period_filter(periods, names)
    return (
        "SELECT\n  "
        + ",\n  ".join(select)
        + f"\nFROM {_quoted_table(table)}"
        + f"\nWHERE {where}"
        + "\nGROUP BY\n  "
        + ",\n  ".join(group)
    )


def unload_sql(query: str, location: str) -> str:
    """``query``'s answer written as Parquet files under ``location`` (an empty S3 folder)."""
    if "'" in location:
        raise InputError(f"{location}: an UNLOAD location cannot contain a quote")
    return (
        f"UNLOAD (\n{query}\n)\nTO '{location}'\nWITH (format = 'PARQUET', compression = 'SNAPPY')"
    )


def columns_sql(database: str, table: str) -> str:
    """The table's column names and types, from Athena's ``information_schema``."""
    for part in (database, table):
        _check_identifier(part)
    return (
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{database.lower()}' AND table_name = '{table.lower()}'"
    )


def transpiled(query: str, dialect: str) -> str:
    """THE query in another SQL dialect (``duckdb`` for the tests)."""
    import sqlglot  # heavy, and only needed off the ingest path

    return str(sqlglot.transpile(query, read="trino", write=dialect)[0])


def _key_columns(names: Mapping[str, str]) -> list[str]:
    """The grouping keys the table has, with a legacy table's per-tag columns."""
    tags = sorted(name for name in names if name.startswith(TAG_PREFIXES))
    return [*KEY_COLUMNS, *tags]


def _key(name: str, names: Mapping[str, str]) -> tuple[str, str] | None:
    """(output name, expression) of one grouping key, or None where the table lacks it."""
    if name == Cur.product_product_name and name not in names and PRODUCT_MAP in names:
        return name, f"element_at({PRODUCT_MAP}, 'product_name')"
    if name not in names:
        return None
    quoted = f'"{name}"' if name.startswith(TAG_PREFIXES) else name  # names a user chose
    return quoted, quoted


def _period_filter(periods: Sequence[Period], names: Mapping[str, str]) -> str:
    """Rows of ``periods``: by billing period start, and by partition where the table has one."""
    start = Cur.bill_billing_period_start_date
    alternatives = []
    for period in sorted(set(periods)):
        first, after = (moment.strftime("%Y-%m-%d %H:%M:%S") for moment in period.bounds())
        terms = [f"{start} >= TIMESTAMP '{first}'", f"{start} < TIMESTAMP '{after}'"]
        if BILLING_PERIOD in names:
            terms.insert(0, f"{BILLING_PERIOD} = '{period}'")
        elif LEGACY_YEAR in names and LEGACY_MONTH in names:
            year, month = str(period).split("-")
            terms[:0] = [
                f"{LEGACY_YEAR} = '{year}'",
                f"CAST({LEGACY_MONTH} AS INTEGER) = {int(month)}",
            ]
        alternatives.append("(" + " AND ".join(terms) + ")")
    return " OR ".join(alternatives)


def _check_types(names: Mapping[str, str], table: str) -> None:
    """Refuse a table without the columns or types the query relies on."""
    required = (
        Cur.bill_payer_account_id,
        Cur.bill_billing_period_start_date,
        Cur.line_item_line_item_type,
        Cur.line_item_usage_start_date,
        Cur.line_item_currency_code,
        Cur.line_item_unblended_cost,
    )
    missing = [name for name in required if name not in names]
    if missing:
        raise InputError(
            f"athena table {table} lacks column(s) " + ", ".join(missing),
            column=missing[0],
            expected="a CUR 2.0 or legacy CUR table (Parquet, as AWS's Athena integration makes)",
        )
    for name in (*SUMMED_MONEY, *SUMMED_QUANTITY):
        if name in names and not names[name].startswith(_NUMERIC_TYPES):
            raise InputError(
                f"athena table {table}: column has type {names[name]}",
                column=name,
                expected="a numeric column (double or decimal)",
            )
    for name in (Cur.bill_billing_period_start_date, Cur.line_item_usage_start_date):
        if not names[name].startswith("timestamp"):
            raise InputError(
                f"athena table {table}: column has type {names[name]}",
                column=name,
                expected="a timestamp column",
            )


def _quoted_table(table: str) -> str:
    database, name = table.split(".")
    return f'"{database}"."{name}"'


def _check_identifier(part: str) -> None:
    if not part or not all(ch.isalnum() or ch in "_-" for ch in part):
        raise InputError(
            f"{part!r}: not an Athena database or table name",
            expected="letters, digits, '_' and '-'",
        )
