"""Rules 2 and 3 of the engine: cost of GPU instances with telemetry → workloads and idle time.

The cost rows arrive with their charge period; telemetry arrives already reduced to GPU-seconds per
(instance, hour, workload) by :mod:`gpuledger.engine.attribution.gpu_weights`. Each cost row is spread over
the hours of its own charge period. An hour in which the instance sent no telemetry at all (no
bucket, idle or busy) goes whole to the owner as *no telemetry*; every other hour is split over
its workloads by their GPU-seconds over the instance's GPU-seconds, and whatever no workload used
becomes idle, assigned by the idle policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.attribution import gpu_weights as gw
from gpuledger.engine.attribution.money import AMOUNT, AMOUNT_F, COST, PART, settle
from gpuledger.engine.attribution.rules import (
    NATURE,
    OWNER_MODEL,
    OWNER_RULE,
    OWNER_TEAM,
    OWNER_WORKLOAD,
    canonical_teams,
    cost_type,
)
from gpuledger.engine.attribution.sums import exact_sum
from gpuledger.schema import IDLE_MODEL, NO_TELEMETRY_MODEL, UNALLOCATED, Alloc, Cost, Usage

GPUS: Final = "_gpus"
GPU_HOURS: Final = "_gpu_hours"
FRACTION: Final = "_fraction"
SOURCE: Final = "_source"  # number of a source group: allocation source columns + owner
REPORTED: Final = "_reported"  # whether the instance sent any telemetry bucket in the hour
WEIGHT: Final = "_weight"  # the hour's share of its cost row
OWNER: Final = (OWNER_TEAM, OWNER_RULE, OWNER_MODEL, OWNER_WORKLOAD, NATURE)
LABELS: Final = (Alloc.team, Alloc.model, Alloc.workload, Alloc.cost_type, Alloc.rule)

# An idle remainder smaller than this share of its amount is float noise, not idle time.
_IDLE_NOISE: Final = 1e-9


def instance_gpus(rows: pl.LazyFrame, hourly: pl.LazyFrame) -> pl.LazyFrame:
    """GPU count per instance: its largest ``x_GpuCount``, else the GPUs its telemetry covered."""
    billed = rows.group_by(gw.RESOURCE).agg(pl.col(GPUS).max())
    seen = gw.gpus_seen(hourly)
    return billed.join(seen, on=gw.RESOURCE, how="left").select(
        gw.RESOURCE,
        pl.coalesce(
            pl.when(pl.col(GPUS) > 0).then(pl.col(GPUS).cast(pl.Float64)),
            pl.col("_gpus_seen"),
            pl.lit(1.0),
        ).alias(GPUS),
    )


def hour_fractions(hourly: pl.LazyFrame, gpus: pl.LazyFrame) -> pl.LazyFrame:
    """Each workload's share of its instance-hour: GPU-seconds / (GPUs × 3600), capped at 1 in all.

    Shares of one hour are scaled down together when telemetry reports more GPU time than the
    instance has, so an hour is never split into more than its cost.
    """
    share = pl.col(gw.GPU_SECONDS) / (pl.col(GPUS) * 3600.0)
    total = exact_sum(share).over(gw.RESOURCE, gw.HOUR)
    return (
        hourly.filter(pl.col(gw.IS_WORK))
        .join(gpus, on=gw.RESOURCE, how="inner")
        .select(
            gw.RESOURCE,
            gw.HOUR,
            gw.LABELS_ID,
            pl.when(total > 1.0).then(share / total).otherwise(share).alias(FRACTION),
        )
    )


def charge_hours(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Cost rows once per hour of their charge period, with the hour's share of the row.

    A row billed per day or month is weighed over each hour it covers (by overlap), a point-in-time
    row (zero length) falls entirely in its hour. Rows of exactly one whole hour — nearly all of
    them — are their own hour, weight 1, without building a list of hours.
    """
    start, end = pl.col(Cost.ChargePeriodStart), pl.col(Cost.ChargePeriodEnd)
    hourly = (end - start == timedelta(hours=1)) & (start.dt.truncate("1h") == start)
    last = pl.max_horizontal(end - timedelta(microseconds=1), start)
    hour = pl.col(gw.HOUR)
    overlap = pl.min_horizontal(end, hour + timedelta(hours=1)) - pl.max_horizontal(start, hour)
    length = (end - start).dt.total_seconds()
    whole = rows.filter(hourly).with_columns(start.alias(gw.HOUR), pl.lit(1.0).alias(WEIGHT))
    spread = (
        rows.filter(~hourly)
        .with_columns(pl.datetime_ranges(start.dt.truncate("1h"), last, "1h").alias(gw.HOUR))
        .explode(gw.HOUR)
        .with_columns(
            pl.when(length > 0)
            .then(overlap.dt.total_seconds() / length)
            .otherwise(1.0)
            .alias(WEIGHT)
        )
    )
    return pl.concat([whole, spread], how="vertical")


def reported_charge_hours(rows: pl.LazyFrame, hourly: pl.LazyFrame) -> pl.DataFrame:
    """:func:`charge_hours` of the cost rows, each hour marked :data:`REPORTED` or not.

    An instance-hour is reported when the instance sent at least one telemetry bucket (of a
    workload or of idle time) starting in it; the granularity is the instance-hour, so an hour
    with some buckets is reported even if some of its GPUs or minutes have none.
    """
    reported = (
        hourly.select(gw.RESOURCE, gw.HOUR).unique().with_columns(pl.lit(True).alias(REPORTED))
    )
    return (
        charge_hours(
            rows.select(
                SOURCE,
                gw.RESOURCE,
                Cost.ChargePeriodStart,
                Cost.ChargePeriodEnd,
                AMOUNT_F,
                GPU_HOURS,
            )
        )
        .join(reported, on=[gw.RESOURCE, gw.HOUR], how="left")
        .with_columns(pl.col(REPORTED).fill_null(False))
        .select(SOURCE, gw.RESOURCE, gw.HOUR, WEIGHT, AMOUNT_F, GPU_HOURS, REPORTED)
        .collect(engine="streaming")
    )


def workload_pieces(
    hours: pl.LazyFrame,
    fractions: pl.LazyFrame,
    sources: pl.LazyFrame,
    labels: pl.LazyFrame,
    settings: Settings,
) -> pl.LazyFrame:
    """Rule 2: the float part of each source group each workload used, with its labels.

    ``hours`` are the reported charge hours (:func:`reported_charge_hours`); ``labels`` maps
    each :data:`~gpuledger.engine.attribution.gpu_weights.LABELS_ID` to its labels.
    """
    factor = pl.col(WEIGHT) * pl.col(FRACTION)
    used = (
        hours.join(fractions, on=[gw.RESOURCE, gw.HOUR], how="inner")
        .group_by(SOURCE, gw.LABELS_ID)
        .agg(
            exact_sum(pl.col(AMOUNT_F) * factor).alias(PART),
            exact_sum(pl.col(GPU_HOURS) * factor).alias(Alloc.gpu_hours),
        )
        .join(labels, on=gw.LABELS_ID, how="left")
        .join(sources.select(SOURCE, *OWNER), on=SOURCE, how="left")
    )
    team = canonical_teams(pl.col(gw.TEAM_LABEL), settings)
    resolved = pl.coalesce(team, pl.col(OWNER_TEAM))
    return used.select(
        SOURCE,
        resolved.alias(Alloc.team),
        pl.coalesce(pl.col(gw.MODEL_LABEL), pl.col(OWNER_MODEL)).alias(Alloc.model),
        pl.coalesce(pl.col(gw.WORKLOAD), pl.col(OWNER_WORKLOAD)).alias(Alloc.workload),
        cost_type(resolved, "usage").alias(Alloc.cost_type),
        pl.when(team.is_not_null())
        .then(pl.lit("telemetry"))
        .otherwise(pl.col(OWNER_RULE))
        .alias(Alloc.rule),
        PART,
        Alloc.gpu_hours,
    )


def no_telemetry_pieces(hours: pl.LazyFrame, sources: pl.LazyFrame) -> pl.LazyFrame:
    """The hours without telemetry of each source group, to its owner (rule 4) as-is.

    ``hours`` are the unreported charge hours (:func:`reported_charge_hours`). Model
    ``(no telemetry)``, cost type ``no_telemetry`` (non-usage rows keep theirs), rule
    ``no-telemetry:owner``: the hour's use is unknown, so it is neither a workload's nor idle.
    """
    weight = pl.col(WEIGHT)
    return (
        hours.group_by(SOURCE)
        .agg(
            exact_sum(pl.col(AMOUNT_F) * weight).alias(PART),
            exact_sum(pl.col(GPU_HOURS) * weight).alias(Alloc.gpu_hours),
        )
        .join(sources.select(SOURCE, *OWNER), on=SOURCE, how="left")
        .select(
            SOURCE,
            pl.col(OWNER_TEAM).alias(Alloc.team),
            pl.lit(NO_TELEMETRY_MODEL).alias(Alloc.model),
            pl.lit(None, dtype=pl.String).alias(Alloc.workload),
            cost_type(pl.col(OWNER_TEAM), "no_telemetry").alias(Alloc.cost_type),
            pl.lit("no-telemetry:owner").alias(Alloc.rule),
            PART,
            Alloc.gpu_hours,
        )
    )


def idle_users(hourly: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """For ``idle = "shared"``: per instance, each labelled team's share of its GPU-seconds."""
    return (
        hourly.filter(pl.col(gw.IS_WORK))
        .with_columns(canonical_teams(pl.col(gw.TEAM_LABEL), settings).alias("_user"))
        .filter(pl.col("_user").is_not_null())
        .group_by(Usage.ResourceId, "_user")
        .agg(exact_sum(pl.col(gw.GPU_SECONDS)).alias(gw.GPU_SECONDS))
        .filter(pl.col(gw.GPU_SECONDS) > 0)
        .with_columns(
            (
                pl.col(gw.GPU_SECONDS) / exact_sum(pl.col(gw.GPU_SECONDS)).over(Usage.ResourceId)
            ).alias("_user_share")
        )
        .drop(gw.GPU_SECONDS)
    )


def beyond_noise(remainder: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """``remainder`` of ``whole``, or 0 when it is float noise (which would otherwise show up
    as a line of a few 1e-16 GPU-hours, present or not depending on the order of a sum)."""
    return pl.when(remainder.abs() <= whole.abs() * _IDLE_NOISE).then(0.0).otherwise(remainder)


def idle_pieces(
    sources: pl.LazyFrame, used: pl.LazyFrame, hourly: pl.LazyFrame, settings: Settings
) -> pl.LazyFrame:
    """Rule 3: what no workload used in a reported hour, per source group, given to whom the idle
    policy says. ``used`` holds the workload and no-telemetry pieces."""
    consumed = used.group_by(SOURCE).agg(
        exact_sum(pl.col(PART)).alias("_used"),
        exact_sum(pl.col(Alloc.gpu_hours)).alias("_used_hours"),
    )
    remainder = pl.col(AMOUNT_F) - pl.col("_used").fill_null(0.0)
    idle_hours = pl.col(GPU_HOURS) - pl.col("_used_hours").fill_null(0.0)
    idle = sources.join(consumed, on=SOURCE, how="left").select(
        SOURCE,
        Alloc.ResourceId,
        *OWNER,
        beyond_noise(remainder, pl.col(AMOUNT_F)).alias(PART),
        beyond_noise(idle_hours, pl.col(GPU_HOURS)).clip(lower_bound=0.0).alias(Alloc.gpu_hours),
    )
    policy = settings.reporting.idle
    team: pl.Expr = pl.col(OWNER_TEAM) if policy == "owner" else pl.lit(UNALLOCATED)
    rule: pl.Expr = pl.lit(f"idle:{policy}")
    if policy == "shared":
        idle = idle.join(idle_users(hourly, settings), on=Alloc.ResourceId, how="left")
        share = pl.col("_user_share").fill_null(1.0)
        idle = idle.with_columns(pl.col(PART) * share, pl.col(Alloc.gpu_hours) * share)
        team = pl.coalesce(pl.col("_user"), pl.col(OWNER_TEAM))
        rule = pl.when(pl.col("_user").is_null()).then(pl.lit("idle:owner")).otherwise(rule)
    return idle.select(
        SOURCE,
        team.alias(Alloc.team),
        pl.lit(IDLE_MODEL).alias(Alloc.model),
        pl.lit(None, dtype=pl.String).alias(Alloc.workload),
        cost_type(team, "idle").alias(Alloc.cost_type),
        rule.alias(Alloc.rule),
        PART,
        Alloc.gpu_hours,
    )


def telemetry_allocation(
    rows: pl.LazyFrame,
    sources: pl.LazyFrame,
    hourly: pl.LazyFrame,
    settings: Settings,
    source_keys: Sequence[str],
) -> pl.LazyFrame:
    """Allocation of the rows of GPU instances with telemetry: workloads, then idle, settled.

    ``rows`` are the cost rows of those instances (:data:`SOURCE`, instance key, charge period,
    float amount, GPU-hours, billed GPU count); ``sources`` has one row per :data:`SOURCE` with the
    source keys, the owner columns, the exact :data:`AMOUNT`, its float and GPU-hours. The result
    has the source keys, labels, ``cost`` and ``gpu_hours``.
    """
    fractions = hour_fractions(hourly, instance_gpus(rows, hourly))
    labels = (
        hourly.filter(pl.col(gw.IS_WORK))
        .select(gw.LABELS_ID, gw.TEAM_LABEL, gw.MODEL_LABEL, gw.WORKLOAD)
        .unique(subset=[gw.LABELS_ID])
    )
    hours = reported_charge_hours(rows, hourly).lazy()
    reported = pl.col(REPORTED)
    used = workload_pieces(hours.filter(reported), fractions, sources, labels, settings)
    unreported = no_telemetry_pieces(hours.filter(~reported), sources)
    known = pl.concat([used, unreported], how="vertical").collect(engine="streaming").lazy()
    idle = idle_pieces(sources, known, hourly, settings)
    pieces = pl.concat([known, idle], how="vertical")
    summed = pieces.group_by(SOURCE, *LABELS).agg(
        exact_sum(pl.col(PART)).alias(PART),
        exact_sum(pl.col(Alloc.gpu_hours)).alias(Alloc.gpu_hours),
    )
    totals = summed.join(sources.select(SOURCE, AMOUNT), on=SOURCE, how="left")
    settled = settle(totals, [SOURCE], LABELS)
    return settled.join(sources.select(SOURCE, *source_keys), on=SOURCE, how="left").select(
        *source_keys, *LABELS, pl.col(COST).alias(Alloc.cost), Alloc.gpu_hours
    )
