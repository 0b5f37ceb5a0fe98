"""Benchmark data: the bill of a synthetic fleet (:mod:`bench.fleet`), and a ledger home of both.

The cost rows are canonical ``cost`` rows as the engine reads them from the store, for the same
instances and days as the fleet's telemetry, built without any export or collector:

* every instance-hour of every instance is billed, whether or not its agent reported: on AWS a
  compute line (``x_GpuCount``), an EBS volume line and a data-transfer line of the instance; on
  GCP a GPU, a core and a RAM SKU line of the VM, each with the GPU count (one instance-hour
  billed three times);
* ``silent_share`` more GPU instances are billed that never send telemetry;
* ``tagged_share`` of instances carry ``team`` and ``model`` tags, ``account_share`` sit in the
  account the sample configuration maps to ml-platform, the rest are untagged;
* each day a support line, a transit-gateway line and an untagged storage line (no resource), and
  in the month a tax line, a credit and an unused-commitment fee per account — the shared pools
  of the sample configuration.

Amounts are exact (whole micro-dollars). :func:`build_home` writes telemetry and bill straight
into a :class:`~gpuledger.store.delta.Store`, each table in one commit (compacted).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from bench.fleet import SHAPES, TEAMS, Knobs, days_of, gpus
from gpuledger.schema import COST_SCHEMA, MONEY, Cost, Usage
from gpuledger.store.delta import Store

# Price per GPU-hour in micro-dollars, by GPU model (on-demand order of magnitude).
GPU_HOUR_MICROS: Final = {"H100": 12_290_000, "A100": 4_096_000, "L4": 1_224_000, "A10G": 1_006_000}
ACCOUNTS: Final = ("111111111111", "222222222222")  # the second maps to ml-platform
MODELS_BY_TEAM: Final = dict(zip(TEAMS, ("llama-70b", "resnet-152", "ranker-v3", "bert-large",
                                          "mixtral-8x7b", "whisper"), strict=True))  # fmt: skip
SOURCE_OF: Final = {"aws": "aws", "gcp": "gcp"}
PROVIDER_NAME: Final = {"aws": "AWS", "gcp": "Google Cloud"}


@dataclass(frozen=True)
class BillKnobs:
    """What the fleet's bill looks like beyond the telemetry's instances."""

    silent_share: float = 0.06  # GPU instances billed that never report, per reporting one
    tagged_share: float = 0.6  # instances with team and model tags
    account_share: float = 0.15  # untagged instances in the account mapped to a team
    seed: int = 11


def period_of(knobs: Knobs) -> str:
    """The billing period (``YYYY-MM``) the fleet's first day falls in."""
    return f"{knobs.start:%Y-%m}"


def instances(knobs: Knobs, bill: BillKnobs) -> pl.DataFrame:
    """Billed GPU instances: the fleet's hosts and the silent ones, with owner columns.

    A host without a cloud instance id in its telemetry is still billed under one: its telemetry
    cannot be joined to the bill, so it counts as an instance without telemetry.
    """
    rng = np.random.default_rng([bill.seed, knobs.seed])
    hosts = (
        gpus(knobs)
        .group_by(Usage.host, maintain_order=True)
        .agg(pl.col(Usage.gpu_model).first())
        .with_columns(pl.col(Usage.host).str.extract(r"-(\d+)$").cast(pl.Int64).alias("number"))
    )
    reporting = [_instance_type(host) for host in hosts.get_column(Usage.host)]
    silent = round(hosts.height * bill.silent_share)
    picks = rng.integers(0, hosts.height, size=silent)
    types = reporting + [reporting[pick] for pick in picks]
    numbers = hosts.get_column("number").to_list() + list(range(10**6, 10**6 + silent))
    count = len(types)
    tagged = rng.random(count) < bill.tagged_share
    mapped = ~tagged & (rng.random(count) < bill.account_share / (1 - bill.tagged_share))
    teams = rng.integers(0, len(TEAMS), size=count)
    shapes = [SHAPES[key] for key in types]
    return pl.DataFrame(
        {
            "resource": [f"i-{number:017x}" for number in numbers],
            "provider": [shape.provider for shape in shapes],
            "instance_type": [shape.name for shape in shapes],
            "gpu_model": [shape.gpu_model for shape in shapes],
            "gpus": [shape.gpus for shape in shapes],
            "account": np.where(mapped, ACCOUNTS[1], ACCOUNTS[0]),
            "team": [TEAMS[t] if tag else None for t, tag in zip(teams, tagged, strict=True)],
        }
    ).with_columns(
        pl.col("team").replace_strict(MODELS_BY_TEAM, default=None).alias("model"),
        (pl.col("gpus") * pl.col("gpu_model").replace_strict(GPU_HOUR_MICROS)).alias("micros"),
    )


def _instance_type(host: str) -> str:
    """The fleet shape key of a host named ``<provider>-<instance type>-<number>``."""
    name = host.split("-", 1)[1].rsplit("-", 1)[0]
    return next(key for key, shape in SHAPES.items() if shape.name == name)


def _tags(team: pl.Expr, model: pl.Expr) -> pl.Expr:
    """Tags ``team`` and ``model`` where known, else an empty list."""
    tag = pl.struct(
        pl.lit("team").alias("key"), team.alias("value"), pl.lit("user").alias("origin")
    )
    model_tag = pl.struct(
        pl.lit("model").alias("key"), model.alias("value"), pl.lit("user").alias("origin")
    )
    return (
        pl.when(team.is_not_null())
        .then(pl.concat_list(tag, model_tag))
        .otherwise(pl.concat_list(tag).list.head(0))
    )


def _money(micros: pl.Expr) -> pl.Expr:
    return (micros.cast(pl.Decimal(38, 0)) * pl.lit(0.000001).cast(pl.Decimal(38, 6))).cast(MONEY)


def _lines(fleet: pl.DataFrame) -> pl.DataFrame:
    """The lines billed for one instance-hour, per instance: service, SKU share, GPU count."""
    aws = pl.DataFrame(
        {
            "provider": ["aws"] * 3,
            "service": ["Amazon Elastic Compute Cloud", "Amazon Elastic Block Store",
                        "AWS Data Transfer"],
            "line_resource": ["instance", "volume", "instance"],
            "permille": [1000, 40, 15],
            "carries_gpus": [True, False, False],
        }
    )  # fmt: skip
    gcp = pl.DataFrame(
        {
            "provider": ["gcp"] * 3,
            "service": ["Compute Engine"] * 3,
            "line_resource": ["instance"] * 3,
            "permille": [800, 150, 50],
            "carries_gpus": [True, True, True],
        }
    )
    return fleet.join(pl.concat([aws, gcp]), on="provider")


def day_cost(fleet: pl.DataFrame, period: str, day: datetime) -> pl.DataFrame:
    """Every line billed on ``day``: instance-hours, then the day's and (day 1) month's others."""
    hours = pl.DataFrame({"start": [day + timedelta(hours=h) for h in range(24)]}).with_columns(
        pl.col("start").dt.cast_time_unit("us")
    )
    lines = _lines(fleet).join(hours, how="cross")
    resource = (
        pl.when(pl.col("line_resource") == "volume")
        .then(pl.col("resource").str.replace("^i-", "vol-"))
        .otherwise(pl.col("resource"))
    )
    hourly = lines.select(
        pl.col("provider"),
        pl.col("account"),
        pl.col("start").alias(Cost.ChargePeriodStart),
        (pl.col("start") + timedelta(hours=1)).alias(Cost.ChargePeriodEnd),
        pl.col("service").alias(Cost.ServiceName),
        resource.alias(Cost.ResourceId),
        pl.col("instance_type").alias(Cost.x_InstanceType),
        pl.when("carries_gpus").then(pl.col("gpu_model")).alias(Cost.x_GpuModel),
        pl.when("carries_gpus").then(pl.col("gpus")).cast(pl.Int32).alias(Cost.x_GpuCount),
        _money(pl.col("micros") * pl.col("permille") // 1000).alias(Cost.EffectiveCost),
        pl.lit("Usage").alias(Cost.ChargeCategory),
        _tags(pl.col("team"), pl.col("model")).alias(Cost.Tags),
    )
    return pl.concat([hourly, _overheads(fleet, day)], how="diagonal_relaxed").pipe(
        _canonical, period
    )


def _overheads(fleet: pl.DataFrame, day: datetime) -> pl.DataFrame:
    """Lines of no instance: daily support, network and storage; tax, credit, RIFee on day 1."""
    spend = int(fleet.get_column("micros").sum()) * 24
    end = day + timedelta(days=1)
    rows: list[tuple[str, str, int, str | None]] = [
        ("AWS Support (Business)", "Usage", spend // 10, None),
        ("AWS Transit Gateway", "Usage", spend // 100, None),
        ("Amazon Simple Storage Service", "Usage", spend // 50, None),
    ]
    if day.day == 1:
        rows += [
            ("Tax", "Tax", spend * 2, None),
            ("Credits", "Credit", -spend, None),
            ("Amazon Elastic Compute Cloud", "Usage", spend // 3, "RIFee"),
        ]
    frame = pl.DataFrame(
        rows, schema=["service", "category", "micros", "line_type"], orient="row"
    ).with_columns(pl.col("line_type").cast(pl.String))
    return frame.join(pl.DataFrame({"account": list(ACCOUNTS)}), how="cross").select(
        pl.lit("aws").alias("provider"),
        "account",
        pl.lit(day).dt.cast_time_unit("us").alias(Cost.ChargePeriodStart),
        pl.lit(end).dt.cast_time_unit("us").alias(Cost.ChargePeriodEnd),
        pl.col("service").alias(Cost.ServiceName),
        _money(pl.col("micros")).alias(Cost.EffectiveCost),
        pl.col("category").alias(Cost.ChargeCategory),
        pl.col("line_type").alias(Cost.x_LineItemType),
    )


def _canonical(lines: pl.DataFrame, period: str) -> pl.DataFrame:
    """Lines in the cost table's columns and types."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    provider = pl.col("provider")
    frame = lines.with_columns(
        pl.col(Cost.Tags).fill_null(pl.lit([], dtype=COST_SCHEMA[Cost.Tags])),
        provider.replace_strict(PROVIDER_NAME).alias(Cost.ProviderName),
        provider.replace_strict(SOURCE_OF).alias(Cost.x_Source),
        pl.lit("999999999999").alias(Cost.BillingAccountId),
        pl.col("account").alias(Cost.SubAccountId),
        pl.lit(start).alias(Cost.BillingPeriodStart),
        pl.lit(end).alias(Cost.BillingPeriodEnd),
        pl.col(Cost.EffectiveCost).alias(Cost.BilledCost),
        pl.lit("USD").alias(Cost.BillingCurrency),
        pl.lit(period).alias(Cost.x_BillingPeriod),
        pl.lit("Standard").alias(Cost.PricingCategory),
    )
    return frame.select(
        pl.col(name).cast(COST_SCHEMA[name])
        if name in frame.columns
        else pl.lit(None, dtype=COST_SCHEMA[name]).alias(name)
        for name in COST_SCHEMA.names()
    )


def bill_days(knobs: Knobs, bill: BillKnobs) -> Iterator[pl.DataFrame]:
    """The fleet's cost rows, day by day."""
    fleet = instances(knobs, bill)
    period = period_of(knobs)
    for offset in range(knobs.days):
        day = datetime(knobs.start.year, knobs.start.month, knobs.start.day, tzinfo=UTC)
        yield day_cost(fleet, period, day + timedelta(days=offset))


def telemetry_days(knobs: Knobs) -> Iterator[pl.DataFrame]:
    """The fleet's gpu_usage rows day by day, as the store holds them."""
    period = period_of(knobs)
    for _, frame in days_of(knobs):
        yield frame.with_columns(
            pl.lit("agent").alias(Usage.source), pl.lit(period).alias(Usage.x_BillingPeriod)
        )


def build_home(knobs: Knobs, bill: BillKnobs, home: Path) -> Path:
    """A ledger home holding the fleet's telemetry and bill, each written in one commit.

    Cached: a home with a ``ready`` marker is reused as it is.
    """
    if (home / "ready").exists():
        return home
    store = Store(home)
    where = f"x_BillingPeriod = '{period_of(knobs)}'"
    store.replace_where("gpu_usage", telemetry_days(knobs), where)
    store.replace_where("cost", bill_days(knobs, bill), where)
    (home / "ready").write_text(f"{asdict(knobs)} {asdict(bill)}\n")
    return home
