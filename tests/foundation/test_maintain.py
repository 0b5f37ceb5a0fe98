"""Store maintenance: compaction keeps every row, vacuum deletes only what no version in use needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.close import close_period
from gpuledger.errors import UsageError
from gpuledger.report.export.render import render
from gpuledger.report.health import store_health
from gpuledger.schema import Usage, validate
from gpuledger.store.delta import Store
from gpuledger.store.maintain import MANY_SMALL_FILES, maintain, table_files
from gpuledger.store.maintenance_log import last_maintained, maintenance_runs
from tests.chargeback.ledger import write_month
from tests.factories import usage_rows

MONTHS = ("2026-09", "2026-10", "2026-11", "2026-12")  # one gpu_usage partition each
APPENDS = 30  # x 4 partitions = 120 small files, past MANY_SMALL_FILES
FORMATS = ("json", "csv", "table", "xlsx", "focus")


def _append_telemetry(store: Store, appends: int = APPENDS) -> None:
    """One 5-minute bucket per month and append: one small file per partition per append."""
    for n in range(appends):
        rows = usage_rows(
            *(
                {
                    Usage.host: f"host-{month}",
                    Usage.gpu_uuid: f"GPU-{month}",
                    Usage.ResourceId: f"i-{month}",
                    Usage.bucket_start: datetime.fromisoformat(f"{month}-01T00:00+00:00")
                    + timedelta(minutes=5 * n),
                    Usage.sm_util: float(n),
                }
                for month in MONTHS
            )
        ).with_columns(
            pl.lit("agent").alias(Usage.source),
            pl.col(Usage.bucket_start).dt.strftime("%Y-%m").alias(Usage.x_BillingPeriod),
        )
        store.append("gpu_usage", validate(rows, "gpu_usage"))


def _sorted_usage(store: Store, version: int | None = None) -> pl.DataFrame:
    return store.read("gpu_usage", version).sort(Usage.bucket_start)


def _data_files(store: Store, table: str) -> set[str]:
    root = Path(store.uri(table))
    return {
        str(path.relative_to(root))
        for path in root.rglob("*.parquet")
        if "_delta_log" not in path.parts
    }


def test_compaction_leaves_one_file_per_partition_and_the_same_rows(store: Store) -> None:
    _append_telemetry(store)
    expected = _sorted_usage(store)
    before = table_files(store)["gpu_usage"]
    assert before.files == APPENDS * len(MONTHS)
    assert before.mergeable >= MANY_SMALL_FILES
    assert before.needs_maintenance

    (result,) = maintain(store, ["gpu_usage"])

    assert (result.before.files, result.after.files) == (APPENDS * len(MONTHS), len(MONTHS))
    assert result.files_compacted == APPENDS * len(MONTHS)
    assert result.files_vacuumed == 0  # the merged files are younger than the retention
    assert not table_files(store)["gpu_usage"].needs_maintenance
    assert_frame_equal(_sorted_usage(store), expected)


def test_vacuum_deletes_superseded_files_only_past_the_retention(store: Store) -> None:
    _append_telemetry(store, appends=3)
    first = store.version("gpu_usage")
    maintain(store, ["gpu_usage"])
    assert len(_data_files(store, "gpu_usage")) == 3 * len(MONTHS) + len(MONTHS)
    _sorted_usage(store, first)  # a recent old version still reads

    (result,) = maintain(store, ["gpu_usage"], retention_hours=0)

    assert result.files_vacuumed == 3 * len(MONTHS)
    assert len(_data_files(store, "gpu_usage")) == len(MONTHS)
    assert _sorted_usage(store).height == 3 * len(MONTHS)
    with pytest.raises(Exception, match=r"(?i)not found|no such file"):
        _sorted_usage(store, first)


def test_vacuum_deletes_an_old_stray_file_and_keeps_a_fresh_one(store: Store) -> None:
    _append_telemetry(store, appends=1)
    partition = next(Path(store.uri("gpu_usage")).rglob("x_BillingPeriod=2026-10"))
    old, fresh = partition / "part-old-stray.parquet", partition / "part-fresh-stray.parquet"
    for stray in (old, fresh):
        stray.write_bytes(b"left by a write that never committed")
    ten_days_ago = time.time() - 10 * 24 * 3600
    os.utime(old, (ten_days_ago, ten_days_ago))

    (result,) = maintain(store, ["gpu_usage"])

    assert result.files_vacuumed == 1
    assert not old.exists()
    assert fresh.exists()


def test_a_closed_month_reads_the_same_after_maintain_with_zero_retention(
    store: Store, settings: Settings
) -> None:
    write_month(store, "2026-10", {"team": "nlp", "cost": "100.00"}, {"team": "vision"})
    close_period(store, settings, "2026-10")
    at_close = {fmt: render(build_statements(store, settings, "2026-10"), fmt) for fmt in FORMATS}
    pinned = store.state.closed_periods()["2026-10"]["table_versions"]
    pinned_rows = {t: store.read(t, pinned[t]) for t in ("cost", "allocation")}
    # A restatement supersedes the files the close was computed from.
    write_month(store, "2026-10", {"team": "nlp", "cost": "90.00"}, {"team": "audio"})
    write_month(store, "2026-10", {"team": "nlp", "cost": "80.00"})

    results = maintain(store, retention_hours=0)

    vacuumed = {r.table: r.files_vacuumed for r in results}
    assert vacuumed["cost"] > 0  # the version between close and now was not protected
    assert {r.table: r.protected_versions for r in results}["cost"] == (pinned["cost"],)
    later = {fmt: render(build_statements(store, settings, "2026-10"), fmt) for fmt in FORMATS}
    assert later == at_close
    for table, rows in pinned_rows.items():
        assert_frame_equal(store.read(table, pinned[table]), rows)


def test_a_dry_run_changes_nothing_and_says_what_it_would_do(store: Store) -> None:
    _append_telemetry(store, appends=5)
    files, version = _data_files(store, "gpu_usage"), store.version("gpu_usage")

    (result,) = maintain(store, ["gpu_usage"], retention_hours=0, dry_run=True)

    assert result.dry_run
    assert result.files_compacted == 5 * len(MONTHS)
    assert result.after == result.before
    assert _data_files(store, "gpu_usage") == files
    assert store.version("gpu_usage") == version
    assert last_maintained(store.state) == {}  # a dry run is recorded, but is no maintenance


def test_each_table_run_is_recorded(store: Store) -> None:
    _append_telemetry(store, appends=2)
    maintain(store)
    (run,) = maintenance_runs(store.state)
    assert run["table_name"] == "gpu_usage"
    assert (run["files_before"], run["files_after"]) == (2 * len(MONTHS), len(MONTHS))
    assert run["bytes_after"] > 0
    assert run["dry_run"] == 0
    assert set(last_maintained(store.state)) == {"gpu_usage"}


@pytest.mark.parametrize(
    ("tables", "retention", "message"),
    [
        (["gpu_usage", "costs"], 168, r"unknown table\(s\) costs; expected some of cost, "),
        (["cost"], -1, r"--retention-hours must be 0 or more, got -1"),
    ],
    ids=["unknown-table", "negative-retention"],
)
def test_bad_options_are_refused_before_any_work(
    store: Store, tables: list[str], retention: int, message: str
) -> None:
    _append_telemetry(store, appends=2)
    with pytest.raises(UsageError, match=message):
        maintain(store, tables, retention_hours=retention)
    assert table_files(store)["gpu_usage"].files == 2 * len(MONTHS)


def test_status_shows_files_and_when_maintenance_last_ran(store: Store, settings: Settings) -> None:
    _append_telemetry(store)
    (row,) = store_health(store, settings).tables
    assert (row["table"], row["files"], row["last_maintained"]) == ("gpu_usage", 120, None)
    assert row["needs_maintenance"]
    maintain(store)
    (row,) = store_health(store, settings).tables
    assert (row["files"], row["needs_maintenance"]) == (len(MONTHS), False)
    assert row["last_maintained"] == last_maintained(store.state)["gpu_usage"]


def _gpuledger(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_commands_maintain_and_report(store: Store) -> None:
    _append_telemetry(store)
    status = _gpuledger(Path(store.home), "status")
    assert status.returncode == 0, status.stderr
    assert "gpuledger maintain" in status.stdout  # the hint for a table of small files

    dry = _gpuledger(Path(store.home), "maintain", "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["tables"][0]["files_compacted"] == 120

    done = _gpuledger(Path(store.home), "maintain", "--table", "gpu_usage")
    assert done.returncode == 0, done.stderr
    assert "gpu_usage" in done.stdout
    assert table_files(store)["gpu_usage"].files == len(MONTHS)
    status = _gpuledger(Path(store.home), "status", "--format", "json")
    (row,) = json.loads(status.stdout)["tables"]
    assert (row["files"], row["needs_maintenance"]) == (len(MONTHS), False)
    assert row["last_maintained"] is not None
