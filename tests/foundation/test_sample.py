"""Sample data: deterministic for a seed, and every file readable by its format's own reader."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from gpuledger.sample import sample_months, write_sample
from gpuledger.sample.company import build_company


def test_company_is_deterministic_for_a_seed() -> None:
    first, again, other = build_company(1, 7), build_company(1, 7), build_company(1, 8)
    assert_frame_equal(first.gpu_hours, again.gpu_hours)
    assert_frame_equal(first.other_charges, again.other_charges)
    assert not first.gpu_hours.equals(other.gpu_hours)


def test_company_shapes_every_kind_of_finding() -> None:
    company = build_company(1, 7)
    instances = company.instances
    assert set(instances["provider"]) == {"AWS", "GCP", "Microsoft"}
    assert set(instances["pricing"]) == {"on_demand", "spot", "savings_plan", "reserved", "cud"}
    assert instances["team_tag"].null_count() >= 1, "some spend must be untagged"
    idle_share = 1 - company.gpu_hours["busy"].mean()  # type: ignore[operator]
    assert 0.05 < idle_share < 0.5
    telemetry = set(company.gpu_hours["resource_id"])
    assert telemetry < set(instances["resource_id"]), "some GPU instances lack telemetry"


def test_scale_grows_the_fleet_linearly() -> None:
    small, large = build_company(1, 7), build_company(3, 7)
    assert large.instances.height == small.instances.height + 2 * 16


@pytest.mark.parametrize(
    ("period", "months"),
    [("2026-10", ["2026-09", "2026-10"]), ("2026-01", ["2025-12", "2026-01"])],
    ids=["same-year", "year-boundary"],
)
def test_sample_months(period: str, months: list[str]) -> None:
    assert sample_months(period) == months


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8")  # type: ignore[arg-type]
    return path.open(encoding="utf-8")  # type: ignore[return-value]


@pytest.mark.slow
def test_sample_files_are_deterministic_and_parse(tmp_path: Path) -> None:
    first = write_sample(tmp_path / "a", scale=1, seed=3)
    write_sample(tmp_path / "b", scale=1, seed=3)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    files = [path for paths in first.values() for path in paths]
    assert {p.suffixes[0] if p.suffixes else p.suffix for p in files} >= {".parquet"}
    for path in files:
        name = path.name
        if name.endswith(".parquet"):
            assert pq.read_table(path).num_rows > 0, name
        elif name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz")):
            with _open_text(path) as handle:
                first_line = handle.readline()
            if name.endswith("Manifest.json"):
                json.loads(path.read_text())
            elif name.startswith("sacct-"):  # `sacct --json`: one document
                assert json.loads(path.read_text())["jobs"], name
            else:
                assert isinstance(json.loads(first_line), dict), name
        elif name.endswith((".csv", ".csv.gz")):
            with _open_text(path) as handle:
                header = next(csv.reader(handle))
            assert len(header) > 5, name


def test_committed_sample_matches_the_generator(tmp_path: Path) -> None:
    """`sample_data/` is exactly what `gpuledger sample-data --scale 1 --seed 7` writes."""
    committed = Path(__file__).resolve().parents[2] / "sample_data"
    write_sample(tmp_path, scale=1, seed=7)
    expected = _digest(tmp_path)
    actual = {k: v for k, v in _digest(committed).items() if k in expected}
    assert actual == expected
    assert pl.read_parquet(next((tmp_path / "gpu").rglob("*.parquet"))).height > 0
