"""An older billing delivery never silently replaces a newer one (issue #17, item 7)."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.focus import collector as focus
from gpuledger.commands import ingest as ingest_command
from gpuledger.commands.context import Context
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.store.delta import Store
from gpuledger.store.state import StateDB
from tests.collect.aws_export import cur2_rows, data_export, legacy_report
from tests.collect.focus_rows import write_focus_csv

OLDER = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
NEWER = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def _dated(paths: list[Path], when: datetime) -> Path:
    """Date a delivery: its manifest (the last path) was written at ``when``."""
    manifest = paths[-1]
    os.utime(manifest, (when.timestamp(), when.timestamp()))
    return manifest


def _export(root: Path, rows: int, execution: str, when: datetime) -> str:
    frame = cur2_rows(*({Cur.line_item_unblended_cost: 2.0} for _ in range(rows)))
    _dated(data_export(root, "2026-10", [frame], execution=execution), when)
    return str(root)


def _legacy(root: Path, rows: int, assembly: str, when: datetime) -> str:
    frame = cur2_rows(*({} for _ in range(rows)))
    _dated(legacy_report(root, ("20261001", "20261101"), assembly, [frame]), when)
    return str(root)


def _stored_rows(store: Store) -> int:
    return store.read("cost").height


def test_an_older_data_export_is_refused_and_the_store_keeps_the_newer(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    aws.ingest(store, Settings(), _export(tmp_path / "restated", 3, "exec-2", NEWER))

    with pytest.raises(InputError) as raised:
        aws.ingest(store, Settings(), _export(tmp_path / "first", 2, "exec-1", OLDER))

    assert str(raised.value) == (
        "aws billing account 999999999999 period 2026-10: the store holds delivery exec-2 "
        "made 2026-11-20 06:00:00 UTC; the delivery offered, exec-1, was made "
        "2026-11-03 06:00:00 UTC, earlier. Nothing was written. Ingest the newer delivery, "
        "or pass --force to store the older one anyway "
        "(expected a delivery at least as recent as the stored one)"
    )
    assert _stored_rows(store) == 3
    assert store.state.ingest_runs(1)[0].status == "failed"


def test_force_stores_the_older_delivery(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    aws.ingest(store, Settings(), _export(tmp_path / "restated", 3, "exec-2", NEWER))

    aws.ingest(store, Settings(), _export(tmp_path / "first", 2, "exec-1", OLDER), force=True)

    assert _stored_rows(store) == 2
    assert store.state.delivery_of("aws", "999999999999", "2026-10") == "exec-1"


def test_a_newer_delivery_replaces_an_older_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    aws.ingest(store, Settings(), _export(tmp_path / "first", 2, "exec-1", OLDER))

    aws.ingest(store, Settings(), _export(tmp_path / "restated", 3, "exec-2", NEWER))

    assert _stored_rows(store) == 3


def test_the_same_delivery_ingests_again_whatever_its_file_time(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    aws.ingest(store, Settings(), _export(tmp_path / "copy-1", 3, "exec-2", NEWER))

    aws.ingest(store, Settings(), _export(tmp_path / "copy-2", 3, "exec-2", OLDER))

    assert _stored_rows(store) == 3


def test_an_older_legacy_cur_assembly_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    aws.ingest(store, Settings(), _legacy(tmp_path / "restated", 3, "assembly-b", NEWER))

    with pytest.raises(InputError, match=r"holds delivery assembly-b .* offered, assembly-a"):
        aws.ingest(store, Settings(), _legacy(tmp_path / "first", 2, "assembly-a", OLDER))

    assert _stored_rows(store) == 3


def test_loose_files_carry_no_delivery_time_and_are_not_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    aws.ingest(store, Settings(), _export(tmp_path / "restated", 3, "exec-2", NEWER))
    loose = tmp_path / "loose"
    loose.mkdir()
    cur2_rows({}).write_parquet(loose / "one.parquet")

    aws.ingest(store, Settings(), str(loose))

    assert _stored_rows(store) == 1


def _focus_run(root: Path, rows: int, run_id: str, submitted: str) -> str:
    """An Azure-style FOCUS export run: data files and the manifest naming the run."""
    folder = root / "focus-export" / "20261001-20261031" / run_id
    folder.mkdir(parents=True)
    # Each row its own resource: rows equal in every column would be one line delivered twice.
    lines = ({"ResourceId": f"vm-{number}"} for number in range(rows))
    write_focus_csv(folder / "part_0_0001.csv", *lines)
    manifest = {"runInfo": {"runId": run_id, "submittedTime": submitted}, "blobs": []}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return str(root)


def test_an_older_focus_export_run_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    focus.ingest(store, Settings(), _focus_run(tmp_path / "b", 3, "run-b", "2026-06-02T08:00:00Z"))

    with pytest.raises(InputError, match="holds delivery run-b made 2026-06-02 08:00:00 UTC"):
        focus.ingest(
            store, Settings(), _focus_run(tmp_path / "a", 2, "run-a", "2026-06-01 08:00:00+00:00")
        )

    assert _stored_rows(store) == 3
    focus.ingest(store, Settings(), _focus_run(tmp_path / "c", 1, "run-c", "2026-06-03T08:00Z"))
    assert _stored_rows(store) == 1


def test_a_focus_manifest_with_a_bad_time_is_named(tmp_path: Path) -> None:
    src = _focus_run(tmp_path, 1, "run-a", "yesterday")

    with pytest.raises(InputError, match=r"manifest\.json, column 'runInfo\.submittedTime'"):
        focus.ingest(Store(tmp_path / "home"), Settings(), src)


def test_the_ingest_command_passes_force_to_the_collector(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    context = Context(home=None, config=None, _settings=Settings(), _store=store)
    ingest_command.run(
        context, source="aws", src=_export(tmp_path / "restated", 3, "exec-2", NEWER)
    )

    with pytest.raises(InputError, match="pass --force"):
        ingest_command.run(
            context, source="aws", src=_export(tmp_path / "first", 2, "exec-1", OLDER)
        )
    ingest_command.run(context, source="aws", src=str(tmp_path / "first"), force=True)

    assert _stored_rows(store) == 2


def test_a_state_database_from_before_delivery_times_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE billing_periods (source TEXT NOT NULL, billing_account TEXT NOT NULL,"
        " period TEXT NOT NULL, invoiced INTEGER NOT NULL, delivery TEXT,"
        " updated_at TEXT NOT NULL, PRIMARY KEY (source, billing_account, period))"
    )
    old.execute("INSERT INTO billing_periods VALUES ('aws', '1', '2026-10', 0, 'exec-1', 'x')")
    old.commit()
    old.close()

    state = StateDB(path)
    assert state.delivery_time_of("aws", "1", "2026-10") is None  # no time known: never refused
    made = datetime(2026, 11, 20, 6, tzinfo=UTC)
    state.record_billing_period(
        "aws", "1", "2026-10", invoiced=False, delivery="exec-2", delivered_at=made
    )
    assert state.delivery_time_of("aws", "1", "2026-10") == ("exec-2", made)
