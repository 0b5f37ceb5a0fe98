"""`gpuledger ingest gcp` on export files: replace, filter, quarantine, refuse, conserve."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from gpuledger.collect.gcp import collector as gcp
from gpuledger.config import Settings
from gpuledger.errors import InputError, UsageError
from gpuledger.report.health import store_health
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

EXPORT = FIXTURES / "gcp" / "export_resource_v1.json"
BAD_ROWS = FIXTURES / "gcp" / "export_with_bad_rows.json"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EXPORT.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _totals(store: Store) -> dict[str, Decimal]:
    frame = store.read("cost").group_by(Cost.x_BillingPeriod).agg(pl.col(Cost.EffectiveCost).sum())
    return dict(frame.iter_rows())


def test_reingesting_a_month_replaces_the_earlier_copy(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    gcp.ingest(store, settings, str(EXPORT))
    restated = [
        {**row, "cost": 0.9} if row["invoice"]["month"] == "202610" else row for row in _rows()
    ]
    restated = [r for r in restated if r["invoice"]["month"] == "202610"]

    gcp.ingest(store, settings, str(_write(tmp_path / "restated.json", restated)))
    gcp.ingest(store, settings, str(_write(tmp_path / "restated.json", restated)))

    assert _totals(store) == {"2026-09": Decimal("14.4537"), "2026-10": Decimal("1.8")}
    assert store.read("cost").filter(pl.col(Cost.x_BillingPeriod) == "2026-10").height == 2


def test_period_option_reads_only_those_invoice_months(store: Store, settings: Settings) -> None:
    result = gcp.ingest(store, settings, str(EXPORT), periods=["2026-10"])

    assert result.partitions == [("01A2B3-C4D5E6-F70819", "2026-10")]
    assert _totals(store) == {"2026-10": Decimal("1.3")}


def test_bad_period_option_is_a_usage_error(store: Store, settings: Settings) -> None:
    with pytest.raises(UsageError, match="'2026-9' is not a month"):
        gcp.ingest(store, settings, str(EXPORT), periods=["2026-9"])


def test_invalid_rows_are_quarantined_with_reasons_and_shown_in_status(
    store: Store, settings: Settings
) -> None:
    result = gcp.ingest(store, settings, str(BAD_ROWS))

    assert (result.rows, result.quarantined) == (5, 3)
    quarantine = store.read("quarantine").sort("row")
    assert quarantine.select("row", "column", "reason").rows() == [
        (4, "invoice.month", "invoice.month is not YYYYMM"),
        (5, "cost", "cost is not a number"),
        (6, "cost_type", "cost_type is not one of regular, tax, adjustment, rounding_error"),
    ]
    assert json.loads(quarantine.get_column("raw")[1])["cost"] == "abc"
    reasons = {q["reason"] for q in store_health(store, settings).quarantine}
    assert "cost is not a number" in reasons


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"billing_account_id": "x"}\n{not json\n', "row 2: not JSON"),
        (b'[1, 2]\n', "row 1: not a JSON object"),
        (b'{"labels": "team=nlp"}\n', "fields do not have the billing export's types"),
    ],
    ids=["broken-line", "not-an-object", "wrong-types"],
)  # fmt: skip
def test_a_file_that_is_not_the_export_is_refused_and_the_store_unchanged(
    store: Store, settings: Settings, tmp_path: Path, content: bytes, message: str
) -> None:
    gcp.ingest(store, settings, str(EXPORT))
    version = store.version("cost")
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)

    with pytest.raises(InputError, match=message) as caught:
        gcp.ingest(store, settings, str(bad))

    assert caught.value.exit_code == 2
    assert str(bad) in str(caught.value)
    assert store.version("cost") == version


def test_cli_exit_2_for_a_broken_export(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(b"{oops\n"))

    result = subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(tmp_path / "h"), "ingest", "gcp",
         str(bad)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 2
    assert "bad.json.gz, row 1: not JSON" in result.stderr + result.stdout


def test_avro_is_refused_with_what_to_export_instead(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "export.avro").write_bytes(b"Obj\x01")

    with pytest.raises(InputError, match="NEWLINE_DELIMITED_JSON or PARQUET"):
        gcp.ingest(store, settings, str(tmp_path))


def test_parquet_export_maps_like_the_json(settings: Settings, tmp_path: Path) -> None:
    rows = _rows()
    # typed as bq extract writes Parquet: FLOAT64 doubles, TIMESTAMP in UTC, nested records
    stamp = "%Y-%m-%d %H:%M:%S UTC"
    frame = pl.read_ndjson(EXPORT).with_columns(
        pl.col("usage_start_time").str.to_datetime(stamp, time_zone="UTC"),
        pl.col("usage_end_time").str.to_datetime(stamp, time_zone="UTC"),
    )
    frame.write_parquet(tmp_path / "export.parquet")

    staged = tmp_path / "json", tmp_path / "parquet"
    for folder in staged:
        folder.mkdir()
    from_json = gcp.read_files(str(EXPORT), [], settings, staged[0]).rows.lazy().collect()
    from_parquet = (
        gcp.read_files(str(tmp_path / "export.parquet"), [], settings, staged[1])
        .rows.lazy()
        .collect()
    )

    assert from_parquet.height == from_json.height > len(rows)
    key = [Cost.x_SourceRow, Cost.ChargeCategory, Cost.x_CreditType]
    columns = [*key, Cost.BilledCost, Cost.EffectiveCost, Cost.ChargePeriodStart, Cost.Tags]
    assert from_parquet.select(columns).sort(key).equals(from_json.select(columns).sort(key))


def test_two_currencies_in_one_month_refused_unless_rates_are_configured(
    store: Store, tmp_path: Path
) -> None:
    rows = [r for r in _rows() if r["invoice"]["month"] == "202610"]
    rows[1] = {**rows[1], "currency": "EUR", "cost": 1.0, "currency_conversion_rate": 0.92}
    path = _write(tmp_path / "mixed.json", rows)

    with pytest.raises(
        InputError, match=r'period 2026-10 is billed in EUR, USD; no \[fx\."2026-10"\]'
    ):
        gcp.ingest(store, Settings(), str(path))
    assert not store.exists("cost")

    gcp.ingest(store, Settings.model_validate({"fx": {"2026-10": {"EUR": "1.10"}}}), str(path))
    got = store.read("cost").sort(Cost.x_SourceRow)
    assert got.get_column(Cost.BillingCurrency).to_list() == ["USD", "USD"]
    assert got.get_column(Cost.BilledCost).to_list() == [Decimal("0.5"), Decimal("1.1")]
    assert got.get_column(Cost.x_CurrencyConversionRate).to_list() == [1.0, 1.1]


@pytest.mark.parametrize(
    ("closed", "expected"),
    [([], ["202610", "202611"]), (["2026-10"], ["202611"])],
    ids=["both-open", "last-month-closed"],
)
def test_default_bigquery_months_are_the_open_ones(
    store: Store, closed: list[str], expected: list[str]
) -> None:
    with store.state.connect() as db:
        for period in closed:
            db.execute(
                "INSERT INTO closed_periods (period, closed_at, table_versions, content_hash) "
                "VALUES (?, '2026-11-05T00:00:00+00:00', '{}', 'h')",
                (period,),
            )
    assert gcp.default_months(store, datetime(2026, 11, 25, tzinfo=UTC)) == expected


CENTS = st.decimals(min_value=Decimal("-50"), max_value=Decimal("500"), places=6, allow_nan=False)
CREDIT_TYPES = st.sampled_from(
    ["COMMITTED_USAGE_DISCOUNT", "SUSTAINED_USAGE_DISCOUNT", "FREE_TIER", "PROMOTION", "DISCOUNT"]
)


@hyp_settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(
            CENTS,
            st.lists(st.tuples(CREDIT_TYPES, CENTS), max_size=3),
            st.sampled_from(["202609", "202610"]),
            st.sampled_from(["regular", "tax", "adjustment", "rounding_error"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_effective_cost_per_invoice_month_is_cost_plus_credits(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[tuple[Decimal, list[tuple[str, Decimal]], str, str]],
) -> None:
    """Conservation: per invoice month Σ EffectiveCost == Σ cost + Σ credits, to the digit."""
    template = _rows()[0]
    rows = [
        {
            **template,
            "cost": float(cost),
            "credits": [
                {"name": t, "amount": float(a), "full_name": t, "id": "", "type": t}
                for t, a in credits
            ],
            "invoice": {"month": month},
            "cost_type": cost_type,
            # Rows equal in every field would be one row delivered twice.
            "export_time": f"2026-11-02T00:00:{number:02d}Z",
        }
        for number, (cost, credits, month, cost_type) in enumerate(lines)
    ]
    folder = tmp_path_factory.mktemp("gcp")
    path = _write(folder / "export.json", rows)
    expected: dict[str, Decimal] = {}
    for cost, credits, month, _ in lines:
        period = f"{month[:4]}-{month[4:]}"
        expected[period] = expected.get(period, Decimal(0)) + cost + sum(a for _, a in credits)
    store = Store(folder / "home")

    gcp.ingest(store, Settings(), str(path))

    got = _totals(store)
    assert got == expected
    billed = dict(
        store.read("cost")
        .group_by(Cost.x_BillingPeriod)
        .agg(pl.col(Cost.BilledCost).sum())
        .iter_rows()
    )
    assert billed == expected
