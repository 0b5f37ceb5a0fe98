"""``athena://`` ingest: THE query on DuckDB equals the file ingest; the Athena API over moto.

First half: the query, transpiled from Athena's SQL by sqlglot, runs on DuckDB over the sample
company's CUR 2.0 export (and over the public legacy CUR sample); its answer, staged through the
collector, must store the same money as the file ingest per allocation key, and attribute to
the same allocation per team. Second half: the whole boto3 path against moto's server, Athena
answering the column query from its static results and the UNLOAD answer placed in moto S3
where Athena would write it.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.athena import Backoff, parse_source, stage_answer
from gpuledger.collect.aws.athena_sql import cost_lines_sql, unload_sql
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.ingest import CostBatch, ingest_cost
from gpuledger.config import Settings, load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.errors import InputError, SourceError, UsageError
from gpuledger.period import Period
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.collect.athena_duckdb import DATABASE, DuckAthena
from tests.collect.aws_export import cur2_rows, legacy_csv, write_parquet
from tests.conftest import FIXTURES, REPO, SAMPLE_DATA
from tests.servers import S3, moto_server, s3

__all__ = ["moto_server", "s3"]

CUR2 = SAMPLE_DATA / "aws" / "cur2"
CUR2_FILES = sorted(CUR2.rglob("*.parquet"))
LEGACY_CSV = (
    FIXTURES / "aws" / "focus-converters-aws-cur" / "sample-anonymous-aws-export-dataset.csv.gz"
)
WORKGROUP = "finops"
SRC = f"athena://{WORKGROUP}/{DATABASE}.acme"
RESULTS = "s3://athena-results/finops"
BOTH = ["2026-09", "2026-10"]


def _duck_cur2() -> DuckAthena:
    duck = DuckAthena()
    duck.add_cur2("acme", CUR2_FILES)
    return duck


def _answer_files(duck: DuckAthena, table: str, folder: Path, periods: list[str]) -> list[Path]:
    query = cost_lines_sql(
        f"{DATABASE}.{table}", duck.columns(table), [Period.parse(p) for p in periods]
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "answer.parquet"
    duck.answer(query).write_parquet(path)
    return [path]


def _ingest_answer(store: Store, src: str, files: list[Path], staging: Path) -> None:
    def read(_run: str) -> CostBatch:
        rows, refused = stage_answer([(f"s3://answers/{p.name}", p) for p in files], src, staging)
        return CostBatch(rows=rows, quarantine=refused, deliveries=aws.period_deliveries(rows, {}))

    staging.mkdir(parents=True, exist_ok=True)
    ingest_cost(store, aws.SOURCE, src, read)


KEY = [
    Cost.x_BillingPeriod,
    Cost.BillingAccountId,
    Cost.SubAccountId,
    Cost.ResourceId,
    Cost.ChargeCategory,
    Cost.PricingCategory,
    Cost.x_LineItemType,
    Cost.CommitmentDiscountId,
    Cost.ServiceName,
    Cost.RegionId,
    Cost.x_InstanceType,
    Cost.x_GpuModel,
    "team",
    "model",
    "hour",
]


def _money_by_key(store: Store) -> pl.DataFrame:
    """Sums per allocation key; tags reduced to the team and model the rules read."""
    tag = pl.col(Cost.Tags).list.eval(
        pl.element().filter(pl.element().struct.field("key") == pl.lit("team"))
    )
    model = pl.col(Cost.Tags).list.eval(
        pl.element().filter(pl.element().struct.field("key") == pl.lit("model"))
    )
    return (
        store.read("cost")
        .with_columns(
            tag.list.first().struct.field("value").alias("team"),
            model.list.first().struct.field("value").alias("model"),
            pl.col(Cost.ChargePeriodStart).dt.truncate("1h").alias("hour"),
        )
        .group_by(KEY)
        .agg(
            pl.col(Cost.BilledCost).sum(),
            pl.col(Cost.EffectiveCost).sum(),
            pl.col(Cost.ListCost).sum(),
            pl.col(Cost.ConsumedQuantity).sum().round(9),
            pl.col(Cost.x_GpuCount).max(),
        )
        .sort(KEY, nulls_last=True)
    )


def _file_store(tmp_path: Path, src: Path) -> Store:
    store = Store(tmp_path / "files")
    aws.ingest(store, Settings(), str(src))
    return store


def test_the_query_on_duckdb_stores_the_money_of_the_file_ingest(tmp_path: Path) -> None:
    duck = _duck_cur2()
    answer = _answer_files(duck, "acme", tmp_path / "answer", BOTH)
    pushed = Store(tmp_path / "athena")
    _ingest_answer(pushed, SRC, answer, tmp_path / "staging")

    from_files = _file_store(tmp_path, CUR2)

    assert_frame_equal(_money_by_key(pushed), _money_by_key(from_files))
    total = pushed.read("cost").get_column(Cost.EffectiveCost).sum()
    assert total == from_files.read("cost").get_column(Cost.EffectiveCost).sum()
    assert pushed.read("cost").get_column(Cost.x_SourceFile).unique().to_list() == [SRC]


def _invoiced(store: Store) -> list[tuple[str, str, int]]:
    periods = store.state.billing_periods()
    return [(p["billing_account"], p["period"], p["invoiced"]) for p in periods]


def test_invoiced_state_comes_from_the_invoice_ids_as_for_files(tmp_path: Path) -> None:
    pushed = Store(tmp_path / "athena")
    answer = _answer_files(_duck_cur2(), "acme", tmp_path / "answer", BOTH)
    _ingest_answer(pushed, SRC, answer, tmp_path / "staging")

    assert _invoiced(pushed) == _invoiced(_file_store(tmp_path, CUR2))
    assert [invoiced for *_, invoiced in _invoiced(pushed)] == [1, 0]  # September invoiced


def _allocation_by_team(store: Store, period: str) -> pl.DataFrame:
    settings = load_settings(REPO / "config" / "gpuledger.toml")
    gpu.ingest(store, settings, str(SAMPLE_DATA / "gpu"))
    run_attribution(store, settings, period)
    return (
        store.read("allocation")
        .group_by(Alloc.team, Alloc.cost_type, Alloc.currency)
        .agg(pl.col(Alloc.cost).sum(), pl.col(Alloc.gpu_hours).sum().round(6))
        .sort(Alloc.team, Alloc.cost_type, nulls_last=True)
    )


@pytest.mark.slow
def test_the_pushed_down_rows_attribute_like_the_files_per_team(tmp_path: Path) -> None:
    pushed = Store(tmp_path / "athena")
    answer = _answer_files(_duck_cur2(), "acme", tmp_path / "answer", ["2026-10"])
    _ingest_answer(pushed, SRC, answer, tmp_path / "staging")

    by_team = _allocation_by_team(pushed, "2026-10")

    assert_frame_equal(by_team, _allocation_by_team(_file_store(tmp_path, CUR2), "2026-10"))
    assert by_team.filter(pl.col(Alloc.gpu_hours) > 0).height > 3


def test_the_query_reads_only_the_periods_asked_for(tmp_path: Path) -> None:
    duck = _duck_cur2()
    query = cost_lines_sql(f"{DATABASE}.acme", duck.columns("acme"), [Period.parse("2026-09")])

    answer = duck.answer(query)

    assert "billing_period = '2026-09'" in query  # the partition, so Athena scans one month
    starts = answer.get_column("bill_billing_period_start_date").dt.strftime("%Y-%m").unique()
    assert starts.to_list() == ["2026-09"]


def _legacy_table(duck: DuckAthena, csv: Path) -> str:
    duck.add_legacy("legacy", csv)
    return "legacy"


def test_a_legacy_cur_table_stores_the_money_of_the_legacy_file(tmp_path: Path) -> None:
    duck = DuckAthena()
    table = _legacy_table(duck, LEGACY_CSV)
    answer = _answer_files(duck, table, tmp_path / "answer", ["2023-11"])
    pushed = Store(tmp_path / "athena")
    _ingest_answer(pushed, f"athena://{WORKGROUP}/{DATABASE}.{table}", answer, tmp_path / "s")

    from_file = _file_store(tmp_path, LEGACY_CSV)

    assert_frame_equal(_money_by_key(pushed), _money_by_key(from_file))
    assert pushed.read("cost").get_column(Cost.BilledCost).sum() == Decimal("1.6823086974")
    assert pushed.read("cost").height < from_file.read("cost").height


def test_lines_of_one_hour_and_key_become_one_row_with_their_tags(tmp_path: Path) -> None:
    """Two operations of one instance in one hour, a quarter-hour line, and a tagged legacy CUR:
    three lines become one row per key, GPU hours and money kept, tags folded as for files."""
    tags = {"user_team": "nlp", "user_model": "llama"}
    rows = cur2_rows(
        {
            Cur.line_item_usage_amount: 0.5,
            Cur.line_item_unblended_cost: 27.52,
            Cur.resource_tags: tags,
        },
        {
            Cur.line_item_usage_amount: 0.25,
            Cur.line_item_unblended_cost: 13.76,
            Cur.line_item_operation: "RunInstances:0002",
            Cur.resource_tags: tags,
        },
        {
            Cur.line_item_usage_amount: 0.25,
            Cur.line_item_unblended_cost: 13.76,
            Cur.line_item_usage_start_date: datetime(2026, 10, 1, 0, 45),
            Cur.resource_tags: tags,
        },
        {Cur.line_item_resource_id: "i-0bbbbbbbbbbbbbbb2", Cur.resource_tags: {"user_team": "cv"}},
    )
    csv = legacy_csv(rows, tmp_path / "legacy.csv.gz")
    duck = DuckAthena()
    answer = _answer_files(duck, _legacy_table(duck, csv), tmp_path / "answer", ["2026-10"])
    pushed = Store(tmp_path / "athena")
    _ingest_answer(pushed, SRC, answer, tmp_path / "s")

    stored = pushed.read("cost").sort(Cost.ResourceId)

    assert stored.height == 2
    assert_frame_equal(_money_by_key(pushed), _money_by_key(_file_store(tmp_path, csv)))
    assert stored.get_column(Cost.ConsumedQuantity).to_list() == [1.0, 1.0]
    assert stored.get_column(Cost.BilledCost).to_list() == [Decimal("55.04")] * 2
    assert stored.get_column(Cost.x_GpuCount).to_list() == [8, 8]
    assert stored.get_column(Cost.Tags).to_list()[0] == [
        {"key": "model", "value": "llama", "origin": "user"},
        {"key": "team", "value": "nlp", "origin": "user"},
    ]


# --- the Athena API over moto's server ------------------------------------------------------------

UNLOAD = re.compile(r"^UNLOAD \(\n(?P<query>.*)\n\)\nTO '(?P<to>s3://[^']+)'", re.DOTALL)


def _moto_api(endpoint: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _static_columns(endpoint: str, columns: dict[str, str]) -> None:
    """Athena's answer to the column query: a header row, then one row per column."""
    rows = [["column_name", "data_type"], *([name, kind] for name, kind in columns.items())]
    result = {
        "rows": [{"Data": [{"VarCharValue": cell} for cell in row]} for row in rows],
        "column_info": [
            {"Name": name, "Label": name, "Type": "varchar", "Nullable": "UNKNOWN"}
            for name in rows[0]
        ],
    }
    _moto_api(endpoint, "static/athena/query-results", {"results": [result]})


class AthenaStandIn:
    """What Athena does that moto does not: run the UNLOAD (on DuckDB) and write its files."""

    def __init__(self, s3: S3, duck: DuckAthena) -> None:
        self.s3, self.duck = s3, duck
        self.queries: list[str] = []

    def unload(self, params: dict[str, Any], **event: Any) -> None:
        self.queries.append(params["QueryString"])
        found = UNLOAD.match(params["QueryString"])
        if found is None:
            return
        bucket, _, prefix = found["to"].removeprefix("s3://").partition("/")
        answer = io.BytesIO()
        self.duck.answer(found["query"]).write_parquet(answer)
        # Athena names the files of an UNLOAD without an extension.
        key = f"{prefix}20261102_000000_00001_answer"
        self.s3.client.put_object(Bucket=bucket, Key=key, Body=answer.getvalue())


@pytest.fixture
def athena(s3: S3) -> tuple[AthenaStandIn, Any]:
    """A workgroup with a result location, the table's columns queued, and a session whose
    StartQueryExecution calls also run the UNLOAD the way Athena would."""
    s3.client.create_bucket(Bucket="athena-results")
    duck = _duck_cur2()
    session = boto3.Session()
    session.client("athena", endpoint_url=s3.endpoint).create_work_group(
        Name=WORKGROUP, Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}}
    )
    _static_columns(s3.endpoint, duck.columns("acme"))
    stand_in = AthenaStandIn(s3, duck)
    session.events.register("before-parameter-build.athena.StartQueryExecution", stand_in.unload)
    return stand_in, session


@pytest.fixture
def slow_queries(moto_server: Any) -> Iterator[None]:
    """Each query QUEUED, then RUNNING, for two looks each before it SUCCEEDED."""
    transition = {"progression": "manual", "times": 2}
    _moto_api(
        moto_server.endpoint,
        "state-manager/set-transition",
        {"model_name": "athena::execution", "transition": transition},
    )
    yield
    _moto_api(
        moto_server.endpoint, "state-manager/unset-transition", {"model_name": "athena::execution"}
    )


@pytest.mark.slow
@pytest.mark.usefixtures("slow_queries")
def test_ingest_through_athena_polls_unloads_and_stores_the_answer(
    athena: tuple[AthenaStandIn, Any], store: Store, tmp_path: Path
) -> None:
    stand_in, session = athena
    waits: list[float] = []

    result = aws.ingest(
        store,
        Settings(),
        SRC,
        periods=["2026-10"],
        session=session,
        backoff=Backoff(sleep=waits.append),
    )

    columns_query, unload_query = stand_in.queries
    assert "information_schema.columns" in columns_query
    location = UNLOAD.match(unload_query)["to"]  # type: ignore[index]
    assert location.startswith(f"{RESULTS}/gpuledger-unload/")
    columns = stand_in.duck.columns("acme")
    expected = cost_lines_sql(f"{DATABASE}.acme", columns, [Period.parse("2026-10")])
    assert unload_query == unload_sql(expected, location)
    assert waits == [0.5, 1.0, 2.0] * 2  # each query waited for while QUEUED and RUNNING
    assert result.partitions == [("999999999999", "2026-10")]
    direct = Store(tmp_path / "direct")
    _ingest_answer(
        direct,
        SRC,
        _answer_files(stand_in.duck, "acme", tmp_path / "a", ["2026-10"]),
        tmp_path / "s",
    )
    assert_frame_equal(_money_by_key(store), _money_by_key(direct))
    assert store.state.billing_periods()[0]["invoiced"] == 0


def _fail_unload(parsed: dict[str, Any], **_: Any) -> None:
    execution = parsed["QueryExecution"]
    if execution["Query"].startswith("UNLOAD"):
        execution["Status"] = {
            "State": "FAILED",
            "StateChangeReason": "COLUMN_NOT_FOUND: line 3:3: Column 'bill_invoice_id' cannot be resolved",
            "AthenaError": {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False},
        }


def _throttle(**_: Any) -> Any:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    body = json.dumps({"__type": "TooManyRequestsException", "Message": "Rate exceeded"}).encode()

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.1"
    return AWSResponse("https://athena", 400, headers, Raw())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("event", "handler", "message", "transient"),
    [
        (
            "after-call.athena.GetQueryExecution",
            _fail_unload,
            r"Athena query .* failed: COLUMN_NOT_FOUND: line 3:3: Column 'bill_invoice_id'",
            False,
        ),
        (
            "before-send.athena.StartQueryExecution",
            _throttle,
            r"Athena StartQueryExecution failed: TooManyRequestsException: Rate exceeded",
            True,
        ),
    ],
    ids=["failed-query", "throttled"],
)
def test_an_athena_failure_is_a_clear_error_and_leaves_the_store_as_it_was(
    athena: tuple[AthenaStandIn, Any],
    store: Store,
    event: str,
    handler: Callable[..., Any],
    message: str,
    transient: bool,
) -> None:
    stand_in, session = athena
    aws.ingest(store, Settings(), SRC, periods=["2026-10"], session=session)
    before = store.read("cost")
    _static_columns(stand_in.s3.endpoint, stand_in.duck.columns("acme"))
    session.events.register(event, handler)

    with pytest.raises(SourceError, match=message) as raised:
        aws.ingest(
            store,
            Settings(),
            SRC,
            periods=["2026-10"],
            session=session,
            backoff=Backoff(attempts=2),
        )

    assert raised.value.transient is transient
    assert_frame_equal(store.read("cost"), before)
    assert store.state.ingest_runs(1)[0].status == "failed"


@pytest.mark.slow
def test_a_workgroup_without_a_result_location_needs_an_unload_prefix(
    athena: tuple[AthenaStandIn, Any], store: Store
) -> None:
    stand_in, session = athena
    session.client("athena", endpoint_url=stand_in.s3.endpoint).create_work_group(Name="bare")
    src = f"athena://bare/{DATABASE}.acme"

    with pytest.raises(InputError, match="no S3 location to unload the answer to"):
        aws.ingest(store, Settings(), src, periods=BOTH, session=session)

    configured = Settings.model_validate({"aws": {"athena_unload_prefix": "s3://athena-results/u"}})
    result = aws.ingest(store, configured, src, periods=BOTH, session=session)
    assert [p for _, p in result.partitions] == BOTH


def _close(store: Store, period: str) -> None:
    with store.state.connect() as db:
        db.execute(
            "INSERT INTO closed_periods (period, closed_at, table_versions, content_hash) "
            "VALUES (?, '2026-11-05T00:00:00+00:00', '{}', 'h')",
            (period,),
        )


@pytest.mark.parametrize(
    ("asked", "closed", "expected"),
    [
        ([], [], ["2026-10", "2026-11"]),
        ([], ["2026-10"], ["2026-11"]),
        (["2026-09", "2026-08", "2026-09"], ["2026-09"], ["2026-08", "2026-09"]),
    ],
    ids=["open-months", "last-month-closed", "asked-for"],
)
def test_without_a_period_athena_reads_the_open_months(
    store: Store, asked: list[str], closed: list[str], expected: list[str]
) -> None:
    for period in closed:
        _close(store, period)

    chosen = aws.athena_periods(store, asked, datetime(2026, 11, 25, tzinfo=UTC))

    assert [str(period) for period in chosen] == expected


def test_when_both_open_months_are_closed_a_period_must_be_named(store: Store) -> None:
    _close(store, "2026-10")
    _close(store, "2026-11")

    with pytest.raises(UsageError, match="2026-10 and 2026-11 are closed: name a --period"):
        aws.athena_periods(store, [], datetime(2026, 11, 25, tzinfo=UTC))


@pytest.mark.parametrize(
    "src",
    ["athena://finops", "athena://finops/cur", "athena:///cur.acme", "athena://wg/cur.a.b"],
    ids=["no-table", "no-dot", "no-workgroup", "three-parts"],
)
def test_an_athena_source_must_name_workgroup_database_and_table(src: str) -> None:
    with pytest.raises(InputError, match=r"expected athena://<workgroup>/<database>\.<table>"):
        parse_source(src)


def test_period_is_refused_for_a_folder_of_files(store: Store) -> None:
    with pytest.raises(UsageError, match="--period applies to athena:// tables"):
        aws.ingest(store, Settings(), str(CUR2), periods=["2026-10"])


def test_a_refused_answer_row_is_quarantined_naming_the_answer_file(tmp_path: Path) -> None:
    rows = cur2_rows({}, {Cur.bill_payer_account_id: None, Cur.line_item_unblended_cost: 3.5})
    export = write_parquet(rows, tmp_path / "cur" / "BILLING_PERIOD=2026-10" / "part-1.parquet")
    duck = DuckAthena()
    duck.add_cur2("acme", [export])
    pushed = Store(tmp_path / "athena")

    _ingest_answer(
        pushed, SRC, _answer_files(duck, "acme", tmp_path / "a", ["2026-10"]), tmp_path / "s"
    )

    assert pushed.read("cost").get_column(Cost.BilledCost).to_list() == [Decimal("55.04")]
    refused = pushed.read("quarantine")
    assert refused.select("file", "reason", "cost").rows() == [
        ("s3://answers/answer.parquet", "bill_payer_account_id: empty", Decimal("3.5"))
    ]
