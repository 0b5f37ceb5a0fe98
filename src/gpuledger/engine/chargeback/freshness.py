"""Whether a month's allocation still matches its inputs: the table versions it was computed from.

``gpuledger attribute`` records, per month, the versions of ``cost`` and ``gpu_usage`` it read and
the ``allocation`` version it wrote. The input versions are read *before* the inputs, so an
ingest that commits while attribution runs leaves the allocation stale rather than unnoticed.

A later commit of an input makes the allocation stale when it changed that month's rows: the
month's data files before and after the commit differ. Compaction and vacuum (``gpuledger
maintain``, operations that change files but no rows) and writes to other months do not count.
Comparing totals is not enough: an ingest that moves cost between teams keeps the total.

An allocation written without a record (by an older gpuledger, or by the engine called
directly), or rewritten since its record, has no known inputs; only the totals check of
:func:`~gpuledger.engine.chargeback.live.check_conservation` applies to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from gpuledger.store.state import utc_now
from gpuledger.store.telemetry_index import NO_DATA_CHANGE

INPUT_TABLES: Final = ("cost", "gpu_usage")
# cost, gpu_usage and allocation are all partitioned by this month column
_PARTITION: Final = f"partition.{Cost.x_BillingPeriod}"

_DDL = """
CREATE TABLE IF NOT EXISTS allocation_inputs (
    period TEXT PRIMARY KEY,
    attributed_at TEXT NOT NULL,
    input_versions TEXT NOT NULL,    -- JSON {table: version read before attribution}
    allocation_version INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Staleness:
    """A month whose allocation was computed from inputs that have changed since."""

    period: str
    attributed_at: str
    moved: tuple[str, ...]  # the input tables whose rows of the month changed

    def message(self) -> str:
        return (
            f"allocation of {self.period} is stale: {' and '.join(self.moved)} changed since"
            f" attribution at {self.attributed_at} — run `gpuledger attribute --period"
            f" {self.period}`"
        )


def input_versions(store: Store) -> dict[str, int | None]:
    """The current version of each input table; read this before attribution reads them."""
    return {table: store.version(table) for table in INPUT_TABLES}


def record_attribution(
    store: Store, period: str, versions: dict[str, int | None], allocation_version: int
) -> None:
    """Record what ``period``'s allocation at ``allocation_version`` was computed from.

    Of two attributions of one month, the record of the later allocation write is kept.
    """
    store.state.ensure(_DDL)
    with store.state.connect() as db:
        db.execute(
            "INSERT INTO allocation_inputs (period, attributed_at, input_versions,"
            " allocation_version) VALUES (?, ?, ?, ?) ON CONFLICT (period) DO UPDATE SET"
            " attributed_at=excluded.attributed_at, input_versions=excluded.input_versions,"
            " allocation_version=excluded.allocation_version"
            " WHERE excluded.allocation_version >= allocation_inputs.allocation_version",
            (period, utc_now(), json.dumps(versions, sort_keys=True), allocation_version),
        )


def allocation_staleness(store: Store, period: str) -> Staleness | None:
    """How ``period``'s allocation is stale, or None when its inputs are unchanged or unknown."""
    store.state.ensure(_DDL)
    with store.state.connect() as db:
        row = db.execute("SELECT * FROM allocation_inputs WHERE period=?", (period,)).fetchone()
    if row is None:
        return None
    if month_rows_changed(store, "allocation", period, row["allocation_version"]):
        return None  # rewritten since by a writer that kept no record
    versions: dict[str, int | None] = json.loads(row["input_versions"])
    moved = tuple(
        table
        for table in INPUT_TABLES
        if month_rows_changed(store, table, period, versions.get(table))
    )
    return Staleness(period, row["attributed_at"], moved) if moved else None


def month_rows_changed(store: Store, table: str, period: str, since: int | None) -> bool:
    """Whether a commit after version ``since`` (None: before the table existed) changed the
    rows of ``period`` in ``table``."""
    current = store.version(table)
    if current == since:
        return False
    if current is None or (since is not None and current < since):
        return True  # the table was deleted or created anew
    files = _MonthFiles(store, table, period)
    first = -1 if since is None else since
    try:
        if files.at(since) == files.at(current):
            return False
        operations = _operations(store, table, current - first)
        return any(
            operations.get(version) not in NO_DATA_CHANGE
            and files.at(version - 1) != files.at(version)
            for version in range(first + 1, current + 1)
        )
    except DeltaError:
        return True  # a version whose log is gone: nothing shows the month unchanged


class _MonthFiles:
    """The data files holding one month of a table, per version (each version loaded once)."""

    def __init__(self, store: Store, table: str, period: str) -> None:
        self.store, self.table, self.period = store, table, period
        self._seen: dict[int, frozenset[str]] = {}

    def at(self, version: int | None) -> frozenset[str]:
        if version is None or version < 0:
            return frozenset()
        if version not in self._seen:
            self._seen[version] = self._load(version)
        return self._seen[version]

    def _load(self, version: int) -> frozenset[str]:
        delta = DeltaTable(
            self.store.uri(self.table),
            version=version,
            storage_options=self.store.storage_options or None,
        )
        actions = pa.table(delta.get_add_actions(flatten=True))
        if _PARTITION not in actions.column_names:
            return frozenset()
        pairs = zip(
            actions.column("path").to_pylist(), actions.column(_PARTITION).to_pylist(), strict=True
        )
        return frozenset(path for path, month in pairs if month == self.period)


def _operations(store: Store, table: str, count: int) -> dict[int, str | None]:
    """The operation of each of the table's last ``count`` commits, by version."""
    delta = DeltaTable(store.uri(table), storage_options=store.storage_options or None)
    return {entry["version"]: entry.get("operation") for entry in delta.history(limit=count)}
