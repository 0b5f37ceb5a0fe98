"""The Delta store: atomic, idempotent partition replaces, time travel, concurrent writers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.ingest import PARTITION_KEYS
from gpuledger.errors import SchemaError, StoreError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.factories import cost_rows


def _partition(account: str, amount: str, rows: int = 3) -> pl.DataFrame:
    return cost_rows(
        *[{Cost.BillingAccountId: account, Cost.EffectiveCost: Decimal(amount)}] * rows
    )


def _totals(store: Store, version: int | None = None) -> dict[str, tuple[int, Decimal]]:
    frame = (
        store.scan("cost", version)
        .group_by(Cost.BillingAccountId)
        .agg(pl.len(), pl.col(Cost.EffectiveCost).sum())
        .collect()
    )
    return {row[0]: (row[1], row[2]) for row in frame.iter_rows()}


def test_missing_table_reads_as_empty_with_its_schema(store: Store) -> None:
    assert store.read("cost").height == 0
    assert store.version("cost") is None


def test_same_partition_twice_keeps_one_copy(store: Store) -> None:
    store.replace_partitions("cost", _partition("111", "1.5"), PARTITION_KEYS)
    store.replace_partitions("cost", _partition("111", "1.5"), PARTITION_KEYS)
    assert _totals(store) == {"111": (3, Decimal("4.5"))}


def test_replace_touches_only_its_own_partitions(store: Store) -> None:
    store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    store.replace_partitions("cost", _partition("222", "2"), PARTITION_KEYS)
    store.replace_partitions("cost", _partition("111", "10", rows=1), PARTITION_KEYS)
    assert _totals(store) == {"111": (1, Decimal("10")), "222": (3, Decimal("6"))}


def test_time_travel_returns_the_old_version(store: Store) -> None:
    first = store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    store.replace_partitions("cost", _partition("111", "7"), PARTITION_KEYS)
    assert _totals(store, version=first) == {"111": (3, Decimal("3"))}
    assert _totals(store) == {"111": (3, Decimal("21"))}


def test_invalid_frame_leaves_the_table_as_it_was(store: Store) -> None:
    version = store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    bad = _partition("111", "5").with_columns(pl.lit("Bogus").alias(Cost.ChargeCategory))
    with pytest.raises(SchemaError):
        store.replace_partitions("cost", bad, PARTITION_KEYS)
    assert store.version("cost") == version
    assert _totals(store) == {"111": (3, Decimal("3"))}


def test_replace_can_clear_a_partition_the_frame_no_longer_has(store: Store) -> None:
    store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    store.replace_partitions("cost", _partition("222", "2"), PARTITION_KEYS)
    gone = {Cost.x_Source: "aws", Cost.BillingAccountId: "111", Cost.x_BillingPeriod: "2026-10"}
    store.replace_partitions("cost", _partition("222", "2"), PARTITION_KEYS, replace=[gone])
    assert _totals(store) == {"222": (3, Decimal("6"))}


_WRITER = """
import sys
from decimal import Decimal
import polars as pl
from gpuledger.collect.ingest import PARTITION_KEYS
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.factories import cost_rows
store = Store(sys.argv[1])
account, amount, rows, repeats = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
frame = cost_rows({Cost.BillingAccountId: account, Cost.EffectiveCost: Decimal(amount)})
frame = frame.join(pl.DataFrame({"_n": range(rows)}), how="cross").drop("_n")
print("writing", flush=True)
for _ in range(repeats):
    store.replace_partitions("cost", frame, PARTITION_KEYS)
print("done", flush=True)
"""


def _writer(
    home: Path, account: str, amount: str, rows: int, repeats: int
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(home), account, amount, str(rows), str(repeats)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_concurrent_writers_do_not_corrupt_the_table(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Store(home).replace_partitions("cost", _partition("000", "1"), PARTITION_KEYS)
    writers = [
        _writer(home, "111", "1", 500, 4),
        _writer(home, "222", "2", 500, 4),
        _writer(home, "111", "1", 500, 4),
    ]
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    assert _totals(Store(home)) == {
        "000": (3, Decimal("3")),
        "111": (500, Decimal("500")),
        "222": (500, Decimal("1000")),
    }


@pytest.mark.slow
def test_a_killed_writer_leaves_the_previous_version_readable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Store(home).replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    writer = _writer(home, "111", "2", 400_000, 1)
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    totals = _totals(Store(home))
    assert totals in (
        {"111": (3, Decimal("3"))},
        {"111": (400_000, Decimal("800000"))},
    )


_RUNS = """
import sys
from gpuledger.store.delta import Store
store = Store(sys.argv[1])
for number in range(int(sys.argv[2])):
    store.state.start_ingest("aws", f"file-{number}")
"""


def test_processes_share_the_state_database(store: Store) -> None:
    runs = [subprocess.Popen([sys.executable, "-c", _RUNS, store.home, "20"]) for _ in range(3)]
    assert [run.wait(timeout=120) for run in runs] == [0, 0, 0]
    assert len(store.state.ingest_runs(limit=100)) == 60


def test_a_lazy_frame_is_streamed_in_validated_chunks(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gpuledger.store.delta.STREAM_CHUNK_ROWS", 4)
    staged = tmp_path / "staged.parquet"
    pl.concat([_partition("111", "1", rows=5), _partition("222", "2", rows=6)]).write_parquet(
        staged
    )
    store.replace_partitions("cost", pl.scan_parquet(staged), PARTITION_KEYS)
    assert _totals(store) == {"111": (5, Decimal("5")), "222": (6, Decimal("12"))}


def test_an_invalid_row_deep_in_a_stream_leaves_the_table_unchanged(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gpuledger.store.delta.STREAM_CHUNK_ROWS", 4)
    version = store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    rows = _partition("111", "3", rows=10).with_row_index("n")
    rows = rows.with_columns(
        pl.when(pl.col("n") == 9)
        .then(pl.lit("Bogus"))
        .otherwise(pl.col(Cost.ChargeCategory))
        .alias(Cost.ChargeCategory)
    ).drop("n")
    rows.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SchemaError) as caught:
        store.replace_partitions("cost", pl.scan_parquet(tmp_path / "bad.parquet"), PARTITION_KEYS)
    assert caught.value.row == 9
    assert store.version("cost") == version
    assert _totals(store) == {"111": (3, Decimal("3"))}


def test_replace_where_replaces_only_matching_rows_in_one_commit(store: Store) -> None:
    store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    store.replace_partitions("cost", _partition("222", "2"), PARTITION_KEYS)
    chunks = [_partition("111", "5", rows=1), _partition("111", "6", rows=1)]
    version = store.replace_where("cost", iter(chunks), f"{Cost.BillingAccountId} = '111'")
    assert version == 2
    assert _totals(store) == {"111": (2, Decimal("11")), "222": (3, Decimal("6"))}


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        (
            [
                _partition("111", "5", rows=1),
                _partition("111", "6").with_columns(pl.lit("Bogus").alias(Cost.ChargeCategory)),
            ],
            SchemaError,
        ),
        ([_partition("222", "5", rows=1)], StoreError),
    ],
    ids=["invalid-second-chunk", "row-outside-the-predicate"],
)
def test_a_refused_replace_where_leaves_the_table_unchanged(
    store: Store, chunks: list[pl.DataFrame], error: type[Exception]
) -> None:
    version = store.replace_partitions("cost", _partition("111", "1"), PARTITION_KEYS)
    with pytest.raises(error):
        store.replace_where("cost", iter(chunks), f"{Cost.BillingAccountId} = '111'")
    assert store.version("cost") == version
    assert _totals(store) == {"111": (3, Decimal("3"))}
