"""One SparkSession for the Spark tests: ``local[2]``, UTC, few shuffle partitions (small data)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from gpuledger.engine.spark import spark_session

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """A local Spark with two cores; the tests that use it start a JVM (marked slow)."""
    if shutil.which("java") is None:
        pytest.skip("the Spark tests need Java 17 (.ci/run installs it)")
    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
