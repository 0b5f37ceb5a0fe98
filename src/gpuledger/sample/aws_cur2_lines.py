"""The sample company's AWS line items, one frame per kind, before CUR 2.0 spelling.

Sample data, AWS: :mod:`gpuledger.sample.aws_cur2` turns these frames into the CUR 2.0 export.
Each function returns the same intermediate columns (:data:`LINE_SCHEMA`), vectorized over the
company's instance-hours, so benchmark scales with millions of lines build in seconds.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.period import Period
from gpuledger.schema import MONEY, UTC_TIME, make_schema

LINE_SCHEMA: Final = make_schema(
    {
        "payer": pl.String,
        "payer_name": pl.String,
        "account": pl.String,
        "account_name": pl.String,
        "region": pl.String,
        "zone": pl.String,
        "resource_id": pl.String,
        "line_type": pl.String,
        "product_code": pl.String,
        "product_name": pl.String,
        "usage_type": pl.String,
        "operation": pl.String,
        "instance_type": pl.String,
        "start": UTC_TIME,
        "end": UTC_TIME,
        "month": pl.String,
        "amount": pl.Float64,
        "unit": pl.String,
        "rate": MONEY,
        "unblended": MONEY,
        "public_on_demand": MONEY,
        "pricing_term": pl.String,
        "description": pl.String,
        "sp_arn": pl.String,
        "sp_effective": MONEY,
        "sp_total_commitment": MONEY,
        "sp_used_commitment": MONEY,
        "ri_arn": pl.String,
        "ri_effective": MONEY,
        "ri_unused_upfront": MONEY,
        "ri_unused_recurring": MONEY,
        "team_tag": pl.String,
        "model_tag": pl.String,
        "split_parent": pl.String,
        "split_cost": MONEY,
        "split_unused": MONEY,
    }
)

EC2: Final = ("AmazonEC2", "Amazon Elastic Compute Cloud")
# service name on the company's books → (product code, usage type) on the bill
SERVICES: Final = {
    "Amazon Elastic Block Store": ("AmazonEC2", "EBS:VolumeUsage.gp3"),
    "AWS Data Transfer": ("AWSDataTransfer", "DataTransfer-Out-Bytes"),
    "AWS Transit Gateway": ("AmazonVPC", "TransitGateway-Hours"),
    "AWS Support (Business)": ("AWSSupportBusiness", "Dollar"),
    "Amazon Elastic Compute Cloud": ("AmazonEC2", "BoxUsage"),
}
LINE_TYPES: Final = {
    "usage": "Usage",
    "storage": "Usage",
    "network": "Usage",
    "support": "Fee",
    "tax": "Tax",
    "credit": "Credit",
    "refund": "Refund",
}


def _money(value: object) -> pl.Expr:
    return pl.lit(value).cast(MONEY)


def savings_plan_arn(payer: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit("arn:aws:savingsplans::"), payer, pl.lit(":savingsplan/"), payer)


def _common(frame: pl.DataFrame) -> pl.DataFrame:
    """Account, place and tag columns every instance-hour line shares."""
    return frame.with_columns(
        pl.col("billing_account_id").alias("payer"),
        pl.col("billing_account_name").alias("payer_name"),
        pl.col("sub_account_id").alias("account"),
        pl.col("sub_account_name").alias("account_name"),
        pl.col("hour_start").alias("start"),
        pl.col("hour_start").dt.offset_by("1h").alias("end"),
        pl.lit(EC2[0]).alias("product_code"),
        pl.lit(EC2[1]).alias("product_name"),
        pl.lit(1.0).alias("amount"),
        pl.lit("Hrs").alias("unit"),
    )


def instance_lines(hours: pl.DataFrame) -> pl.DataFrame:
    """One usage line per instance-hour, plus the negation line of Savings-Plan-covered hours."""
    kind = pl.col("pricing")
    on_demand, effective = pl.col("on_demand_rate"), pl.col("effective_rate")
    spot = kind == "spot"
    usage = _common(hours).with_columns(
        pl.when(kind == "savings_plan")
        .then(pl.lit("SavingsPlanCoveredUsage"))
        .when(kind == "reserved")
        .then(pl.lit("DiscountedUsage"))
        .otherwise(pl.lit("Usage"))
        .alias("line_type"),
        pl.concat_str(
            pl.when(spot).then(pl.lit("SpotUsage:")).otherwise(pl.lit("BoxUsage:")),
            "instance_type",
        ).alias("usage_type"),
        pl.when(spot)
        .then(pl.lit("RunInstances:SV001"))
        .otherwise(pl.lit("RunInstances"))
        .alias("operation"),
        pl.when(kind == "reserved")
        .then(_money(0))
        .when(spot)
        .then(effective)
        .otherwise(on_demand)
        .alias("unblended"),
        on_demand.alias("public_on_demand"),
        pl.when(spot)
        .then(pl.lit("Spot"))
        .when(kind == "reserved")
        .then(pl.lit("Reserved"))
        .otherwise(pl.lit("OnDemand"))
        .alias("pricing_term"),
        pl.concat_str(
            pl.lit("Linux/UNIX "), kind, pl.lit(" "), "instance_type", pl.lit(" hour")
        ).alias("description"),
        pl.when(kind == "savings_plan")
        .then(savings_plan_arn(pl.col("billing_account_id")))
        .alias("sp_arn"),
        pl.when(kind == "savings_plan").then(effective).alias("sp_effective"),
        pl.when(kind == "reserved").then(_reservation_arn()).alias("ri_arn"),
        pl.when(kind == "reserved").then(effective).alias("ri_effective"),
    )
    usage = usage.with_columns(pl.col("unblended").alias("rate"))
    negation = usage.filter(kind == "savings_plan").with_columns(
        pl.lit("SavingsPlanNegation").alias("line_type"),
        (-on_demand).alias("unblended"),
        (-on_demand).alias("rate"),
        _money(0).alias("public_on_demand"),
        pl.lit(None, dtype=MONEY).alias("sp_effective"),
        pl.concat_str(pl.lit("SavingsPlanNegation used by AccountId : "), "account").alias(
            "description"
        ),
    )
    return pl.concat([_with_missing(usage), _with_missing(negation)])


def _reservation_arn() -> pl.Expr:
    return pl.concat_str(
        pl.lit("arn:aws:ec2:"),
        "region",
        pl.lit(":"),
        "sub_account_id",
        pl.lit(":reserved-instances/"),
        pl.col("resource_id").str.slice(2),
    )


def savings_plan_fees(hours: pl.DataFrame, months: list[str]) -> pl.DataFrame:
    """The plan's hourly commitment, one line per hour, sized to the busiest covered hour."""
    covered = hours.filter(pl.col("pricing") == "savings_plan")
    if covered.is_empty():
        return pl.DataFrame(schema=LINE_SCHEMA)
    owner = covered.row(0, named=True)
    used = covered.group_by("hour_start").agg(pl.col("effective_rate").sum().alias("used"))
    commitment = used.get_column("used").max()
    frames = []
    for month in months:
        start, end = Period.parse(month).bounds()
        frames.append(
            pl.DataFrame(
                {"hour_start": pl.datetime_range(start, end, "1h", closed="left", eager=True)}
            ).with_columns(pl.lit(month).alias("month"))
        )
    fee_hours = (
        pl.concat(frames)
        .with_columns(pl.col("hour_start").cast(UTC_TIME))
        .join(used, on="hour_start", how="left")
    )
    return _with_missing(
        _common(
            fee_hours.with_columns(
                *(pl.lit(owner[c]).alias(c) for c in _ACCOUNT_COLUMNS),
            )
        ).with_columns(
            pl.lit("SavingsPlanRecurringFee").alias("line_type"),
            pl.lit("ComputeSavingsPlans").alias("product_code"),
            pl.lit("Savings Plans for AWS Compute usage").alias("product_name"),
            pl.lit("ComputeSP:1yrNoUpfront").alias("usage_type"),
            pl.lit(owner["region"]).alias("region"),
            savings_plan_arn(pl.lit(owner["billing_account_id"])).alias("sp_arn"),
            pl.lit(None, dtype=pl.String).alias("resource_id"),
            _money(commitment).alias("unblended"),
            _money(commitment).alias("rate"),
            _money(commitment).alias("sp_total_commitment"),
            pl.col("used").fill_null(_money(0)).cast(MONEY).alias("sp_used_commitment"),
            pl.lit("1 year No Upfront Compute Savings Plan").alias("description"),
        )
    )


_ACCOUNT_COLUMNS: Final = (
    "billing_account_id",
    "billing_account_name",
    "sub_account_id",
    "sub_account_name",
)


def reservation_fees(
    instances: pl.DataFrame, hours: pl.DataFrame, months: list[str]
) -> pl.DataFrame:
    """One RIFee per reservation and month; the hours its instance did not run are unused."""
    reserved = instances.filter(pl.col("pricing") == "reserved")
    if reserved.is_empty():
        return pl.DataFrame(schema=LINE_SCHEMA)
    used = hours.group_by("resource_id", "month").agg(pl.len().alias("used_hours"))
    frames = []
    for month in months:
        start, end = Period.parse(month).bounds()
        month_hours = int((end - start).total_seconds() // 3600)
        frames.append(
            reserved.with_columns(
                pl.lit(month).alias("month"),
                pl.lit(start).cast(UTC_TIME).alias("hour_start"),
                pl.lit(month_hours).alias("month_hours"),
            )
        )
    fees = pl.concat(frames).join(used, on=["resource_id", "month"], how="left")
    rate = pl.col("effective_rate")
    unused = pl.col("month_hours") - pl.col("used_hours").fill_null(0)
    return _with_missing(
        _common(fees).with_columns(
            month_start().dt.offset_by("1mo").alias("end"),
            pl.lit("RIFee").alias("line_type"),
            pl.concat_str(pl.lit("HeavyUsage:"), "instance_type").alias("usage_type"),
            pl.lit("RunInstances").alias("operation"),
            pl.col("month_hours").cast(pl.Float64).alias("amount"),
            (rate * pl.col("month_hours")).cast(MONEY).alias("unblended"),
            rate.alias("rate"),
            _reservation_arn().alias("ri_arn"),
            _money(0).alias("ri_unused_upfront"),
            (rate * unused).cast(MONEY).alias("ri_unused_recurring"),
            pl.lit(None, dtype=pl.String).alias("resource_id"),
            pl.concat_str(pl.lit("No Upfront reservation fee, "), "instance_type").alias(
                "description"
            ),
        )
    )


def other_lines(charges: pl.DataFrame, instances: pl.DataFrame) -> pl.DataFrame:
    """Disks, transfer, CPU side-cars, support, tax, credits and refunds as line items."""
    names = instances.select(
        pl.col("sub_account_id").alias("account"), pl.col("sub_account_name").alias("account_name")
    ).unique()
    payers = instances.select(
        pl.col("billing_account_id").alias("payer"),
        pl.col("billing_account_name").alias("payer_name"),
    ).unique()
    service = pl.col("service_name")
    kind = pl.col("charge_kind")
    monthly_start = month_start()
    monthly_end = month_start().dt.offset_by("1mo")
    is_cpu = pl.col("instance_type").is_not_null()
    lines = charges.rename(
        {"billing_account_id": "payer", "sub_account_id": "account"}
    ).with_columns(
        pl.coalesce("hour_start", monthly_start).alias("start"),
        pl.when(pl.col("hour_start").is_null())
        .then(monthly_end)
        .otherwise(pl.col("hour_start").dt.offset_by("1h"))
        .alias("end"),
        kind.replace_strict(LINE_TYPES, return_dtype=pl.String).alias("line_type"),
        service.replace_strict(
            {k: v[0] for k, v in SERVICES.items()}, return_dtype=pl.String
        ).alias("product_code"),
        pl.when(is_cpu)
        .then(pl.concat_str(pl.lit("BoxUsage:"), "instance_type"))
        .otherwise(
            service.replace_strict({k: v[1] for k, v in SERVICES.items()}, return_dtype=pl.String)
        )
        .alias("usage_type"),
        service.alias("product_name"),
        pl.col("usage_amount").fill_null(1.0).alias("amount"),
        pl.col("usage_unit").alias("unit"),
        pl.col("amount").alias("unblended"),
        pl.col("amount").alias("rate"),
        pl.when(kind.is_in(["usage", "storage", "network"]))
        .then(pl.col("amount"))
        .otherwise(_money(0))
        .alias("public_on_demand"),
        pl.when(kind.is_in(["usage", "storage", "network"]))
        .then(pl.lit("OnDemand"))
        .alias("pricing_term"),
        pl.lit("us-east-1").alias("region"),
        pl.lit(None, dtype=pl.String).alias("model_tag"),
    )
    return _with_missing(lines.join(names, on="account", how="left").join(payers, on="payer"))


# The sample's EKS GPU node group: the untagged speech inference node (g5.12xlarge) is a node of
# cluster acme-prod running pods of two teams' namespaces. Per pod: namespace, name, and the share
# of the node's hourly cost it used and was given of the unused capacity (AWS splits the unused
# part in proportion to use: 20 % unused here).
EKS_CLUSTER: Final = "acme-prod"
EKS_NODE: Final = {"instance_type": "g5.12xlarge", "owner_team": "speech"}
EKS_PODS: Final = (
    ("speech-asr", "asr-server-0", "0.55", "0.1375"),
    ("nlp-eval", "eval-runner-0", "0.25", "0.0625"),
)


def eks_split_lines(hours: pl.DataFrame) -> pl.DataFrame:
    """EKS split cost allocation lines of the node group: one per pod and node-hour, worth 0
    themselves, the pod's split and unused cost of its node (the parent) beside."""
    node = (
        pl.all_horizontal(pl.col(k) == v for k, v in EKS_NODE.items())
        & pl.col("team_tag").is_null()
    )
    node_hours = _common(hours.filter(node))
    pods = pl.DataFrame(
        EKS_PODS, schema=["namespace", "pod", "used_share", "unused_share"], orient="row"
    )
    lines = node_hours.drop("namespace").join(pods, how="cross")
    pod_arn = pl.concat_str(
        pl.lit("arn:aws:eks:"),
        "region",
        pl.lit(":"),
        "sub_account_id",
        pl.lit(f":pod/{EKS_CLUSTER}/"),
        "namespace",
        pl.lit("/"),
        "pod",
        pl.lit("/"),
        pl.concat_str("resource_id", "pod").hash(seed=5).cast(pl.String),
    )
    hourly = pl.col("effective_rate").cast(MONEY)
    return _with_missing(
        lines.with_columns(
            pod_arn.alias("resource_id"),
            pl.col("resource_id").alias("split_parent"),
            pl.lit("Usage").alias("line_type"),
            pl.lit("USE1-EKS-EC2-vCPU-Hours").alias("usage_type"),
            pl.lit("EKSPod-EC2").alias("operation"),
            pl.lit("vCPU-Hours").alias("unit"),
            pl.lit(None, dtype=pl.String).alias("instance_type"),
            _money(0).alias("unblended"),
            _money(0).alias("rate"),
            _money(0).alias("public_on_demand"),
            (hourly * pl.col("used_share").cast(MONEY)).cast(MONEY).alias("split_cost"),
            (hourly * pl.col("unused_share").cast(MONEY)).cast(MONEY).alias("split_unused"),
            pl.lit(None, dtype=pl.String).alias("team_tag"),
            pl.lit(None, dtype=pl.String).alias("model_tag"),
            pl.concat_str(pl.lit("EKS split cost of pod "), "namespace", pl.lit("/"), "pod").alias(
                "description"
            ),
        )
    )


def _with_missing(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in LINE_SCHEMA, absent columns as nulls."""
    return frame.select(
        pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in LINE_SCHEMA.items()
    )


def month_start() -> pl.Expr:
    """First instant of the ``month`` column's month, UTC."""
    return pl.concat_str("month", pl.lit("-01")).str.to_datetime(
        "%Y-%m-%d", time_unit="us", time_zone="UTC"
    )
