"""Factories for AWS export files in tests: CUR 2.0 rows, legacy CUR headers, delivery layouts.

Rows are typed the way AWS writes CUR 2.0 Parquet (money as double, timestamps without zone,
tags as ``map<string,string>``); ``legacy_header`` respells them as the legacy CUR does.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from gpuledger.collect.aws.columns import MONEY_COLUMNS, TIME_COLUMNS, Cur

STRING_COLUMNS = [
    name
    for name, value in vars(Cur).items()
    if not name.startswith("_") and isinstance(value, str)
    if value not in (*MONEY_COLUMNS, *TIME_COLUMNS, Cur.line_item_usage_amount)
    if value not in (Cur.resource_tags, Cur.cost_category)
]
ROW_SCHEMA: dict[str, Any] = {
    **dict.fromkeys(STRING_COLUMNS, pl.String),
    **dict.fromkeys(MONEY_COLUMNS, pl.Float64),
    **dict.fromkeys(TIME_COLUMNS, pl.Datetime("ms")),
    Cur.line_item_usage_amount: pl.Float64,
    Cur.resource_tags: pl.List(pl.Struct({"key": pl.String, "value": pl.String})),
    Cur.cost_category: pl.List(pl.Struct({"key": pl.String, "value": pl.String})),
}

DEFAULTS: dict[str, Any] = {
    Cur.identity_line_item_id: "li-0001",
    Cur.bill_payer_account_id: "999999999999",
    Cur.bill_billing_period_start_date: datetime(2026, 10, 1),
    Cur.bill_billing_period_end_date: datetime(2026, 11, 1),
    Cur.line_item_usage_account_id: "111111111111",
    Cur.line_item_line_item_type: "Usage",
    Cur.line_item_usage_start_date: datetime(2026, 10, 1, 0),
    Cur.line_item_usage_end_date: datetime(2026, 10, 1, 1),
    Cur.line_item_product_code: "AmazonEC2",
    Cur.line_item_usage_type: "BoxUsage:p5.48xlarge",
    Cur.line_item_resource_id: "i-0aaaaaaaaaaaaaaa1",
    Cur.line_item_usage_amount: 1.0,
    Cur.line_item_currency_code: "USD",
    Cur.line_item_unblended_cost: 55.04,
    Cur.pricing_public_on_demand_cost: 55.04,
    Cur.pricing_term: "OnDemand",
    Cur.pricing_unit: "Hrs",
    Cur.product_instance_type: "p5.48xlarge",
    Cur.product_region_code: "us-east-1",
    Cur.resource_tags: [],
    Cur.cost_category: [],
}


def cur2_rows(*rows: dict[str, Any]) -> pl.DataFrame:
    """CUR 2.0 rows: one hour of on-demand p5.48xlarge unless a row says otherwise.

    ``resource_tags`` and ``cost_category`` may be given as plain dicts.
    """
    records = []
    for number, row in enumerate(rows, start=1):
        record = {**DEFAULTS, Cur.identity_line_item_id: f"li-{number:04d}", **row}
        for name in (Cur.resource_tags, Cur.cost_category):
            if isinstance(record[name], dict):
                record[name] = [{"key": k, "value": v} for k, v in record[name].items()]
        records.append(record)
    frame = pl.DataFrame(records, schema=ROW_SCHEMA)
    return frame.with_columns(
        pl.col(Cur.resource_tags, Cur.cost_category).cast(pl.Map(pl.String, pl.String))
    )


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def legacy_header(name: str) -> str:
    """``line_item_unblended_cost`` → ``lineItem/UnblendedCost``, as the legacy CUR spells it."""
    special = {
        Cur.savings_plan_savings_plan_a_r_n: "savingsPlan/SavingsPlanARN",
        Cur.reservation_reservation_a_r_n: "reservation/ReservationARN",
        Cur.pricing_public_on_demand_cost: "pricing/publicOnDemandCost",
        Cur.product_instance_type: "product/instanceType",
        Cur.product_region_code: "product/regionCode",
    }
    if name in special:
        return special[name]
    for category, legacy in (
        ("identity_", "identity"),
        ("bill_", "bill"),
        ("line_item_", "lineItem"),
        ("product_", "product"),
        ("pricing_", "pricing"),
        ("reservation_", "reservation"),
        ("savings_plan_", "savingsPlan"),
        ("split_line_item_", "splitLineItem"),
    ):
        if name.startswith(category):
            rest = name.removeprefix(category)
            return f"{legacy}/" + "".join(part.capitalize() for part in rest.split("_"))
    raise ValueError(name)


def legacy_csv(frame: pl.DataFrame, path: Path) -> Path:
    """The rows as a gzip legacy CUR CSV: ``category/Name`` headers, tags as columns."""
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    tags = frame.get_column(Cur.resource_tags).map.entries().to_list()
    keys = sorted({entry["key"] for row in tags if row for entry in row})
    table = frame.drop(Cur.resource_tags, Cur.cost_category).with_columns(
        pl.col(pl.Datetime).dt.strftime(stamp)
    )
    table = table.rename({name: legacy_header(name) for name in table.columns})
    for key in keys:
        values = [next((e["value"] for e in row or [] if e["key"] == key), None) for row in tags]
        table = table.with_columns(
            pl.Series(f"resourceTags/{key.replace('user_', 'user:')}", values, dtype=pl.String)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        table.write_csv(handle)
    return path


def data_export(
    root: Path, period: str, files: list[pl.DataFrame], *, execution: str, name: str = "cur"
) -> list[Path]:
    """A Data Exports delivery: data files plus the manifest that lists them."""
    data = root / name / "data" / f"BILLING_PERIOD={period}"
    written = [
        write_parquet(frame, data / f"{name}-{number:05d}.snappy.parquet")
        for number, frame in enumerate(files, start=1)
    ]
    manifest = root / name / "metadata" / f"BILLING_PERIOD={period}" / f"{name}-Manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(
        json.dumps(
            {
                "executionId": execution,
                "dataFiles": [
                    f"s3://elsewhere/exports/{name}/data/BILLING_PERIOD={period}/{p.name}"
                    for p in written
                ],
            }
        )
    )
    return [*written, manifest]


def legacy_report(
    root: Path, period: tuple[str, str], assembly: str, files: list[pl.DataFrame], name: str = "cur"
) -> list[Path]:
    """A legacy CUR delivery: an assembly folder and the period manifest naming it."""
    folder = root / name / f"{period[0]}-{period[1]}"
    written = [
        legacy_csv(frame, folder / assembly / f"{name}-{number}.csv.gz")
        for number, frame in enumerate(files, start=1)
    ]
    manifest = folder / f"{name}-Manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "assemblyId": assembly,
                "reportKeys": [
                    f"billing/{name}/{folder.name}/{assembly}/{p.name}" for p in written
                ],
                "billingPeriod": {"start": f"{period[0]}T000000.000Z"},
            }
        )
    )
    (folder / assembly / f"{name}-Manifest.json").write_text(manifest.read_text())
    return [*written, manifest]


def cur2_csv(frame: pl.DataFrame, path: Path) -> Path:
    """The rows as a CUR 2.0 gzip CSV export: snake-case headers, maps as JSON objects."""
    maps = {
        name: [
            json.dumps({e["key"]: e["value"] for e in row or []})
            for row in frame.get_column(name).map.entries().to_list()
        ]
        for name in (Cur.resource_tags, Cur.cost_category)
    }
    table = frame.with_columns(
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        *(pl.Series(name, values, dtype=pl.String) for name, values in maps.items()),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        table.write_csv(handle)
    return path
