"""The maintenance log: one row per table and ``gpuledger maintain`` run, in the state database.

``store.maintain`` writes it; ``status`` and the data health page read when each table was last
maintained from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpuledger.store.state import StateDB, utc_now
from gpuledger.store.state_sql import next_seq

_COLUMNS = (
    "run_id, table_name, finished_at, dry_run, retention_hours, files_before, files_after,"
    " bytes_before, bytes_after, files_compacted, files_vacuumed, seconds"
)
_DDL = """
CREATE TABLE IF NOT EXISTS maintenance_runs (
    run_id TEXT NOT NULL,
    table_name TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    retention_hours INTEGER NOT NULL,
    files_before INTEGER NOT NULL,
    files_after INTEGER NOT NULL,
    bytes_before INTEGER NOT NULL,
    bytes_after INTEGER NOT NULL,
    files_compacted INTEGER NOT NULL,   -- small files rewritten (a dry run: that would be)
    files_vacuumed INTEGER NOT NULL,    -- files deleted (a dry run: that would be)
    seconds REAL NOT NULL,
    seq INTEGER,                        -- insertion order
    PRIMARY KEY (run_id, table_name)
);
"""


def record_table_run(
    state: StateDB, run_id: str, retention_hours: int, result: Mapping[str, Any]
) -> None:
    """Record one table's maintenance (``TableMaintenance.as_dict()``) as finished now."""
    _ready(state)
    with state.connect() as db:
        db.execute(
            f"INSERT INTO maintenance_runs ({_COLUMNS}, seq)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {next_seq('maintenance_runs')})",
            (
                run_id,
                result["table"],
                utc_now(),
                int(result["dry_run"]),
                retention_hours,
                result["files_before"],
                result["files_after"],
                result["bytes_before"],
                result["bytes_after"],
                result["files_compacted"],
                result["files_vacuumed"],
                result["seconds"],
            ),
        )


def last_maintained(state: StateDB) -> Mapping[str, str]:
    """When each table was last maintained for real (dry runs do not count), by table name."""
    _ready(state)
    with state.connect() as db:
        rows = db.execute(
            "SELECT table_name, MAX(finished_at) AS at FROM maintenance_runs"
            " WHERE dry_run = 0 GROUP BY table_name"
        ).fetchall()
    return {row["table_name"]: row["at"] for row in rows}


def maintenance_runs(state: StateDB, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent per-table maintenance records, newest first."""
    _ready(state)
    with state.connect() as db:
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM maintenance_runs ORDER BY finished_at DESC, seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [dict(row) for row in rows]


def _ready(state: StateDB) -> None:
    state.ensure(_DDL)
    state.add_order_column("maintenance_runs")
