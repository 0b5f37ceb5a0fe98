"""The sample company's telemetry writer: spool files that ingest cleanly and keep the hourly sums."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.gpu import collector as gpu
from gpuledger.config import Settings
from gpuledger.sample.company import Company, build_company
from gpuledger.sample.gpu_telemetry import BUCKETS_PER_HOUR, write_gpu_telemetry
from gpuledger.schema import Usage
from gpuledger.store.delta import Store


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company(1, 7, ["2026-09", "2026-10"])


def every_gpu_hour(company: Company) -> pl.DataFrame:
    """The cloud instances' hourly activity and the on-prem hosts', as the telemetry has them."""
    return pl.concat(
        [company.gpu_hours, company.onprem_gpu_hours.select(company.gpu_hours.columns)]
    )


@pytest.fixture(scope="module")
def written(company: Company, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_gpu_telemetry(company, tmp_path_factory.mktemp("gpu"))


def test_every_gpu_hour_becomes_twelve_buckets_with_the_same_means(
    company: Company, written: list[Path]
) -> None:
    rows = pl.concat([pl.read_parquet(p) for p in written])
    hours = every_gpu_hour(company)
    assert rows.height == hours.height * BUCKETS_PER_HOUR
    hourly = (
        rows.group_by(
            pl.col(Usage.ResourceId).alias("resource_id"),
            pl.col(Usage.gpu_index).alias("gpu_index"),
            pl.col(Usage.bucket_start).dt.truncate("1h").alias("hour_start"),
        )
        .agg(pl.col(Usage.sm_util).mean(), pl.col(Usage.power_w).mean(), pl.len().alias("n"))
        .sort("resource_id", "gpu_index", "hour_start")
    )
    expected = hours.select(
        "resource_id",
        "gpu_index",
        "hour_start",
        "sm_util",
        "power_w",
        pl.lit(12, pl.UInt32).alias("n"),
    ).sort("resource_id", "gpu_index", "hour_start")
    assert_frame_equal(hourly, expected, check_exact=False, abs_tol=1e-9)
    assert rows[Usage.sm_util].is_between(0, 100).all()
    # idle hours are idle rows: no workload, no SM activity; busy ones name their pod
    idle = rows.filter(pl.col(Usage.pod).is_null())
    busy_hours = hours["busy"].sum()
    assert idle.height == (hours.height - busy_hours) * BUCKETS_PER_HOUR
    assert idle[Usage.sm_util].max() == 0
    assert idle[Usage.pid_command].null_count() == idle.height


def test_one_file_per_host_and_month(company: Company, written: list[Path]) -> None:
    hosts = company.instances.join(
        company.gpu_hours.select("resource_id").unique(), on="resource_id"
    )
    assert len(written) == hosts.height + company.onprem_hosts.height
    assert all(
        p.name.startswith("gpu_usage-") and p.name.endswith("-2026-10.parquet") for p in written
    )


def test_same_seed_same_rows(company: Company, written: list[Path], tmp_path: Path) -> None:
    again = write_gpu_telemetry(company, tmp_path)
    for first, second in zip(sorted(written), sorted(again), strict=True):
        assert_frame_equal(pl.read_parquet(first), pl.read_parquet(second))


def test_sample_spool_ingests_whole(company: Company, written: list[Path], tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    result = gpu.ingest(store, Settings(), str(written[0].parent))
    expected = every_gpu_hour(company).height * BUCKETS_PER_HOUR
    assert (result.rows, result.quarantined) == (expected, 0)
    assert result.periods == ["2026-10"]
