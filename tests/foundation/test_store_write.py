"""The partition replace's own write path: files written here, one Delta commit, stats, conflicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.dataset as pads  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from deltalake import DeltaTable, write_deltalake

from gpuledger.collect.ingest import PARTITION_KEYS
from gpuledger.errors import SchemaError, StoreError
from gpuledger.schema import Cost, validate
from gpuledger.store.delta import Store
from gpuledger.store.file_replace import replace_keys
from gpuledger.store.file_stats import delta_stats
from tests.factories import cost_rows


def _rows(account: str, amount: str, rows: int = 3, period: str = "2026-10") -> pl.DataFrame:
    """Cost rows with every column of the table, as the store hands them to its writer."""
    rows_of_key = cost_rows(
        *[
            {
                Cost.BillingAccountId: account,
                Cost.EffectiveCost: Decimal(amount),
                Cost.x_BillingPeriod: period,
            }
        ]
        * rows
    )
    return validate(rows_of_key, "cost")


def _totals(store: Store) -> dict[tuple[str, str], tuple[int, Decimal]]:
    frame = (
        store.scan("cost")
        .group_by(Cost.BillingAccountId, Cost.x_BillingPeriod)
        .agg(pl.len(), pl.col(Cost.EffectiveCost).sum())
        .collect()
    )
    return {(row[0], row[1]): (row[2], row[3]) for row in frame.iter_rows()}


def _parquet_files(store: Store) -> set[Path]:
    return set(Path(store.uri("cost")).rglob("*.parquet"))


def _combos(frame: pl.DataFrame) -> list[dict[str, object]]:
    return frame.select(PARTITION_KEYS).unique().to_dicts()


def test_a_replace_is_one_version_that_keeps_other_keys(store: Store) -> None:
    store.replace_partitions(
        "cost",
        pl.concat([_rows("111", "1"), _rows("222", "2"), _rows("111", "5", period="2026-11")]),
        PARTITION_KEYS,
    )
    before = store.version("cost")
    version = store.replace_partitions("cost", _rows("111", "7", rows=2), PARTITION_KEYS)
    assert before is not None
    assert version == before + 1
    assert _totals(store) == {
        ("111", "2026-10"): (2, Decimal("14")),
        ("222", "2026-10"): (3, Decimal("6")),
        ("111", "2026-11"): (3, Decimal("15")),
    }


def test_a_table_written_by_delta_rs_still_reads_and_replaces(store: Store) -> None:
    """Files holding several keys (as delta-rs wrote them) keep the rows of keys not replaced."""
    old = pl.concat([_rows("111", "1"), _rows("222", "2")])
    write_deltalake(
        store.uri("cost"),
        old.to_arrow(compat_level=pl.CompatLevel.newest()),
        partition_by=[Cost.x_Source, Cost.x_BillingPeriod],
    )
    assert _totals(store) == {
        ("111", "2026-10"): (3, Decimal("3")),
        ("222", "2026-10"): (3, Decimal("6")),
    }
    store.replace_partitions("cost", _rows("111", "4", rows=1), PARTITION_KEYS)
    assert _totals(store) == {
        ("111", "2026-10"): (1, Decimal("4")),
        ("222", "2026-10"): (3, Decimal("6")),
    }


def test_the_new_table_has_the_schema_delta_rs_would_give_it(store: Store, tmp_path: Path) -> None:
    rows = _rows("111", "1")
    store.replace_partitions("cost", rows, PARTITION_KEYS)
    theirs = tmp_path / "theirs"
    write_deltalake(
        theirs,
        rows.to_arrow(compat_level=pl.CompatLevel.newest()),
        partition_by=[Cost.x_Source, Cost.x_BillingPeriod],
    )
    ours, reference = DeltaTable(store.uri("cost")), DeltaTable(theirs)
    assert ours.schema().to_json() == reference.schema().to_json()
    assert ours.metadata().partition_columns == reference.metadata().partition_columns
    assert ours.protocol() == reference.protocol()
    assert_read = store.read("cost")
    assert assert_read.equals(rows.select(assert_read.columns))


def test_a_stream_that_fails_after_files_were_written_commits_nothing(store: Store) -> None:
    store.replace_partitions("cost", _rows("111", "1"), PARTITION_KEYS)
    version, files = store.version("cost"), _parquet_files(store)
    written: list[int] = []

    def chunks() -> Iterator[pl.DataFrame]:
        yield _rows("111", "9")
        written.append(len(_parquet_files(store)))
        yield _rows("222", "9")
        raise RuntimeError("the source went away")

    with pytest.raises(RuntimeError, match="went away"):
        replace_keys(
            store._target("cost"),
            DeltaTable(store.uri("cost")),
            chunks(),
            PARTITION_KEYS,
            _combos(pl.concat([_rows("111", "9"), _rows("222", "9")])),
        )
    assert written == [len(files) + 1]  # a file was open on disk when the stream failed
    assert store.version("cost") == version
    assert _parquet_files(store) == files
    assert _totals(store) == {("111", "2026-10"): (3, Decimal("3"))}


def test_an_invalid_chunk_deletes_the_files_already_written(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gpuledger.store.delta.STREAM_CHUNK_ROWS", 4)
    store.replace_partitions("cost", _rows("111", "1"), PARTITION_KEYS)
    version, files = store.version("cost"), _parquet_files(store)
    bad = _rows("111", "3", rows=10).with_columns(
        pl.when(pl.int_range(pl.len()) == 9)
        .then(pl.lit("Bogus"))
        .otherwise(pl.col(Cost.ChargeCategory))
        .alias(Cost.ChargeCategory)
    )
    bad.write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(SchemaError):
        store.replace_partitions("cost", pl.scan_parquet(tmp_path / "bad.parquet"), PARTITION_KEYS)
    assert store.version("cost") == version
    assert _parquet_files(store) == files


def test_stats_let_a_reader_skip_files(store: Store) -> None:
    store.replace_partitions(
        "cost",
        pl.concat([_rows(account, "1") for account in ("111", "222", "333")]),
        PARTITION_KEYS,
    )
    delta = DeltaTable(store.uri("cost"))
    stats = [json.loads(line) for line in _log_stats(store)]
    assert {s["minValues"][Cost.BillingAccountId] for s in stats} == {"111", "222", "333"}
    assert all(s["numRecords"] == 3 and s["nullCount"][Cost.ChargeClass] == 3 for s in stats)
    dataset = delta.to_pyarrow_dataset()
    wanted = pads.field(Cost.BillingAccountId) == "222"
    assert len(list(dataset.get_fragments())) == 3
    assert len(list(dataset.get_fragments(filter=wanted))) == 1
    later = pads.field(Cost.ChargePeriodStart) > pa.scalar(datetime(2026, 10, 2, tzinfo=UTC))
    assert not list(dataset.get_fragments(filter=later))


def _log_stats(store: Store) -> list[str]:
    log = Path(store.uri("cost")) / "_delta_log"
    actions = [json.loads(line) for path in sorted(log.glob("*.json")) for line in path.open()]
    return [action["add"]["stats"] for action in actions if "add" in action]


@pytest.mark.parametrize(
    "amount",
    ["0.1", "-0.1", "12345.678901234567890123", "1"],
    ids=["tenth", "minus", "long", "one"],
)
def test_decimal_bounds_hold_every_value_though_doubles_round(tmp_path: Path, amount: str) -> None:
    frame = pl.DataFrame({"x": [Decimal(amount)]}, schema={"x": pl.Decimal(38, 18)})
    frame.write_parquet(tmp_path / "one.parquet")
    footer = pq.ParquetFile(tmp_path / "one.parquet").metadata
    stats = json.loads(delta_stats(footer, {"x": pa.decimal128(38, 18)}))
    assert Decimal(stats["minValues"]["x"]) <= Decimal(amount) <= Decimal(stats["maxValues"]["x"])


def test_a_commit_overtaken_on_other_keys_is_made_again(store: Store) -> None:
    store.replace_partitions("cost", _rows("111", "1"), PARTITION_KEYS)
    stale = DeltaTable(store.uri("cost"))
    store.replace_partitions("cost", _rows("222", "2"), PARTITION_KEYS)  # lands in between
    new = _rows("111", "5", rows=1)
    replace_keys(store._target("cost"), stale, [new], PARTITION_KEYS, _combos(new))
    assert _totals(store) == {
        ("111", "2026-10"): (1, Decimal("5")),
        ("222", "2026-10"): (3, Decimal("6")),
    }


def test_a_commit_overtaken_on_its_own_keys_fails_and_loses_nothing(store: Store) -> None:
    store.replace_partitions("cost", _rows("111", "1"), PARTITION_KEYS)
    stale = DeltaTable(store.uri("cost"))
    store.replace_partitions("cost", _rows("111", "2"), PARTITION_KEYS)  # the same key, in between
    version, files = store.version("cost"), _parquet_files(store)
    new = _rows("111", "5", rows=1)
    with pytest.raises(StoreError, match="another writer") as caught:
        replace_keys(store._target("cost"), stale, [new], PARTITION_KEYS, _combos(new))
    assert caught.value.transient
    assert store.version("cost") == version
    assert _parquet_files(store) == files
    assert _totals(store) == {("111", "2026-10"): (3, Decimal("6"))}


def test_concurrent_first_writes_of_one_key_do_not_double_it(store: Store) -> None:
    """Both writers saw an empty partition: the later one must not keep the earlier one's rows."""
    store.replace_partitions("cost", _rows("222", "2"), PARTITION_KEYS)
    stale = DeltaTable(store.uri("cost"))
    store.replace_partitions("cost", _rows("111", "1"), PARTITION_KEYS)
    new = _rows("111", "5", rows=1)
    with pytest.raises(StoreError, match="another writer"):
        replace_keys(store._target("cost"), stale, [new], PARTITION_KEYS, _combos(new))
    assert _totals(store) == {
        ("111", "2026-10"): (3, Decimal("3")),
        ("222", "2026-10"): (3, Decimal("6")),
    }


def test_a_table_of_other_columns_is_refused_before_any_file_is_written(store: Store) -> None:
    write_deltalake(store.uri("cost"), _rows("111", "1").drop(Cost.Tags).to_arrow())
    files = _parquet_files(store)
    with pytest.raises(StoreError, match="expected the cost schema"):
        store.replace_partitions("cost", _rows("111", "2"), PARTITION_KEYS)
    assert _parquet_files(store) == files
