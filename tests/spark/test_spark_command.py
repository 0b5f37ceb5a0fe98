"""`gpuledger attribute --engine spark`: the allocation written, its inputs recorded, as locally."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import CliRunner

from gpuledger.commands import attribute as attribute_command
from gpuledger.commands.context import Context
from gpuledger.engine.chargeback.freshness import allocation_staleness, input_versions
from gpuledger.engine.spark import MISSING_PYSPARK, spark_session
from gpuledger.errors import ConfigError
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.spark.ledgers import fleet_shape

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def attribute_app(config: Path | None) -> typer.Typer:
    """A one-command app: the lead wires the same call into ``gpuledger attribute``."""
    app = typer.Typer()

    @app.command()
    def attribute(home: str, period: str, engine: str | None = None) -> None:
        attribute_command.run(Context(home=home, config=config), period=period, engine=engine)

    return app


@pytest.mark.slow
def test_spark_engine_writes_the_local_allocation(spark: SparkSession, tmp_path: Path) -> None:
    store, period = fleet_shape("mig-20%", tmp_path)
    app = attribute_app(None)
    runner = CliRunner()
    local = runner.invoke(app, [store.home, period, "--engine", "local"])
    assert local.exit_code == 0, local.output
    written_locally = store.read("allocation")
    on_spark = runner.invoke(app, [store.home, period, "--engine", "spark"])
    assert on_spark.exit_code == 0, on_spark.output
    assert "conservation: allocation == cost basis in every currency" in on_spark.output
    assert "spark engine" in on_spark.output
    written = Store(store.home).read("allocation")
    assert written.height == written_locally.height
    assert written.get_column(Alloc.cost).sum() == written_locally.get_column(Alloc.cost).sum()
    reopened = Store(store.home)
    with reopened.state.connect() as db:
        row = db.execute("SELECT * FROM allocation_inputs WHERE period=?", (period,)).fetchone()
    assert row["allocation_version"] == reopened.version("allocation")
    assert json.loads(row["input_versions"]) == input_versions(reopened)
    assert allocation_staleness(reopened, period) is None


def test_missing_pyspark_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ConfigError, match=r"'spark' extra") as raised:
        spark_session("local[1]")
    assert str(raised.value) == MISSING_PYSPARK
