"""Fuzzed billing exports through the command line: no silent loss, no doubling, no half write.

Small real-format exports (the sample company's AWS CUR 2.0, GCP export and Azure FOCUS run, cut
to a few dozen rows) are mutated the way broken deliveries and hostile tags break them:
truncation at a random byte, duplicated rows, NaN / infinity / 1e308 in a money or quantity
column, a row of another billing period, control characters, formula text and markdown in a
label. Each mutated export is ingested with ``gpuledger ingest`` into a home that already holds
the original, and one of two things must hold:

* exit 0, and the stored line items plus the quarantined ones of that run add up to the file's
  own total, to the cent (a value that is no amount counts as none);
* exit 2 with one line naming the file, and the store unchanged: the same table versions, the
  same bytes in every table file, the same billing-period state.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.errors import GpuledgerError
from gpuledger.sample import write_sample
from gpuledger.schema import QUARANTINE_SCHEMA, Cost, Quarantine
from gpuledger.store.delta import Store

ROWS = 40  # rows kept of each sample export: small enough for many examples
EXAMPLES = 30
LIMIT = Decimal("1e20")  # amounts at or beyond this are no bill (Decimal(38, 18))
HOSTILE = (
    "=cmd|' /C calc'!A0",
    "+SUM(A1:A9)",
    "-2+3",
    "@SUM(1)",
    "![pixel](http://evil.example/t.png) [Open invoice](http://evil.example/phish)",
    "\x1b[31mred\x1b[0m",
    "bell\x07tab\tcr\rline\nbreak",
    'quote " and, comma',
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'b",
    "ünïcødé ✓ 𝄞",
)
BAD_NUMBERS = ("NaN", "nan", "inf", "-Infinity", "1e308", "-1e308")


# --- outcome of one CLI run, and the store's state ------------------------------------------


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    message: str


def ingest(home: Path, source: str, src: Path) -> Outcome:
    """``gpuledger --home HOME ingest SOURCE SRC``; errors mapped as the console entry point maps
    them (``error: message`` and the error's exit code)."""
    result = CliRunner().invoke(app, ["--home", str(home), "ingest", source, str(src)])
    if isinstance(result.exception, GpuledgerError):
        return Outcome(result.exception.exit_code, str(result.exception))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.output)


def snapshot(home: Path) -> tuple[Any, ...]:
    """Table versions, a SHA-256 of every table file, and the billing-period state."""
    store = Store(home)
    files = {
        str(path.relative_to(home)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file() and not path.name.startswith("state")
    }
    return store.versions(), files, store.state.billing_periods()


def last_run(home: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cost rows, quarantine rows) the last ingest wrote."""
    store = Store(home)
    run = store.state.ingest_runs(1)[0].id
    cost = store.read("cost").filter(pl.col(Cost.x_IngestId) == run)
    if not store.exists("quarantine"):
        return cost, pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return cost, store.read("quarantine").filter(pl.col(Quarantine.x_IngestId) == run)


def amount(text: object) -> Decimal:
    """A cell as the file states it, or 0 where it states no amount (blank, NaN, 1e308…)."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return Decimal(0)
    return value if value.is_finite() and abs(value) < LIMIT else Decimal(0)


def is_amount_or_blank(value: object) -> bool:
    """A money or quantity cell that can be stored: blank, or a finite number below the limit."""
    if value is None or str(value).strip() in ("", "None", "null", "NULL"):
        return True
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return True  # not a number at all: other checks refuse it
    return number.is_finite() and abs(number) < LIMIT


@dataclass(frozen=True)
class Export:
    """One mutated export as the test reads it back, row by row, independently of gpuledger."""

    file: Path
    rows: list[dict[str, Any]]  # the file's data rows, in file order
    shape: Shape
    cut_short: bool  # the content ends inside a row
    period: str | None  # the billing period its delivery states, if any

    def total(self) -> Decimal:
        return sum((amount(cell(row, self.shape.money[0])) for row in self.rows), Decimal(0))


def cell(row: dict[str, Any], column: str) -> Any:
    """A cell of a row; ``a.b`` is field ``b`` of record ``a``."""
    if "." in column:
        record, field = column.split(".", 1)
        return (row.get(record) or {}).get(field)
    return row.get(column)


def check_invariant(home: Path, source: str, src: Path, export: Export) -> None:
    """Exit 0 with every row of the file stored once or quarantined, nothing doubled, no
    non-finite amount stored, no month other than the delivery's, and the file's total kept to
    the cent; or exit 2, one line naming the file, and the store as it was."""
    before = snapshot(home)
    outcome = ingest(home, source, src)
    if outcome.exit_code != 0:
        assert outcome.exit_code == 2, outcome
        assert "\n" not in outcome.message.strip(), outcome.message
        assert str(export.file) in outcome.message, outcome.message
        assert snapshot(home) == before
        return
    assert not export.cut_short, "a file that ends inside a row was stored"
    cost, quarantine = last_run(home)
    lines = cost.filter(pl.col(Cost.ChargeCategory) != "Credit") if source == "gcp" else cost
    stored_rows = lines.get_column(Cost.x_SourceRow).to_list()
    assert len(stored_rows) + quarantine.height == len(export.rows)
    stored = [export.rows[number - 1] for number in stored_rows]
    assert len({json.dumps(row, sort_keys=True) for row in stored}) == len(stored), "doubled"
    for row in stored:
        assert all(is_amount_or_blank(cell(row, name)) for name in export.shape.money), row
    if export.period is not None:
        assert set(cost.get_column(Cost.x_BillingPeriod)) <= {export.period}
    kept = sum(lines.get_column(Cost.BilledCost).to_list(), Decimal(0))
    refused = sum(quarantine.get_column(Quarantine.cost).drop_nulls().to_list(), Decimal(0))
    assert kept + refused == export.total()


# --- small exports cut from the sample company ---------------------------------------------


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(out, scale=1, seed=7, period="2026-10")
    return out


def aws_csv_rows(sample: Path) -> list[dict[str, str]]:
    """The first rows of the sample's October CUR 2.0 as CSV text cells (tags as JSON)."""
    data = sample / "aws" / "cur2" / "acme-gpu-cur2" / "data" / "BILLING_PERIOD=2026-10"
    frame = pl.read_parquet(next(data.glob("*.parquet"))).head(ROWS)
    maps = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Map)]
    frame = frame.with_columns(
        pl.col(name)
        .map.entries()
        .map_elements(lambda pairs: json.dumps({p["key"]: p["value"] for p in pairs}), pl.String)
        for name in maps
    ).with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return [
        {k: "" if v is None else str(v) for k, v in row.items()}
        for row in frame.cast(pl.String).iter_rows(named=True)
    ]


def gcp_rows(sample: Path) -> list[dict[str, Any]]:
    path = next((sample / "gcp").glob("*-202610-*.json.gz"))
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    return [json.loads(line) for line in lines[:ROWS]]


def focus_rows(sample: Path) -> list[dict[str, str]]:
    path = next((sample / "azure").glob("*/20261001-20261031/*/part_0_0001.csv"))
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))[:ROWS]


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def read_csv_rows(data: bytes) -> list[dict[str, Any]]:
    text = data.decode("utf-8", errors="replace")
    return [dict(row) for row in csv.DictReader(io.StringIO(text, newline=""))]


def read_ndjson_rows(data: bytes) -> list[dict[str, Any]]:
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# --- mutations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Where a source keeps what the mutations touch."""

    money: tuple[str, ...]
    labels: tuple[str, ...]
    period: Callable[[dict[str, Any]], None]  # moves a row to the next billing period


def _aws_next_period(row: dict[str, Any]) -> None:
    row["bill_billing_period_start_date"] = "2026-11-01T00:00:00Z"
    row["bill_billing_period_end_date"] = "2026-12-01T00:00:00Z"


def _focus_next_period(row: dict[str, Any]) -> None:
    row["BillingPeriodStart"] = "2026-11-01T00:00:00Z"
    row["BillingPeriodEnd"] = "2026-12-01T00:00:00Z"


def _gcp_next_period(row: dict[str, Any]) -> None:
    row["invoice"] = {"month": "202611"}


AWS = Shape(
    money=(
        "line_item_unblended_cost",
        "pricing_public_on_demand_cost",
        "reservation_effective_cost",
        "line_item_usage_amount",
    ),
    labels=(
        "line_item_resource_id",
        "line_item_line_item_description",
        "line_item_usage_account_name",
        "resource_tags",
    ),
    period=_aws_next_period,
)
FOCUS = Shape(
    money=("BilledCost", "EffectiveCost", "ListCost", "PricingQuantity"),
    labels=("ResourceName", "SubAccountName", "ChargeDescription", "Tags"),
    period=_focus_next_period,
)
GCP = Shape(
    money=("cost", "cost_at_list", "usage.amount"),
    labels=("labels", "project.name", "resource.name", "sku.description"),
    period=_gcp_next_period,
)


def _set(row: dict[str, Any], column: str, value: Any) -> None:
    """Set a cell; ``a.b`` is a field of a record; a tag column gets ``value`` as a tag value."""
    if column in ("resource_tags", "Tags"):
        row[column] = json.dumps({"team": value})
    elif column == "labels":
        row[column] = [{"key": "team", "value": value}]
    elif "." in column:
        record, field = column.split(".", 1)
        row[record] = {**(row.get(record) or {}), field: value}
    else:
        row[column] = value


mutation = st.one_of(
    st.tuples(st.just("duplicate"), st.integers(0, ROWS - 1), st.integers(1, 3)),
    st.tuples(st.just("number"), st.integers(0, ROWS - 1), st.integers(0, 3), st.sampled_from(BAD_NUMBERS)),
    st.tuples(st.just("period"), st.integers(0, ROWS - 1)),
    st.tuples(st.just("label"), st.integers(0, ROWS - 1), st.integers(0, 3), st.sampled_from(HOSTILE)),
)  # fmt: skip
mutations = st.lists(mutation, min_size=1, max_size=3)
truncation = st.one_of(st.none(), st.floats(0.05, 0.999))


def mutate(rows: list[dict[str, Any]], shape: Shape, changes: list[tuple[Any, ...]]) -> list[Any]:
    """A copy of ``rows`` with each change applied, in order."""
    rows = json.loads(json.dumps(rows))
    for change in changes:
        kind, at = change[0], change[1]
        if kind == "duplicate":
            rows[at + 1 : at + 1] = [json.loads(json.dumps(rows[at])) for _ in range(change[2])]
        elif kind == "number":
            # JSON exports carry numbers (``NaN`` and ``Infinity`` as Python writes them).
            value = float(change[3]) if shape is GCP else change[3]
            _set(rows[at], shape.money[change[2] % len(shape.money)], value)
        elif kind == "period":
            shape.period(rows[at])
        else:
            _set(rows[at], shape.labels[change[2] % len(shape.labels)], change[3])
    return rows


def cut(data: bytes, fraction: float | None) -> bytes:
    return data if fraction is None else data[: max(1, int(len(data) * fraction))]


# --- the properties ------------------------------------------------------------------------

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fresh_home(tmp_path: Path, source: str, original: Path) -> Path:
    """A home holding the original export, made once per test and copied per example."""
    template = tmp_path / "template"
    if not template.exists():
        assert ingest(template, source, original).exit_code == 0
    home = tmp_path / "home"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home)
    return home


@FUZZ
@given(changes=mutations, fraction=truncation)
def test_fuzzed_cur(sample: Path, tmp_path: Path, changes: list[Any], fraction: float) -> None:
    rows = aws_csv_rows(sample)
    original = write_cur_delivery(tmp_path / "original", csv_bytes(rows))
    home = fresh_home(tmp_path, "aws", original)
    data = cut(csv_bytes(mutate(rows, AWS, changes)), fraction)
    src = write_cur_delivery(tmp_path / "mutated", data)
    file = next(src.rglob("*.csv"))
    export = Export(file, read_csv_rows(data), AWS, not data.endswith(b"\n"), "2026-10")
    check_invariant(home, "aws", src, export)


def write_cur_delivery(root: Path, data: bytes) -> Path:
    """A Data Exports delivery of one CSV file for October 2026, with its manifest."""
    shutil.rmtree(root, ignore_errors=True)
    folder = root / "cur" / "data" / "BILLING_PERIOD=2026-10"
    folder.mkdir(parents=True)
    (folder / "cur-00001.csv").write_bytes(data)
    manifest = root / "cur" / "metadata" / "BILLING_PERIOD=2026-10" / "cur-Manifest.json"
    manifest.parent.mkdir(parents=True)
    key = "s3://bucket/cur/data/BILLING_PERIOD=2026-10/cur-00001.csv"
    manifest.write_text(json.dumps({"executionId": "e1", "dataFiles": [key]}))
    return root


@FUZZ
@given(changes=mutations, fraction=truncation, with_manifest=st.booleans())
def test_fuzzed_focus(
    sample: Path, tmp_path: Path, changes: list[Any], fraction: float, with_manifest: bool
) -> None:
    rows = focus_rows(sample)
    original = write_focus_run(tmp_path / "original", csv_bytes(rows), len(rows))
    home = fresh_home(tmp_path, "focus", original)
    data = cut(csv_bytes(mutate(rows, FOCUS, changes)), fraction)
    src = write_focus_run(tmp_path / "mutated", data, len(rows) if with_manifest else None)
    file = next(src.rglob("*.csv"))
    period = "2026-10" if with_manifest else None
    export = Export(file, read_csv_rows(data), FOCUS, not data.endswith(b"\n"), period)
    check_invariant(home, "focus", src, export)


def write_focus_run(root: Path, data: bytes, rows: int | None) -> Path:
    """An Azure-style export run of October 2026: one CSV and, given ``rows``, its manifest."""
    shutil.rmtree(root, ignore_errors=True)
    folder = root / "acme-focus-cost" / "20261001-20261031" / "run-1"
    folder.mkdir(parents=True)
    (folder / "part_0_0001.csv").write_bytes(data)
    if rows is not None:
        manifest = {
            "runInfo": {
                "runId": "run-1",
                "startDate": "2026-10-01T00:00:00Z",
                "endDate": "2026-11-01T00:00:00Z",
            },
            "blobs": [{"blobName": "part_0_0001.csv", "dataRowCount": rows}],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return root


@FUZZ
@given(changes=mutations, fraction=truncation, compressed=st.booleans())
def test_fuzzed_gcp(
    sample: Path, tmp_path: Path, changes: list[Any], fraction: float, compressed: bool
) -> None:
    rows = gcp_rows(sample)
    original = write_gcp_file(tmp_path / "original", ndjson(rows), compressed=False)
    home = fresh_home(tmp_path, "gcp", original)
    data = cut(ndjson(mutate(rows, GCP, changes)), fraction)
    src = write_gcp_file(tmp_path / "mutated", data, compressed=compressed)
    file = next(src.iterdir())
    check_invariant(home, "gcp", src, Export(file, parsed_ndjson(data), GCP, False, None))


def parsed_ndjson(data: bytes) -> list[dict[str, Any]]:
    """The rows of newline-delimited JSON; none when a line is broken (the ingest refuses it)."""
    try:
        return read_ndjson_rows(data)
    except ValueError:
        return []


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def write_gcp_file(root: Path, data: bytes, *, compressed: bool) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    name = "export-202610.json.gz" if compressed else "export-202610.json"
    (root / name).write_bytes(gzip.compress(data) if compressed else data)
    return root
