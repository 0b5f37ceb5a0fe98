"""A straightforward lazy-Polars implementation of the attribution rules, for the benchmark only.

Written the way a reader of the rules in :mod:`gpuledger.engine.attribution.attribute` would write
them with Polars — one lazy plan of joins and group-bys on the real columns, in float64, run by
the streaming engine — and not tuned. It returns team × model totals per currency (no lineage, no
settling to the nano-unit); the benchmark checks the engine against it to the cent and compares
speed and memory. Idle policies ``owner`` and ``unallocated``. Not used by gpuledger itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from gpuledger.config import Settings, canonical_team
from gpuledger.period import Period
from gpuledger.schema import IDLE_MODEL, NO_TELEMETRY_MODEL, UNALLOCATED, UNLABELLED

WORK = ["namespace", "pod", "job", "pid_command"]
ACCOUNTS = ["SubAccountId", "SubAccountName", "BillingAccountId"]


def _tag(keys: list[str]) -> pl.Expr:
    """The first non-blank value of the tag keys (case-insensitive), in order."""
    values = [
        pl.col("Tags")
        .list.eval(pl.element().filter(pl.element().struct.field("key").str.to_lowercase() == key))
        .list.first()
        .struct.field("value")
        for key in dict.fromkeys(k.casefold() for k in keys)
    ]
    present: list[pl.Expr] = [pl.when(v.str.strip_chars() != "").then(v) for v in values]
    return pl.coalesce(present or [pl.lit(None, pl.String)])


def _costs(cost: pl.LazyFrame, settings: Settings, period: str) -> pl.LazyFrame:
    """The period's cost rows with amount, instance, pool and owner (team, model)."""
    accounts = {a: t for t, config in settings.teams.items() for a in config.accounts}
    accounts |= {a: canonical_team(settings, t) or t for a, t in settings.rules.account_map.items()}
    category, line = pl.col("ChargeCategory"), pl.col("x_LineItemType")
    nature = (
        pl.when(category.is_in(["Tax", "Credit", "Adjustment"]))
        .then(category.str.to_lowercase())
        .when((category == "Purchase") | line.is_in(["RIFee", "SavingsPlanRecurringFee"]))
        .then(pl.lit("commitment"))
        .otherwise(pl.lit("usage"))
    )
    pool: pl.Expr = pl.lit(None, pl.String)
    for rule in reversed(settings.rules.shared):
        hit = pl.lit(True)
        hit &= pl.col("ServiceName").is_in(rule.services) if rule.services else True
        hit &= category.is_in(rule.charge_categories) if rule.charge_categories else True
        hit &= (
            pl.any_horizontal(pl.col(c).is_in(rule.accounts) for c in ACCOUNTS)
            if rule.accounts
            else True
        )
        hit &= pl.col("_nature").is_in(rule.cost_types) if rule.cost_types else True
        named = rule.services or rule.charge_categories or rule.accounts or rule.cost_types
        pool = pl.when(hit.fill_null(False) & bool(named)).then(pl.lit(rule.name)).otherwise(pool)
    regex_team: pl.Expr = pl.lit(None, pl.String)
    regex_model: pl.Expr = pl.lit(None, pl.String)
    for regex in reversed(settings.rules.regex):
        matched = pl.col(regex.field).str.contains(regex.pattern).fill_null(False)
        regex_team = (
            pl.when(matched)
            .then(pl.lit(canonical_team(settings, regex.team)))
            .otherwise(regex_team)
        )
        regex_model = pl.when(matched).then(pl.lit(regex.model, pl.String)).otherwise(regex_model)
    by_account = (
        pl.col(c).replace_strict(accounts, default=None, return_dtype=pl.String) for c in ACCOUNTS
    )
    team = pl.coalesce(_team(_tag(settings.tags.team), settings), *by_account, regex_team)
    model = pl.coalesce(_tag(settings.tags.model), regex_model)
    return (
        cost.filter(pl.col("x_BillingPeriod") == period)
        .with_columns(
            pl.col(settings.reporting.cost_basis).cast(pl.Float64).fill_null(0.0).alias("amount"),
            pl.coalesce("x_ParentResourceId", "ResourceId").alias("ResourceId"),
            pl.col("BillingCurrency").alias("currency"),
            nature.alias("_nature"),
        )
        .with_columns(
            pool.alias("pool"),
            team.fill_null(UNALLOCATED).alias("owner_team"),
            model.fill_null(UNLABELLED).alias("owner_model"),
        )
    )


def _team(name: pl.Expr, settings: Settings) -> pl.Expr:
    """A tag or label value as a team: configured names and aliases (any case), else normalized."""
    known = {a.casefold(): t for t, c in settings.teams.items() for a in (t, *c.aliases)}
    key = name.str.strip_chars().str.to_lowercase()
    own = key.str.replace_all(r"[\s_]+", "-")
    return pl.when(key != "").then(key.replace_strict(known, default=own, return_dtype=pl.String))


def _hourly(
    usage: pl.LazyFrame, settings: Settings, start: datetime, end: datetime
) -> pl.LazyFrame:
    """GPU-seconds per (instance, hour, work or idle, team label, model label)."""
    is_work = pl.any_horizontal(pl.col(c).is_not_null() for c in WORK)
    activity = (
        pl.when(is_work)
        .then(pl.col("active_seconds").fill_null(0) * pl.col("sm_util").fill_null(0))
        .otherwise(0.0)
    )
    bucket = ["ResourceId", "gpu_uuid", "bucket_start"]
    total, workloads = pl.col("bucket_activity"), pl.col("workloads")
    share = (
        pl.when(pl.col("is_work"))
        .then(pl.when(total > 0).then(pl.col("activity") / total).otherwise(1 / workloads))
        .when(workloads == 0)
        .then(1 / pl.col("rows"))
        .otherwise(0.0)
    )
    slices = pl.col("mig_profile").str.extract(r"^(\d+)g\.").cast(pl.Float64)
    whole = pl.when(pl.col("gpu_model").str.contains("(?i)a30")).then(4.0).otherwise(7.0)
    slot = (
        pl.when(pl.col("mig_profile").is_null())
        .then(1.0)
        .otherwise((slices / whole).clip(0, 1).fill_null(1.0))
    )
    rows = usage.filter(
        pl.col("bucket_start").is_between(start, end, closed="left")
        & pl.col("ResourceId").is_not_null()
    ).with_columns(is_work.alias("is_work"), activity.alias("activity"))
    buckets = rows.group_by(bucket).agg(
        pl.col("activity").sum().alias("bucket_activity"),
        pl.col("is_work").sum().alias("workloads"),
        pl.len().alias("rows"),
    )
    return (
        rows.join(buckets, on=bucket)
        .with_columns((pl.col("bucket_seconds") * slot * share).alias("gpu_seconds"))
        .group_by(
            "ResourceId",
            pl.col("bucket_start").dt.truncate("1h").alias("hour"),
            "is_work",
            "team",
            "model",
        )
        .agg(pl.col("gpu_seconds").sum())
        .with_columns(_team(pl.col("team"), settings))
    )


def attribute_totals(
    cost: pl.LazyFrame, usage: pl.LazyFrame, settings: Settings, period: str
) -> pl.DataFrame:
    """Team × model × currency totals of ``period`` by the engine's rules, in float64."""
    if settings.reporting.idle == "shared":
        raise ValueError("the Polars reference implements idle = owner and unallocated only")
    start, end = Period.parse(period).bounds()
    rows = _costs(cost, settings, period).with_row_index("row")
    hourly = _hourly(usage, settings, start, end).collect(engine="streaming").lazy()  # read 5×
    direct = rows.filter(pl.col("pool").is_null())
    measured = direct.join(hourly.select("ResourceId").unique(), on="ResourceId", how="semi")
    owned = direct.join(hourly.select("ResourceId").unique(), on="ResourceId", how="anti")
    seen = (
        hourly.group_by("ResourceId", "hour")
        .agg(pl.col("gpu_seconds").sum())
        .group_by("ResourceId")
        .agg((pl.col("gpu_seconds").max() / 3600 - 1e-9).ceil().clip(1).alias("seen"))
    )
    gpus = (
        measured.group_by("ResourceId")
        .agg(pl.col("x_GpuCount").max())
        .join(seen, on="ResourceId", how="left")
        .select(
            "ResourceId",
            pl.coalesce(
                pl.when(pl.col("x_GpuCount") > 0).then(pl.col("x_GpuCount")), "seen", 1.0
            ).alias("gpus"),
        )
    )
    share = pl.col("gpu_seconds") / (pl.col("gpus") * 3600)
    fractions = (
        hourly.filter("is_work")
        .join(gpus, on="ResourceId")
        .with_columns(
            share.truediv(pl.max_horizontal(share.sum().over("ResourceId", "hour"), 1.0)).alias(
                "fraction"
            )
        )
    )
    start_, end_ = pl.col("ChargePeriodStart"), pl.col("ChargePeriodEnd")
    hour = pl.col("hour")
    overlap = (
        pl.min_horizontal(end_, hour + timedelta(hours=1)) - pl.max_horizontal(start_, hour)
    ).dt.total_seconds()
    length = (end_ - start_).dt.total_seconds()
    hours = (
        measured.with_columns(
            pl.datetime_ranges(
                start_.dt.truncate("1h"),
                pl.max_horizontal(end_ - timedelta(microseconds=1), start_),
                "1h",
            ).alias("hour")
        )
        .explode("hour")
        .with_columns(pl.when(length > 0).then(overlap / length).otherwise(1.0).alias("weight"))
        .join(
            hourly.select("ResourceId", "hour")
            .unique()
            .with_columns(pl.lit(True).alias("reported")),
            on=["ResourceId", "hour"],
            how="left",
        )
    )
    used = (
        hours.filter("reported")
        .join(fractions, on=["ResourceId", "hour"])
        .select(
            "row",
            "currency",
            pl.coalesce("team", "owner_team").alias("team"),
            pl.coalesce("model", "owner_model").alias("model"),
            (pl.col("amount") * pl.col("weight") * pl.col("fraction")).alias("amount"),
        )
    )
    unreported = hours.filter(pl.col("reported").is_null()).select(
        "row",
        "currency",
        pl.col("owner_team").alias("team"),
        pl.lit(NO_TELEMETRY_MODEL).alias("model"),
        (pl.col("amount") * pl.col("weight")).alias("amount"),
    )
    known = pl.concat([used, unreported])
    idle_team = pl.col("owner_team") if settings.reporting.idle == "owner" else pl.lit(UNALLOCATED)
    idle = measured.join(
        known.group_by("row").agg(pl.col("amount").sum().alias("used")), on="row", how="left"
    ).select(
        "currency",
        idle_team.alias("team"),
        pl.lit(IDLE_MODEL).alias("model"),
        (pl.col("amount") - pl.col("used").fill_null(0.0)).alias("amount"),
    )
    own = owned.select(
        "currency",
        pl.col("owner_team").alias("team"),
        pl.col("owner_model").alias("model"),
        "amount",
    )
    team_direct = pl.concat([own, known.drop("row"), idle]).collect(engine="streaming")
    return (
        pl.concat(
            [team_direct, _pools(rows.filter(pl.col("pool").is_not_null()), team_direct, settings)]
        )
        .group_by("currency", "team", "model")
        .agg(pl.col("amount").sum())
    )


def _pools(pooled: pl.LazyFrame, direct: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Each pool's rows over teams: proportional to direct cost, even, or fixed weights."""
    totals = (
        direct.filter(pl.col("team") != UNALLOCATED)
        .group_by("currency", "team")
        .agg(pl.col("amount").sum())
        .filter(pl.col("amount") > 0)
    )
    sums = pooled.group_by("pool", "currency").agg(pl.col("amount").sum()).collect()
    parts = []
    for rule in settings.rules.shared:
        if rule.split == "fixed":
            weights: dict[str, float] = {}
            for name, weight in rule.weights.items():
                weights[canonical_team(settings, name) or name] = (
                    weights.get(canonical_team(settings, name) or name, 0.0) + weight
                )
            shares = pl.DataFrame({"team": list(weights), "share": list(weights.values())}).filter(
                pl.col("share") > 0
            )
            shares = (
                sums.select("currency")
                .unique()
                .join(shares.with_columns(pl.col("share") / pl.col("share").sum()), how="cross")
            )
        else:
            base = pl.col("amount") if rule.split == "proportional" else pl.col("amount").sign()
            shares = totals.select(
                "currency", "team", (base / base.sum().over("currency")).alias("share")
            )
        split = sums.filter(pl.col("pool") == rule.name).join(shares, on="currency", how="left")
        parts.append(
            split.select(
                "currency",
                pl.col("team").fill_null(UNALLOCATED),
                pl.lit(UNLABELLED).alias("model"),
                (pl.col("amount") * pl.col("share").fill_null(1.0)).alias("amount"),
            )
        )
    return pl.concat(parts) if parts else direct.head(0)
