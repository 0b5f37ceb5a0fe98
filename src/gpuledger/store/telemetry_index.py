"""A small index of the gpu_usage table: per (source, month, host) its rows, GPUs, instances and
time span, kept in SQLite so that status screens never scan millions of telemetry rows.

The GPU ingest records the index for the partitions it rewrites, together with the table version
it wrote. A reader that finds the index missing or recorded at another version (rows written by
some other path) rebuilds it from one scan of the table, so the index can be stale only for as long
as it takes to notice.
"""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl

from gpuledger.schema import Usage, make_schema
from gpuledger.store.delta import Store
from gpuledger.store.state import utc_now

_DDL = """
CREATE TABLE IF NOT EXISTS usage_summary (
    source TEXT NOT NULL,
    period TEXT NOT NULL,
    host TEXT NOT NULL,
    rows INTEGER NOT NULL,
    gpu_uuids TEXT NOT NULL,      -- JSON list
    resource_ids TEXT NOT NULL,   -- JSON list
    first_bucket TEXT,
    last_bucket TEXT,
    PRIMARY KEY (source, period, host)
);
CREATE TABLE IF NOT EXISTS usage_summary_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    table_version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
"""

SUMMARY_SCHEMA = make_schema(
    {
        "source": pl.String,
        "period": pl.String,
        "host": pl.String,
        "rows": pl.Int64,
        "gpu_uuids": pl.List(pl.String),
        "resource_ids": pl.List(pl.String),
        "first_bucket": pl.Datetime("us", "UTC"),
        "last_bucket": pl.Datetime("us", "UTC"),
    }
)


def summarize(usage: pl.LazyFrame) -> pl.DataFrame:
    """The index rows of some gpu_usage rows: one per (source, month, host)."""
    return (
        usage.group_by(
            pl.col(Usage.source).alias("source"),
            pl.col(Usage.x_BillingPeriod).alias("period"),
            pl.col(Usage.host).alias("host"),
        )
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col(Usage.gpu_uuid).drop_nulls().unique().sort().alias("gpu_uuids"),
            pl.col(Usage.ResourceId).drop_nulls().unique().sort().alias("resource_ids"),
            pl.col(Usage.bucket_start).min().alias("first_bucket"),
            pl.col(Usage.bucket_start).max().alias("last_bucket"),
        )
        .collect(engine="streaming")
        .cast(SUMMARY_SCHEMA)
    )


def record(
    store: Store,
    summary: pl.DataFrame,
    table_version: int | None,
    *,
    previous_version: int | None = None,
) -> None:
    """Replace the index rows of the partitions in ``summary`` and note ``table_version``.

    With ``previous_version`` (an incremental update after one write), the new version is noted
    only if the index was current just before that write; otherwise the next reader rebuilds.
    """
    store.state.ensure(_DDL)
    with store.state.connect() as db:
        noted = db.execute("SELECT table_version FROM usage_summary_version").fetchone()
        was_current = previous_version is None or (
            noted is not None and noted["table_version"] == previous_version
        )
        db.executemany(
            "INSERT OR REPLACE INTO usage_summary VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    row["source"],
                    row["period"],
                    row["host"],
                    row["rows"],
                    json.dumps(row["gpu_uuids"]),
                    json.dumps(row["resource_ids"]),
                    _text(row["first_bucket"]),
                    _text(row["last_bucket"]),
                )
                for row in summary.iter_rows(named=True)
            ],
        )
        if table_version is not None and was_current:
            db.execute(
                "INSERT OR REPLACE INTO usage_summary_version VALUES (1, ?, ?)",
                (table_version, utc_now()),
            )


def usage_summary(store: Store) -> pl.DataFrame:
    """The index, rebuilt from the table first when it does not match the table's version."""
    store.state.ensure(_DDL)
    version = store.version("gpu_usage")
    if version is None:
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    with store.state.connect() as db:
        noted = db.execute("SELECT table_version FROM usage_summary_version").fetchone()
    if noted is None or noted["table_version"] != version:
        with store.state.connect() as db:
            db.execute("DELETE FROM usage_summary")
        record(store, summarize(store.scan("gpu_usage")), version)
    with store.state.connect() as db:
        rows = db.execute("SELECT * FROM usage_summary ORDER BY period, source, host").fetchall()
    return pl.DataFrame(
        [
            {
                **dict(row),
                "gpu_uuids": json.loads(row["gpu_uuids"]),
                "resource_ids": json.loads(row["resource_ids"]),
                "first_bucket": _time(row["first_bucket"]),
                "last_bucket": _time(row["last_bucket"]),
            }
            for row in rows
        ],
        schema=SUMMARY_SCHEMA,
    )


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
