"""Where the Spark engine runs: the environment's SparkSession (Databricks, EMR), else one we build."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from gpuledger.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MISSING_PYSPARK = (
    "the Spark engine needs pyspark, which is not installed: install gpuledger with the 'spark'"
    " extra (pip install 'gpuledger[spark]'), or run attribution with --engine local"
)


def spark_session(master: str) -> SparkSession:
    """The active SparkSession when the environment has one, else a new one on ``master``.

    A session we build computes in UTC (the store's time zone), runs its Python workers on this
    interpreter, so they import the same gpuledger and Polars as the driver, and leaves the
    terminal to the command (no web UI, no stage progress bars).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as missing:
        raise ConfigError(MISSING_PYSPARK) from missing
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("gpuledger attribute")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
