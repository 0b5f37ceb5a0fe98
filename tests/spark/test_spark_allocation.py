"""The Spark engine gives the local engine's allocation: same lines, same nano-units.

Each case runs the local engine (both phases in this process) and the Spark engine (the first
phase per partition of instances on ``local[2]``, the second on the driver) on one ledger, and
compares the sorted frames.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import local_allocation
from gpuledger.engine.spark import spark_allocation
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.spark.ledgers import SAMPLE_PERIOD, bench_settings, fleet_shape, sample_company

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(pl.all(), nulls_last=True)


def assert_same_allocation(spark: pl.DataFrame, local: pl.DataFrame) -> None:
    """The same lines with the same money, to the nano-unit, and the same GPU-hours, bit for bit
    (float shares are summed in an order-free way: :mod:`gpuledger.engine.attribution.sums`)."""
    assert spark.height > 0
    assert_frame_equal(_sorted(spark), _sorted(local), check_exact=True)


def assert_conserved(
    allocation: pl.DataFrame, store: Store, settings: Settings, period: str
) -> None:
    """Allocation == cost basis per currency, to the last decimal place."""
    basis = settings.reporting.cost_basis
    invoice = (
        store.scan("cost")
        .filter(pl.col(Cost.x_BillingPeriod) == period)
        .group_by(pl.col(Cost.BillingCurrency).alias(Alloc.currency))
        .agg(pl.col(basis).fill_null(Decimal(0)).sum().alias(Alloc.cost))
        .collect()
    )
    allocated = allocation.group_by(Alloc.currency).agg(pl.col(Alloc.cost).sum())
    assert_frame_equal(allocated.sort(Alloc.currency), invoice.sort(Alloc.currency))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return sample_company(tmp_path_factory.mktemp("sample"))


def test_sample_company(spark: SparkSession, sample: Store) -> None:
    settings = bench_settings()
    local = local_allocation(sample, settings, SAMPLE_PERIOD)
    on_spark = spark_allocation(sample, settings, SAMPLE_PERIOD, spark)
    assert_same_allocation(on_spark, local)
    assert_conserved(on_spark, sample, settings, SAMPLE_PERIOD)


@pytest.mark.parametrize("shape", ["shared-30%", "mig-20%", "duplicates-1.5%"])
def test_fleet_shapes(spark: SparkSession, tmp_path: Path, shape: str) -> None:
    store, period = fleet_shape(shape, tmp_path)
    settings = bench_settings()
    local = local_allocation(store, settings, period)
    on_spark = spark_allocation(store, settings, period, spark)
    assert_same_allocation(on_spark, local)
    assert_conserved(on_spark, store, settings, period)
