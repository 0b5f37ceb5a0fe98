"""`ingest gpu` from files: idempotence, bucket replacement, partial files, quarantine, bad files."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gpuledger.agent.spool import Spool, shipped_marker
from gpuledger.collect.gpu import collector as gpu
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import GPU_USAGE_SCHEMA, Quarantine, Usage
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

T0 = datetime(2026, 10, 1, tzinfo=UTC)
GPU_FIXTURES = FIXTURES / "gpu"


def usage(*rows: dict[str, object]) -> pl.DataFrame:
    """Agent-shaped rows with defaults: one idle 60-s bucket of GPU-1 on host h."""
    defaults: dict[str, object] = {
        Usage.bucket_start: T0,
        Usage.bucket_seconds: 60,
        Usage.host: "h",
        Usage.ResourceId: "i-1",
        Usage.gpu_uuid: "GPU-1",
        Usage.gpu_index: 0,
        Usage.active_seconds: 60.0,
        Usage.sm_util: 0.0,
        Usage.mem_used_bytes: 0,
        Usage.mem_total_bytes: 80 * 2**30,
        Usage.power_w: 70.0,
        Usage.samples: 60,
        Usage.util_method: "device",
        Usage.source: "agent",
        Usage.x_BillingPeriod: "2026-10",
    }
    return pl.DataFrame([defaults | row for row in rows], schema=GPU_USAGE_SCHEMA)


def spool(folder: Path, name: str, frame: pl.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gpu_usage-h-{name}.parquet"
    frame.write_parquet(path)
    return path


def stored(store: Store) -> pl.DataFrame:
    return store.read("gpu_usage").sort(
        Usage.bucket_start, Usage.gpu_uuid, Usage.pod, nulls_last=True
    )


def test_same_spool_twice_stores_one_copy(store: Store, settings: Settings, tmp_path: Path) -> None:
    frame = usage(
        {}, {Usage.bucket_start: T0 + timedelta(minutes=1), Usage.pod: "p", Usage.sm_util: 50.0}
    )
    spool(tmp_path / "spool", "a", frame)
    first = gpu.ingest(store, settings, str(tmp_path / "spool"))
    once = stored(store)
    gpu.ingest(store, settings, str(tmp_path / "spool"))
    assert first.rows == 2
    assert_frame_equal(stored(store), once)
    assert_frame_equal(
        once, frame.sort(Usage.bucket_start, Usage.gpu_uuid, Usage.pod, nulls_last=True)
    )


def test_a_later_delivery_replaces_its_buckets_only(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    early = usage({}, {Usage.bucket_start: T0 + timedelta(minutes=1)})
    gpu.ingest(store, settings, str(spool(tmp_path / "one", "early", early)))
    # the bucket at T0 arrives again: the GPU was busy with two pods, not idle
    later = usage({Usage.pod: "a", Usage.sm_util: 30.0}, {Usage.pod: "b", Usage.sm_util: 20.0})
    gpu.ingest(store, settings, str(spool(tmp_path / "two", "later", later)))
    got = stored(store)
    assert got.select(Usage.bucket_start, Usage.pod).rows() == [
        (T0, "a"),
        (T0, "b"),
        (T0 + timedelta(minutes=1), None),
    ]


def test_shutdown_file_and_successor_combine(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    first = usage(
        {
            Usage.pod: "p",
            Usage.active_seconds: 20.0,
            Usage.samples: 20,
            Usage.sm_util: 90.0,
            Usage.mem_used_bytes: 5,
            Usage.power_w: 300.0,
        }
    )
    rest = usage(
        {
            Usage.pod: "p",
            Usage.active_seconds: 40.0,
            Usage.samples: 40,
            Usage.sm_util: 30.0,
            Usage.mem_used_bytes: 7,
            Usage.power_w: 150.0,
            Usage.util_method: "memory_share",
        }
    )
    spool(tmp_path / "s", "20261001T000000Z-60s-partial1", first)
    spool(tmp_path / "s", "20261001T000000Z-60s", rest)
    gpu.ingest(store, settings, str(tmp_path / "s"))
    expected = usage(
        {
            Usage.pod: "p",
            Usage.active_seconds: 60.0,
            Usage.samples: 60,
            Usage.sm_util: (20 * 90 + 40 * 30) / 60,
            Usage.mem_used_bytes: 7,
            Usage.power_w: (20 * 300 + 40 * 150) / 60,
            Usage.util_method: "memory_share",
        }
    )
    assert_frame_equal(stored(store), expected)


def test_csv_rows_that_cannot_be_true_go_to_quarantine(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    src = tmp_path / "telemetry.csv"
    shutil.copy(GPU_FIXTURES / "telemetry_with_bad_rows.csv", src)
    result = gpu.ingest(store, settings, str(src))
    assert (result.rows, result.quarantined) == (3, 5)
    got = stored(store)
    assert got[Usage.bucket_start].to_list() == [
        T0,
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=30),
    ]
    assert got[Usage.source].unique().to_list() == ["file"]
    assert got.row(2, named=True)[Usage.pod] is None  # the idle bucket: null workload
    refused = store.read("quarantine").sort(Quarantine.row)
    assert refused.select(Quarantine.file, Quarantine.row, Quarantine.reason).rows() == [
        (str(src), 3, "sm_util outside 0-100"),
        (
            str(src),
            4,
            "column 'bucket_start': not a timestamp (ISO 8601, UTC unless an offset is given)",
        ),
        (str(src), 5, "column 'gpu_index': not a whole number"),
        (str(src), 6, "active_seconds exceeds bucket_seconds"),
        (str(src), 8, "host is empty"),
    ]
    assert '"bucket_start": "yesterday"' in refused[Quarantine.raw][1]
    # fixed and delivered again: its quarantine rows go, the good rows stay one copy
    pl.read_csv(src, infer_schema=False).head(2).write_csv(src)
    gpu.ingest(store, settings, str(src))
    assert store.read("quarantine").filter(pl.col(Quarantine.file) == str(src)).is_empty()
    assert stored(store).height == 3


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("telemetry_unknown_column.csv", "unknown column(s) gpu_temp_c"),
        ("missing.csv", "no such file or folder"),
    ],
    ids=["unknown-column", "missing-file"],
)
def test_unsound_file_is_refused_whole(
    store: Store, settings: Settings, tmp_path: Path, name: str, message: str
) -> None:
    gpu.ingest(store, settings, str(spool(tmp_path / "ok", "x", usage({}))))
    before = store.version("gpu_usage")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        gpu.ingest(store, settings, str(GPU_FIXTURES / name))
    assert name in str(caught.value)
    assert store.version("gpu_usage") == before
    assert store.state.ingest_runs(1)[0].status == "failed"


def test_start_end_only_for_prometheus(store: Store, settings: Settings) -> None:
    with pytest.raises(InputError, match="prometheus"):
        gpu.ingest(store, settings, str(GPU_FIXTURES), start="2026-10-01")


def test_agent_spool_files_are_marked_shipped(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    Spool(tmp_path / "s", max_bytes=2**20)  # what the agent does to its folder
    path = spool(tmp_path / "s", "20261001T000000Z-60s", usage({}))
    result = gpu.ingest(store, settings, str(tmp_path / "s"))
    assert result.shipped == [str(path)]
    assert shipped_marker(path).exists()
    assert "stored 1 gpu_usage rows (1 GPUs on 1 host(s), 1 buckets, 2026-10) from 1 file(s)" in (
        result.summary()
    )


def test_other_folders_are_left_untouched(store: Store, settings: Settings, tmp_path: Path) -> None:
    spool(tmp_path / "copy", "20261001T000000Z-60s", usage({}))
    assert gpu.ingest(store, settings, str(tmp_path / "copy")).shipped == []
    assert [p.name for p in (tmp_path / "copy").iterdir()] == [
        "gpu_usage-h-20261001T000000Z-60s.parquet"
    ]


@hypothesis_settings(deadline=None)  # no timed assertion: a busy machine runs an example slowly
@given(
    cut=st.integers(1, 59),
    sm=st.tuples(st.floats(0, 100), st.floats(0, 100)),
    power=st.tuples(st.floats(50, 700), st.floats(50, 700)),
)
def test_combining_split_rows_keeps_time_and_weighted_means(
    cut: int, sm: tuple[float, float], power: tuple[float, float]
) -> None:
    parts = usage(
        {
            Usage.active_seconds: float(cut),
            Usage.samples: cut,
            Usage.sm_util: sm[0],
            Usage.power_w: power[0],
        },
        {
            Usage.active_seconds: float(60 - cut),
            Usage.samples: 60 - cut,
            Usage.sm_util: sm[1],
            Usage.power_w: power[1],
        },
    )
    (row,) = gpu.combine_duplicates(parts).iter_rows(named=True)
    assert (row[Usage.active_seconds], row[Usage.samples]) == (60.0, 60)
    assert row[Usage.sm_util] == pytest.approx((cut * sm[0] + (60 - cut) * sm[1]) / 60)
    assert row[Usage.power_w] == pytest.approx((cut * power[0] + (60 - cut) * power[1]) / 60)
