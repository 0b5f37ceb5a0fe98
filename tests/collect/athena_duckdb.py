"""DuckDB standing in for Athena in tests and the benchmark: CUR tables and THE query's answer.

A table is loaded the way AWS's Athena integrations declare it: CUR 2.0 Parquet as it is, with
the ``billing_period`` partition column its folders carry; legacy CUR with the legacy Parquet
names (``line_item_unblended_cost``, ``resource_tags_user_team``), typed columns and the ``year``
and ``month`` partitions. Queries are written in Athena's SQL and transpiled by sqlglot.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from gpuledger.collect.aws.athena_sql import columns_sql, transpiled
from gpuledger.collect.aws.columns import MONEY_COLUMNS, TIME_COLUMNS, Cur
from gpuledger.collect.aws.legacy import cur2_name

DATABASE = "cur"


class DuckAthena:
    """One DuckDB database holding CUR tables in the schema ``cur``."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.sql(f"CREATE SCHEMA {DATABASE}")

    def add_cur2(self, table: str, files: list[Path]) -> None:
        """CUR 2.0 Parquet files (``…/BILLING_PERIOD=YYYY-MM/…``) as one partitioned table."""
        names = ", ".join(f"'{path}'" for path in files)
        self.con.sql(
            f"CREATE TABLE {DATABASE}.{table} AS SELECT * EXCLUDE (filename), "
            "regexp_extract(filename, 'BILLING_PERIOD=([0-9-]+)', 1) AS billing_period "
            f"FROM read_parquet([{names}], filename = true)"
        )

    def add_legacy(self, table: str, csv: Path) -> None:
        """A legacy CUR CSV as the legacy integration's table: snake names, typed columns."""
        raw = pl.read_csv(csv, infer_schema=False)
        renamed = raw.rename({name: _legacy_parquet_name(name) for name in raw.columns})
        money = [c for c in (*MONEY_COLUMNS, Cur.line_item_usage_amount) if c in renamed.columns]
        times = [c for c in TIME_COLUMNS if c in renamed.columns]
        frame = renamed.with_columns(
            *(pl.col(c).replace("", None).cast(pl.Float64) for c in money),
            *(pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms") for c in times),
        )
        start = pl.col(Cur.bill_billing_period_start_date)
        frame = frame.with_columns(
            start.dt.year().cast(pl.String).alias("year"),
            start.dt.month().cast(pl.String).alias("month"),
        )
        self.con.register("legacy_frame", frame.to_arrow())
        self.con.sql(f"CREATE TABLE {DATABASE}.{table} AS SELECT * FROM legacy_frame")

    def columns(self, table: str) -> dict[str, str]:
        """The table's columns and types, asked the way the collector asks Athena."""
        query = transpiled(columns_sql(DATABASE, table), "duckdb")
        return dict(self.con.sql(query).fetchall())

    def answer(self, query: str) -> pl.DataFrame:
        """The answer to a query written in Athena's SQL."""
        answer: pl.DataFrame = self.con.sql(transpiled(query, "duckdb")).pl()
        return answer


def _legacy_parquet_name(name: str) -> str:
    """``lineItem/UnblendedCost`` → ``line_item_unblended_cost``; tags keep their key's spelling,
    as the legacy Parquet report writes them (``resourceTags/user:team`` →
    ``resource_tags_user_team``)."""
    for prefix, snake in (("resourceTags/", "resource_tags_"), ("costCategory/", "cost_category_")):
        if name.startswith(prefix):
            return snake + name.removeprefix(prefix).replace(":", "_")
    return cur2_name(name)
