"""How many instance partitions the Spark engine makes, by setting, cluster or Spark Connect."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from gpuledger.config import EngineConfig, Settings
from gpuledger.engine.spark.inputs import partition_count


class ConnectSession:
    """A Spark Connect session: no SparkContext, its settings through ``conf``."""

    conf = SimpleNamespace(get=lambda key: "7" if key == "spark.sql.shuffle.partitions" else None)

    @property
    def sparkContext(self) -> Any:
        raise NotImplementedError("[JVM_ATTRIBUTE_NOT_SUPPORTED] sparkContext")


CLUSTER = SimpleNamespace(sparkContext=SimpleNamespace(defaultParallelism=48))


@pytest.mark.parametrize(
    ("session", "configured", "expected"),
    [(CLUSTER, 5, 5), (CLUSTER, None, 48), (ConnectSession(), None, 7)],
    ids=["setting", "cluster-cores", "spark-connect"],
)
def test_partition_count(session: Any, configured: int | None, expected: int) -> None:
    settings = Settings(engine=EngineConfig(spark_partitions=configured))
    assert partition_count(session, settings) == expected
