"""Reading a CUR table through Athena: ``athena://<workgroup>/<database>.<table>``.

Collect step, AWS. The heavy lifting happens in Athena: THE query of
:mod:`gpuledger.collect.aws.athena_sql` aggregates the table to the level the rules read and
``UNLOAD`` writes its answer as Parquet under a fresh folder of the workgroup's query result
location (or of ``unload_prefix``); the files are downloaded and go through the very path a CUR
file takes (:func:`gpuledger.collect.aws.read.stage_file`: typing, row verdicts, quarantine,
mapping, staging). The table is never read row by row on this machine.

The calls, all through boto3's default credential chain and ``AWS_ENDPOINT_URL``:

1. the answer's folder is chosen (the workgroup's result location, from ``GetWorkGroup``, unless
   ``unload_prefix`` is given); a query of ``information_schema.columns`` tells CUR 2.0 from
   legacy CUR and which optional columns the table has (read with ``GetQueryResults``);
2. ``StartQueryExecution`` runs the ``UNLOAD``, ``GetQueryExecution`` is polled with an
   exponential backoff until Athena says SUCCEEDED, FAILED or CANCELLED; FAILED and CANCELLED
   raise :class:`~gpuledger.errors.SourceError` with Athena's reason;
3. the answer's files are listed and downloaded from S3.

Throttling is retried by botocore (standard mode); once its attempts are spent, the error is a
transient :class:`~gpuledger.errors.SourceError`, so the scheduler tries again later. Nothing is
stored before every call succeeded. The unloaded files are left where Athena wrote them, as
Athena leaves its other query results: an S3 lifecycle rule on that location clears them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from gpuledger.collect.aws.athena_sql import columns_sql, cost_lines_sql, unload_sql
from gpuledger.collect.aws.read import stage_file
from gpuledger.collect.files import SourceFile
from gpuledger.collect.staging import Staging
from gpuledger.errors import InputError, SourceError
from gpuledger.period import Period
from gpuledger.schema import QUARANTINE_SCHEMA, Cost, Quarantine

SCHEME: Final = "athena://"
UNLOAD_FOLDER: Final = "gpuledger-unload"
THROTTLED: Final = frozenset({"ThrottlingException", "TooManyRequestsException"})
UNREACHABLE: Final = frozenset({"EndpointConnectionError", "ConnectionClosedError"})


@dataclass(frozen=True)
class AthenaTable:
    """The workgroup that runs the query and the table it reads."""

    workgroup: str
    database: str
    table: str

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.table}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.workgroup}/{self.qualified}"


def is_athena(src: str) -> bool:
    return src.startswith(SCHEME)


def parse_source(src: str) -> AthenaTable:
    """The table of an ``athena://<workgroup>/<database>.<table>`` source."""
    workgroup, _, qualified = src.removeprefix(SCHEME).partition("/")
    database, _, table = qualified.partition(".")
    names = (workgroup, database, table)
    if not all(names) or any(ch in part for part in names for ch in "./'\" "):
        raise InputError(
            f"{src}: not an Athena table", expected="athena://<workgroup>/<database>.<table>"
        )
    return AthenaTable(workgroup, database, table)


@dataclass(frozen=True)
class Backoff:
    """How long to wait between two looks at a running query: ``first`` seconds, growing by
    ``factor`` up to ``most``. ``attempts`` is botocore's try count for a throttled call."""

    first: float = 0.5
    factor: float = 2.0
    most: float = 10.0
    attempts: int = 8
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.most)


@dataclass(frozen=True)
class Clients:
    """Athena and S3 clients of one boto3 session, and how to wait for a query."""

    athena: Any
    s3: Any
    backoff: Backoff


def connect(session: Any = None, backoff: Backoff | None = None) -> Clients:
    """Clients from ``session`` (boto3's default session unless given)."""
    import boto3
    from botocore.config import Config

    backoff = backoff or Backoff()
    session = session or boto3.Session()
    config = Config(retries={"mode": "standard", "max_attempts": backoff.attempts})
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    return Clients(
        athena=session.client("athena", endpoint_url=endpoint, config=config),
        s3=session.client("s3", endpoint_url=endpoint, config=config),
        backoff=backoff,
    )


def download_answer(
    src: str,
    periods: Sequence[Period],
    folder: Path,
    *,
    session: Any = None,
    unload_prefix: str | None = None,
    backoff: Backoff | None = None,
) -> list[tuple[str, Path]]:
    """Run THE query for the billing ``periods``; download its Parquet answer.

    Returns (S3 URI, local copy) of each file of the answer.
    """
    table = parse_source(src)
    clients = connect(session, backoff)
    location = unload_location(clients, table, unload_prefix)
    columns = table_columns(clients, table)
    query = unload_sql(cost_lines_sql(table.qualified, columns, periods), location)
    run_query(clients, table, query)
    return download(clients, table, location, folder)


def table_columns(clients: Clients, table: AthenaTable) -> dict[str, str]:
    """The table's column names and Athena types."""
    query_id = run_query(clients, table, columns_sql(table.database, table.table))
    rows: list[list[str]] = []
    with _athena_errors(table, "GetQueryResults"):
        pages = clients.athena.get_paginator("get_query_results")
        for page in pages.paginate(QueryExecutionId=query_id):
            for row in page["ResultSet"]["Rows"]:
                rows.append([cell.get("VarCharValue", "") for cell in row["Data"]])
    columns = {name: kind for name, kind in rows if [name, kind] != ["column_name", "data_type"]}
    if not columns:
        raise InputError(
            f"{table}: no such table, or it has no columns",
            expected="a CUR 2.0 or legacy CUR table in the workgroup's data catalog",
        )
    return columns


def unload_location(clients: Clients, table: AthenaTable, prefix: str | None) -> str:
    """A fresh S3 folder for the answer: under ``prefix``, else the workgroup's result location."""
    if prefix is None:
        with _athena_errors(table, "GetWorkGroup"):
            group = clients.athena.get_work_group(WorkGroup=table.workgroup)["WorkGroup"]
        result = group.get("Configuration", {}).get("ResultConfiguration", {})
        prefix = result.get("OutputLocation")
    if not prefix or not prefix.startswith("s3://"):
        raise InputError(
            f"{table}: no S3 location to unload the answer to (workgroup {table.workgroup!r} "
            f"names {prefix!r})",
            expected="a workgroup with a query result location s3://…, or an unload prefix",
        )
    return f"{prefix.rstrip('/')}/{UNLOAD_FOLDER}/{uuid.uuid4().hex}/"


def run_query(clients: Clients, table: AthenaTable, query: str) -> str:
    """Start ``query`` in the table's workgroup and wait until it succeeded; its execution id."""
    with _athena_errors(table, "StartQueryExecution"):
        started = clients.athena.start_query_execution(
            QueryString=query,
            WorkGroup=table.workgroup,
            QueryExecutionContext={"Database": table.database},
        )
    query_id = str(started["QueryExecutionId"])
    delays = clients.backoff.delays()
    while True:
        with _athena_errors(table, "GetQueryExecution"):
            execution = clients.athena.get_query_execution(QueryExecutionId=query_id)
        status = execution["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            return query_id
        if status["State"] in ("FAILED", "CANCELLED"):
            raise _failed(table, query_id, status)
        clients.backoff.sleep(next(delays))


def download(
    clients: Clients, table: AthenaTable, location: str, folder: Path
) -> list[tuple[str, Path]]:
    """Every file under ``location`` copied into ``folder``, in key order."""
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Path]] = []
    with _athena_errors(table, "S3 download of the answer"):
        pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        for key in keys:
            path = folder / f"{len(files):05d}.parquet"
            clients.s3.download_file(bucket, key, str(path))
            if path.stat().st_size:
                files.append((f"s3://{bucket}/{key}", path))
    return files


def stage_answer(
    files: Sequence[tuple[str, Path]], src: str, staging: Path
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """(cost rows, quarantine rows) of the answer's files, through the CUR file path.

    Rows name ``src`` as their source file; refused rows and errors name the answer's S3 file.
    """
    staged = Staging(staging)
    refused = []
    for uri, path in files:
        with _named_as(uri, str(path)):
            rejected = stage_file(SourceFile(str(path), path.stat().st_size), staged)
        refused.append(rejected.with_columns(pl.lit(uri).alias(Quarantine.file)))
    rows = staged.rows().with_columns(pl.lit(src).alias(Cost.x_SourceFile))
    present = [frame for frame in refused if frame.height]
    quarantine = pl.concat(present) if present else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return rows, quarantine


@contextmanager
def _named_as(uri: str, path: str) -> Iterator[None]:
    """An error about the local copy of an answer file, told about the S3 file instead."""
    try:
        yield
    except InputError as exc:
        if exc.file != path:
            raise
        raise InputError(str(exc).replace(path, uri)) from exc


@contextmanager
def _athena_errors(table: AthenaTable, operation: str) -> Iterator[None]:
    """boto3 errors as SourceError naming the table and the call; throttling is transient."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        raise SourceError(
            f"{table}: Athena {operation} failed: {code}: {error.get('Message', '')}".rstrip(": "),
            transient=code in THROTTLED,
        ) from exc
    except BotoCoreError as exc:
        raise SourceError(
            f"{table}: Athena {operation} failed: {exc}",
            transient=type(exc).__name__ in UNREACHABLE,
        ) from exc


def _failed(table: AthenaTable, query_id: str, status: dict[str, Any]) -> SourceError:
    """Athena's own words for a query that failed or was cancelled."""
    error = status.get("AthenaError", {})
    reason = status.get("StateChangeReason") or error.get("ErrorMessage") or "no reason given"
    return SourceError(
        f"{table}: Athena query {query_id} {status['State'].lower()}: {reason}",
        transient=bool(error.get("Retryable", False)),
    )
