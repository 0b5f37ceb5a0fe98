"""A small index of the gpu_usage table: per (source, month, host) its rows, GPUs, instances, time
span and GPU-hours without an instance id, kept in SQLite so that status screens never scan
millions of telemetry rows.

The GPU ingest changes the index by what it wrote: the tally of the rows it delivered minus the
tally of the stored rows they replaced, noted with the table version it wrote. A reader that finds
the index missing or recorded at another version (rows written by some other path) rebuilds it
from one scan of the table, so the index can be stale only for as long as it takes to notice;
commits that change no row (compaction and vacuum by ``gpuledger maintain``) only move the noted
version forward.
Instance ids are kept with their row counts, so a replaced row that took the last mention of an
id away removes it; GPUs and the time span only grow, because a replaced row's GPU and bucket
come back with the rows that replace it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import polars as pl
from deltalake import DeltaTable

from gpuledger.schema import Usage, make_schema
from gpuledger.store.delta import Store
from gpuledger.store.state import utc_now
from gpuledger.store.state_sql import StateConnection, StateRow

# Delta operations whose commits change no row: the index stays true across them.
NO_DATA_CHANGE = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})

_DDL = """
DROP TABLE IF EXISTS usage_summary;
DROP TABLE IF EXISTS usage_summary_version;
CREATE TABLE IF NOT EXISTS usage_index (
    source TEXT NOT NULL,
    period TEXT NOT NULL,
    host TEXT NOT NULL,
    rows INTEGER NOT NULL,
    gpu_uuids TEXT NOT NULL,         -- JSON list
    resource_id_rows TEXT NOT NULL,  -- JSON object: ResourceId -> rows
    first_bucket TEXT,
    last_bucket TEXT,
    seconds_without_resource REAL NOT NULL,
    PRIMARY KEY (source, period, host)
);
CREATE TABLE IF NOT EXISTS usage_index_version (
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
        "gpu_hours_without_resource": pl.Float64,
    }
)
TALLY_SCHEMA = make_schema(
    {
        "source": pl.String,
        "period": pl.String,
        "host": pl.String,
        "rows": pl.Int64,
        "gpu_uuids": pl.List(pl.String),
        "resource_id_rows": pl.List(pl.Struct({"id": pl.String, "rows": pl.Int64})),
        "first_bucket": pl.Datetime("us", "UTC"),
        "last_bucket": pl.Datetime("us", "UTC"),
        "seconds_without_resource": pl.Float64,
    }
)


def tally(usage: pl.LazyFrame) -> pl.DataFrame:
    """What some gpu_usage rows add to the index: one row per (source, month, host).

    One pass over the rows reduces them to one row per (source, month, host, instance, GPU);
    the index rows are aggregated from those few.
    """
    keys = [Usage.source, Usage.x_BillingPeriod, Usage.host]
    without = pl.when(pl.col(Usage.ResourceId).is_null()).then(pl.col(Usage.active_seconds))
    parts = (
        usage.group_by(*keys, Usage.ResourceId, Usage.gpu_uuid)
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col(Usage.bucket_start).min().alias("first_bucket"),
            pl.col(Usage.bucket_start).max().alias("last_bucket"),
            without.sum().cast(pl.Float64).alias("seconds_without_resource"),
        )
        .collect(engine="streaming")  # a full table scan must not hold the table
        .lazy()
    )
    per_resource = (
        parts.drop_nulls(Usage.ResourceId)
        .group_by(*keys, Usage.ResourceId)
        .agg(pl.col("rows").sum())
        .group_by(keys)
        .agg(pl.struct(pl.col(Usage.ResourceId).alias("id"), "rows").alias("resource_id_rows"))
    )
    main = parts.group_by(keys).agg(
        pl.col("rows").sum(),
        pl.col(Usage.gpu_uuid).drop_nulls().unique().sort().alias("gpu_uuids"),
        pl.col("first_bucket").min(),
        pl.col("last_bucket").max(),
        pl.col("seconds_without_resource").sum(),
    )
    joined = main.join(per_resource, on=keys, how="left", nulls_equal=True).rename(
        {Usage.source: "source", Usage.x_BillingPeriod: "period", Usage.host: "host"}
    )
    return (
        joined.with_columns(
            pl.col("resource_id_rows").fill_null(pl.lit([], TALLY_SCHEMA["resource_id_rows"]))
        )
        .select(TALLY_SCHEMA.names())
        .collect()
        .cast(TALLY_SCHEMA)
    )


def summarize(usage: pl.LazyFrame) -> pl.DataFrame:
    """The index rows of some gpu_usage rows, as :func:`usage_summary` shows them."""
    return _summary_rows(_entry(row) for row in tally(usage).iter_rows(named=True))


def record(store: Store, rows: pl.DataFrame, table_version: int) -> None:
    """Replace the whole index with the tally ``rows`` of the table at ``table_version``."""
    store.state.ensure(_DDL)
    with store.state.connect() as db:
        db.execute("DELETE FROM usage_index")
        _write(db, (_entry(row) for row in rows.iter_rows(named=True)))
        _note_version(db, table_version)


def apply_change(
    store: Store,
    added: pl.DataFrame,
    removed: pl.DataFrame,
    table_version: int,
    *,
    previous_version: int | None,
) -> None:
    """Add the tally ``added`` and take away ``removed``, after one write of the table.

    Applied only when the index was current just before that write (``previous_version`` None:
    the write created the table, so the index starts empty); otherwise the next reader rebuilds.
    """
    store.state.ensure(_DDL)
    with store.state.connect() as db:
        noted = db.execute("SELECT table_version FROM usage_index_version").fetchone()
        if previous_version is None:
            db.execute("DELETE FROM usage_index")
        elif noted is None or noted["table_version"] != previous_version:
            return
        changes: dict[tuple[str, str, str], dict[str, Any]] = {}
        for sign, frame in ((1, added), (-1, removed)):
            for row in frame.iter_rows(named=True):
                key = (row["source"], row["period"], row["host"])
                current = changes.get(key) or _stored_entry(db, key)
                changes[key] = _merge(current, _entry(row), sign)
        _write(db, (entry for entry in changes.values() if entry["rows"] > 0))
        gone = [key for key, entry in changes.items() if entry["rows"] <= 0]
        db.executemany("DELETE FROM usage_index WHERE source=? AND period=? AND host=?", gone)
        _note_version(db, table_version)


def usage_summary(store: Store) -> pl.DataFrame:
    """The index, rebuilt from the table first when it does not match the table's version."""
    store.state.ensure(_DDL)
    version = store.version("gpu_usage")
    if version is None:
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    with store.state.connect() as db:
        noted = db.execute("SELECT table_version FROM usage_index_version").fetchone()
    if noted is None or noted["table_version"] != version:
        if noted is not None and _rows_unchanged(store, noted["table_version"], version):
            with store.state.connect() as db:
                _note_version(db, version)
        else:
            record(store, tally(store.scan("gpu_usage")), version)
    with store.state.connect() as db:
        rows = db.execute("SELECT * FROM usage_index ORDER BY period, source, host").fetchall()
    return _summary_rows(_from_db(row) for row in rows)


def _rows_unchanged(store: Store, since: int, version: int) -> bool:
    """Whether every commit after ``since`` up to ``version`` left the rows as they were.

    Compaction and vacuum (``gpuledger maintain``) rewrite or delete files but change no row
    (their actions carry ``dataChange: false``); any other operation, or a gap in the history,
    counts as a change.
    """
    if version <= since:
        return False
    delta = DeltaTable(store.uri("gpu_usage"), storage_options=store.storage_options or None)
    commits = {
        entry.get("version"): entry.get("operation")
        for entry in delta.history(limit=version - since)
    }
    wanted = range(since + 1, version + 1)
    return all(commits.get(v) in NO_DATA_CHANGE for v in wanted)


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    """A tally row as a plain dict: resource ids as {id: rows}."""
    resources = {item["id"]: item["rows"] for item in row["resource_id_rows"]}
    return {**row, "gpu_uuids": list(row["gpu_uuids"]), "resource_id_rows": resources}


def _merge(current: dict[str, Any] | None, change: dict[str, Any], sign: int) -> dict[str, Any]:
    if current is None:
        current = {**change, "rows": 0, "resource_id_rows": {}, "seconds_without_resource": 0.0}
        current["gpu_uuids"] = []
    resources = dict(current["resource_id_rows"])
    for resource, rows in change["resource_id_rows"].items():
        resources[resource] = resources.get(resource, 0) + sign * rows
    spans = [t for t in (current["first_bucket"], change["first_bucket"]) if t is not None]
    ends = [t for t in (current["last_bucket"], change["last_bucket"]) if t is not None]
    return {
        **current,
        "rows": current["rows"] + sign * change["rows"],
        "gpu_uuids": sorted(set(current["gpu_uuids"]) | set(change["gpu_uuids"])),
        "resource_id_rows": {k: v for k, v in resources.items() if v > 0},
        "first_bucket": min(spans) if spans else None,
        "last_bucket": max(ends) if ends else None,
        "seconds_without_resource": max(
            0.0, current["seconds_without_resource"] + sign * change["seconds_without_resource"]
        ),
    }


def _stored_entry(db: StateConnection, key: tuple[str, str, str]) -> dict[str, Any] | None:
    found = db.execute(
        "SELECT * FROM usage_index WHERE source=? AND period=? AND host=?", key
    ).fetchone()
    return None if found is None else _from_db(found)


def _from_db(row: StateRow) -> dict[str, Any]:
    return {
        **dict(row),
        "gpu_uuids": json.loads(row["gpu_uuids"]),
        "resource_id_rows": json.loads(row["resource_id_rows"]),
        "first_bucket": _time(row["first_bucket"]),
        "last_bucket": _time(row["last_bucket"]),
    }


def _write(db: StateConnection, entries: Iterable[dict[str, Any]]) -> None:
    db.executemany(
        "INSERT INTO usage_index (source, period, host, rows, gpu_uuids, resource_id_rows,"
        " first_bucket, last_bucket, seconds_without_resource) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source, period, host) DO UPDATE SET rows=excluded.rows,"
        " gpu_uuids=excluded.gpu_uuids, resource_id_rows=excluded.resource_id_rows,"
        " first_bucket=excluded.first_bucket, last_bucket=excluded.last_bucket,"
        " seconds_without_resource=excluded.seconds_without_resource",
        [
            (
                entry["source"],
                entry["period"],
                entry["host"],
                entry["rows"],
                json.dumps(entry["gpu_uuids"]),
                json.dumps(entry["resource_id_rows"], sort_keys=True),
                _text(entry["first_bucket"]),
                _text(entry["last_bucket"]),
                entry["seconds_without_resource"],
            )
            for entry in entries
        ],
    )


def _note_version(db: StateConnection, table_version: int) -> None:
    db.execute(
        "INSERT INTO usage_index_version (id, table_version, updated_at) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET table_version=excluded.table_version,"
        " updated_at=excluded.updated_at",
        (table_version, utc_now()),
    )


def _summary_rows(entries: Iterable[dict[str, Any]]) -> pl.DataFrame:
    rows = [
        {
            "source": entry["source"],
            "period": entry["period"],
            "host": entry["host"],
            "rows": entry["rows"],
            "gpu_uuids": entry["gpu_uuids"],
            "resource_ids": sorted(entry["resource_id_rows"]),
            "first_bucket": entry["first_bucket"],
            "last_bucket": entry["last_bucket"],
            "gpu_hours_without_resource": entry["seconds_without_resource"] / 3600,
        }
        for entry in entries
    ]
    return pl.DataFrame(rows, schema=SUMMARY_SCHEMA).sort("period", "source", "host")


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
