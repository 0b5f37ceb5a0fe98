"""THE BigQuery query and the client wiring, without BigQuery.

The query runs on DuckDB (transpiled by sqlglot) over the hand-written export loaded with
BigQuery's column types; its lines must map to the same money as the file reader's. The client is
pointed at a local HTTP server that answers the ``queries`` REST call the way BigQuery does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import polars as pl
import pytest
from google.auth.credentials import AnonymousCredentials
from polars.testing import assert_frame_equal

from gpuledger.collect.files import SourceFile
from gpuledger.collect.gcp import collector as gcp
from gpuledger.collect.gcp.bigquery import conform_lines, lines_sql, parse_table, query_lines
from gpuledger.collect.gcp.lines import LINES_SCHEMA
from gpuledger.collect.gcp.mapping import lines_to_cost
from gpuledger.config import Settings
from gpuledger.errors import InputError, SourceError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

EXPORT = FIXTURES / "gcp" / "export_resource_v1.json"
TABLE = "acme-billing.billing.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F70819"


def _export_as_bigquery_types() -> pl.DataFrame:
    """The fixture with the export table's BigQuery types: TIMESTAMP, FLOAT64 money."""
    raw = gcp.read_export(SourceFile(str(EXPORT), 0))
    number = pl.Float64

    def stamp(column: str) -> pl.Expr:
        return pl.col(column).str.to_datetime("%Y-%m-%d %H:%M:%S UTC", time_zone="UTC")

    return raw.with_columns(
        stamp("usage_start_time"),
        stamp("usage_end_time"),
        pl.col("cost").cast(number),
        pl.col("cost_at_list").cast(number),
        pl.col("currency_conversion_rate").cast(number),
        pl.col("usage").struct.with_fields(
            pl.field("amount").cast(number), pl.field("amount_in_pricing_units").cast(number)
        ),
        pl.col("credits").list.eval(
            pl.element().struct.with_fields(pl.field("amount").cast(number))
        ),
    )


def _run_on_duckdb(months: list[str]) -> pl.DataFrame:
    con = duckdb.connect()
    con.register("billing_export", _export_as_bigquery_types().to_arrow())
    result = con.sql(
        lines_sql("billing_export", dialect="duckdb"), params={"invoice_months": months}
    )
    return conform_lines(pl.from_arrow(result.to_arrow_table()))


def _money_by_key(rows: pl.DataFrame) -> pl.DataFrame:
    key = [
        Cost.BillingPeriodStart,
        Cost.ResourceId,
        Cost.SkuId,
        Cost.ChargeCategory,
        Cost.x_CreditType,
    ]
    return (
        rows.group_by(key)
        .agg(
            pl.col(Cost.BilledCost).sum(),
            pl.col(Cost.EffectiveCost).sum(),
            pl.col(Cost.ListCost).sum(),
            pl.col(Cost.x_GpuModel).max(),
            pl.col(Cost.x_GpuCount).max(),
        )
        .sort(key, nulls_last=True)
    )


def test_the_query_on_duckdb_maps_to_the_same_money_as_the_file_reader(tmp_path: Path) -> None:
    lines = _run_on_duckdb(["202609", "202610"])

    from_sql = lines_to_cost(lines.lazy()).collect()
    from_file = gcp.read_files(str(EXPORT), [], Settings(), tmp_path).rows.lazy().collect()

    assert_frame_equal(_money_by_key(from_sql), _money_by_key(from_file))
    assert from_sql.get_column(Cost.EffectiveCost).sum() == Decimal("15.7537")


def test_the_query_reads_only_the_invoice_months_asked_for() -> None:
    lines = _run_on_duckdb(["202610"])

    assert lines.get_column("invoice_month").unique().to_list() == ["202610"]
    assert lines.get_column("amount").sum() == Decimal("1.3")


@pytest.mark.parametrize(
    "src", ["bq://only.two", "bq://a..c", "bq://a.b.c.d"], ids=["two-parts", "empty", "four"]
)
def test_a_bigquery_source_must_name_project_dataset_table(src: str) -> None:
    with pytest.raises(InputError, match=r"expected bq://project\.dataset\.table"):
        parse_table(src)


# --- a local stand-in for the BigQuery REST endpoint ---------------------------------------------

_TYPES = {pl.String: "STRING", pl.Float64: "FLOAT", pl.Int64: "INTEGER"}


def _field(name: str, dtype: pl.DataType) -> dict[str, Any]:
    if isinstance(dtype, pl.List):
        return {
            "name": name,
            "type": "RECORD",
            "mode": "REPEATED",
            "fields": [{"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}],
        }
    if isinstance(dtype, pl.Datetime):
        kind = "TIMESTAMP"
    elif isinstance(dtype, pl.Decimal):
        kind = "NUMERIC"
    else:
        kind = _TYPES[type(dtype)]
    return {"name": name, "type": kind, "mode": "NULLABLE"}


def _cell(value: Any, dtype: pl.DataType) -> dict[str, Any]:
    if value is None:
        return {"v": None}
    if isinstance(dtype, pl.List):
        return {"v": [{"v": {"f": [{"v": kv["key"]}, {"v": kv["value"]}]}} for kv in value]}
    if isinstance(dtype, pl.Datetime):
        return {"v": str(int(value.timestamp() * 1_000_000))}
    if isinstance(dtype, pl.Decimal):
        return {"v": format(value.normalize(), "f")}
    return {"v": str(value)}


def _bigquery_answer(lines: pl.DataFrame) -> dict[str, Any]:
    schema = [(n, d) for n, d in LINES_SCHEMA.items() if n != "source_row"]
    return {
        "kind": "bigquery#queryResponse",
        "jobComplete": True,
        "jobReference": {"projectId": "acme-billing", "jobId": "job-1", "location": "US"},
        "schema": {"fields": [_field(n, d) for n, d in schema]},
        "totalRows": str(lines.height),
        "rows": [
            {"f": [_cell(row[n], d) for n, d in schema]} for row in lines.iter_rows(named=True)
        ],
    }


class _FakeBigQuery(BaseHTTPRequestHandler):
    answer: ClassVar[dict[str, Any]] = {}
    status = 200
    requests: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, body))
        payload = self.answer if self.status == 200 else {"error": {"code": 400, "message": "bad"}}
        data = json.dumps(payload).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def fake_bigquery() -> Iterator[tuple[type[_FakeBigQuery], dict[str, Any]]]:
    handler = type("Handler", (_FakeBigQuery,), {"requests": [], "answer": {}, "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = {
        "client_options": {"api_endpoint": f"http://127.0.0.1:{server.server_port}"},
        "credentials": AnonymousCredentials(),
    }
    try:
        yield handler, options
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_client_sends_the_query_with_months_and_reads_the_arrow_answer(
    fake_bigquery: tuple[type[_FakeBigQuery], dict[str, Any]],
) -> None:
    handler, options = fake_bigquery
    expected = _run_on_duckdb(["202609"])
    handler.answer = _bigquery_answer(expected)

    got = query_lines(f"bq://{TABLE}", ["202609"], **options)

    assert_frame_equal(got, expected)
    [(path, body)] = handler.requests
    assert path.startswith("/bigquery/v2/projects/acme-billing/queries")
    assert body["query"] == lines_sql(TABLE)
    assert body["useLegacySql"] is False
    assert body["queryParameters"] == [
        {
            "name": "invoice_months",
            "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
            "parameterValue": {"arrayValues": [{"value": "202609"}]},
        }
    ]


@pytest.mark.slow
def test_ingest_from_bigquery_stores_the_invoice_month(
    fake_bigquery: tuple[type[_FakeBigQuery], dict[str, Any]], store: Store
) -> None:
    handler, options = fake_bigquery
    handler.answer = _bigquery_answer(_run_on_duckdb(["202609"]))

    result = gcp.ingest(store, Settings(), f"bq://{TABLE}", periods=["2026-09"], **options)

    assert result.partitions == [("01A2B3-C4D5E6-F70819", "2026-09")]
    stored = store.read("cost")
    assert stored.get_column(Cost.EffectiveCost).sum() == Decimal("14.4537")
    assert stored.get_column(Cost.x_SourceFile).unique().to_list() == [f"bq://{TABLE}"]


@pytest.mark.slow
def test_a_failed_query_is_a_source_error_and_stores_nothing(
    fake_bigquery: tuple[type[_FakeBigQuery], dict[str, Any]], store: Store
) -> None:
    handler, options = fake_bigquery
    handler.status = 400

    with pytest.raises(SourceError, match="BigQuery query failed"):
        gcp.ingest(store, Settings(), f"bq://{TABLE}", periods=["2026-09"], **options)

    assert not store.exists("cost")
