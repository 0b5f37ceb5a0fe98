"""Billing timestamps: every ISO 8601 / RFC 3339 spelling real exports and their tools write.

One parser (:func:`gpuledger.collect.values.utc_time`) serves the AWS, FOCUS and GCP collectors;
a text that fits no accepted form is refused with the forms named.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.read import read_file
from gpuledger.collect.files import SourceFile
from gpuledger.collect.focus.collector import read_focus_file
from gpuledger.collect.values import TIME_FORMS, utc_time
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, legacy_csv
from tests.collect.focus_rows import write_focus_csv
from tests.conftest import FIXTURES

NISE = FIXTURES / "aws" / "nise-legacy-cur"

MIDNIGHT = datetime(2026, 10, 1, tzinfo=UTC)
FORMS = {
    "2026-10-01T00:00:00Z": MIDNIGHT,
    "2026-10-01T00:00:00.000Z": MIDNIGHT,
    "2026-10-01T00:00:00.123456789Z": datetime(2026, 10, 1, 0, 0, 0, 123456, tzinfo=UTC),
    "2026-10-01T00:00Z": MIDNIGHT,
    "2026-10-01T00:00:00+00:00": MIDNIGHT,
    "2026-10-01 00:00:00+00:00": MIDNIGHT,  # koku-nise, Python's str(datetime)
    "2026-10-01T02:00:00+02:00": MIDNIGHT,
    "2026-10-01T02:00:00+0200": MIDNIGHT,
    "2026-09-30T19:00:00-05": MIDNIGHT,
    "2026-10-01T05:30+05:30": MIDNIGHT,
    "2026-10-01 00:00:00": MIDNIGHT,  # no zone: UTC
    "2026-10-01T00:00:00": MIDNIGHT,
    "2026-10-01 00:00": MIDNIGHT,
    "2026-10-01 00:00:00.5": datetime(2026, 10, 1, 0, 0, 0, 500000, tzinfo=UTC),
    "2026-10-01 00:00:00 UTC": MIDNIGHT,  # bq extract
    "2026-10-01 00:00:00 +0000": MIDNIGHT,
    "2026-10-01t00:00:00z": MIDNIGHT,  # RFC 3339 allows lower case
    "2026-10-01": MIDNIGHT,  # a date column
    " 2026-10-01T00:00:00Z ": MIDNIGHT,
}
NOT_TIMESTAMPS = [
    "2026-10-01T30:00:00Z",
    "2026-02-30",
    "01/10/2026 00:00",
    "2026-10-01T00",
    "2026-10-01T00:00:00+2",
    "n/a",
]


def _parsed(values: list[str | None]) -> list[datetime | None]:
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
    return frame.select(utc_time("t", pl.String())).get_column("t").to_list()


@pytest.mark.parametrize(("text", "expected"), FORMS.items(), ids=list(FORMS))
def test_every_accepted_form_parses_to_utc(text: str, expected: datetime) -> None:
    assert _parsed([text]) == [expected]


@pytest.mark.parametrize("text", NOT_TIMESTAMPS)
def test_text_that_fits_no_form_is_null(text: str) -> None:
    assert _parsed([text, None, ""]) == [None, None, None]


def _legacy_cur_with_start(path: Path, *starts: str) -> Path:
    """A legacy CUR CSV whose ``lineItem/UsageStartDate`` cells are ``starts``."""
    legacy_csv(cur2_rows(*({} for _ in starts)), path.with_suffix(".csv.gz"))
    table = pl.read_csv(path.with_suffix(".csv.gz"), infer_schema=False).with_columns(
        pl.Series("lineItem/UsageStartDate", starts),
        pl.lit("2026-10-01T01:00:00Z").alias("lineItem/UsageEndDate"),
    )
    table.write_csv(path)
    return path


@pytest.mark.parametrize(("text", "expected"), FORMS.items(), ids=list(FORMS))
def test_aws_collector_accepts_every_form(tmp_path: Path, text: str, expected: datetime) -> None:
    path = _legacy_cur_with_start(tmp_path / "cur.csv", text)

    rows, refused, _ = read_file(SourceFile(str(path), 0))

    assert refused.is_empty()
    assert rows.get_column(Cost.ChargePeriodStart).to_list() == [expected]


@pytest.mark.parametrize(("text", "expected"), FORMS.items(), ids=list(FORMS))
def test_focus_collector_accepts_every_form(tmp_path: Path, text: str, expected: datetime) -> None:
    cells = {"ChargePeriodStart": text, "ChargePeriodEnd": "2026-10-02T00:00:00Z"}
    path = write_focus_csv(tmp_path / "f.csv", cells)

    rows, refused = read_focus_file(SourceFile(str(path), 0))

    assert refused.is_empty()
    assert rows.get_column(Cost.ChargePeriodStart).to_list() == [expected]


def test_a_column_of_unreadable_times_names_file_row_value_and_forms(tmp_path: Path) -> None:
    path = _legacy_cur_with_start(tmp_path / "cur.csv", "01/10/2026 00:00", "02/10/2026 00:00")

    with pytest.raises(InputError) as raised:
        read_file(SourceFile(str(path), 0))

    assert str(raised.value) == (
        f"{path}, row 1, column 'line_item_usage_start_date': no value of the column could be "
        f"read (2 rows; this one has '01/10/2026 00:00') (expected {TIME_FORMS} in each row)"
    )


def test_one_unreadable_time_is_quarantined_with_its_row(tmp_path: Path) -> None:
    path = _legacy_cur_with_start(tmp_path / "cur.csv", "2026-10-01 00:00:00+00:00", "yesterday")

    rows, refused, _ = read_file(SourceFile(str(path), 0))

    assert rows.height == 1
    assert refused.select("row", "reason").row(0) == (
        2,
        "line_item_usage_start_date: not a valid ISO 8601 timestamp",
    )


def test_the_nise_legacy_cur_slice_is_stored_whole(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")

    result = aws.ingest(store, Settings(), str(NISE))

    assert (result.rows, result.quarantined) == (24, 0)
    cost = store.read("cost")
    totals = cost.group_by(Cost.x_LineItemType).agg(
        pl.len(), pl.col(Cost.BilledCost).sum(), pl.col(Cost.EffectiveCost).sum()
    )
    assert sorted(totals.iter_rows()) == [
        ("SavingsPlanCoveredUsage", 6, Decimal("0.798"), Decimal("0.402")),
        # Two nise costs have 19 decimals; the store keeps 18 (Decimal(38, 18)).
        ("Usage", 18, Decimal("2.261503997841497238"), Decimal("2.261503997841497238")),
    ]
    assert cost.get_column(Cost.ChargePeriodStart).min() == MIDNIGHT
    assert cost.get_column(Cost.BillingPeriodStart).unique().to_list() == [MIDNIGHT]


def test_a_focus_row_with_an_unreadable_time_names_the_accepted_forms(tmp_path: Path) -> None:
    path = write_focus_csv(tmp_path / "f.csv", {"ChargePeriodStart": "03.05.2026 00:00"})

    _, refused = read_focus_file(SourceFile(str(path), 0))

    assert refused.select("row", "column", "reason").row(0) == (
        1,
        Cost.ChargePeriodStart,
        f"ChargePeriodStart is not a timestamp (expected {TIME_FORMS})",
    )
