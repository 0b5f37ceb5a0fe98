"""Small ledgers for the Spark tests: the sample company and fleet shapes of the engine benchmark."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bench.attribution import CONFIG
from bench.attribution_shapes import SHAPES
from bench.fleet_bill import BillKnobs, build_home, period_of
from gpuledger.cli import app
from gpuledger.config import Settings, load_settings
from gpuledger.store.delta import Store

SAMPLE_PERIOD = "2026-10"
PARTITIONS = 3  # more than the two cores, fewer than the instances: several per partition


def bench_settings() -> Settings:
    """The bundled configuration the benchmarks use (teams, four shared pools), 3 partitions."""
    settings = load_settings(CONFIG)
    engine = settings.engine.model_copy(update={"spark_partitions": PARTITIONS})
    return settings.model_copy(update={"engine": engine})


def sample_company(root: Path) -> Store:
    """The sample company at its smallest scale, generated and ingested by the real collectors."""
    exports, home = root / "exports", str(root / "home")
    commands = [
        ["sample-data", "--out", str(exports), "--scale", "0.02", "--period", SAMPLE_PERIOD],
        ["--home", home, "ingest", "aws", str(exports / "aws")],
        ["--home", home, "ingest", "gcp", str(exports / "gcp")],
        ["--home", home, "ingest", "focus", str(exports / "azure")],
        ["--home", home, "ingest", "gpu", str(exports / "gpu")],
    ]
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    return Store(home)


def fleet_shape(name: str, root: Path, instances: int = 12, days: int = 2) -> tuple[Store, str]:
    """A benchmark fleet shape (shared GPUs, MIG, duplicate rows, gaps) at a test's size."""
    knobs = SHAPES[name].knobs(instances, days)
    return Store(build_home(knobs, BillKnobs(), root / "home")), period_of(knobs)
