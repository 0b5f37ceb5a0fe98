"""Invariants of attribution over random fleets (hypothesis): money is conserved and explained."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.attribution.gpu_weights import reduce_usage
from gpuledger.period import Period
from gpuledger.schema import Alloc, Cost
from tests.engine.attribute_helpers import PERIOD, START, allocate, busy, cost, tags, usage_frame

TEAM_VALUES = ["nlp", "NLP", "vision", "cv", "Data Science", None]
MONEY = st.decimals(min_value=0, max_value=500, places=12)


@st.composite
def instance(draw: st.DrawFn, index: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One GPU instance: a few hourly cost rows and, maybe, telemetry on some of its GPUs."""
    resource = f"i-{index}"
    gpus = draw(st.integers(1, 4))
    team = draw(st.sampled_from(TEAM_VALUES))
    currency = draw(st.sampled_from(["USD", "USD", "EUR"]))
    hours = draw(st.integers(1, 3))
    rows = [
        cost(
            ResourceId=resource,
            EffectiveCost=draw(MONEY),
            x_GpuCount=gpus,
            BillingCurrency=currency,
            ChargePeriodStart=START + timedelta(hours=h),
            ChargePeriodEnd=START + timedelta(hours=h + 1),
            Tags=tags(team=team) if team else [],
        )
        for h in range(hours)
    ]
    if draw(st.booleans()):
        rows.append(
            cost(
                ResourceId=resource,
                EffectiveCost=-draw(MONEY),
                ChargeCategory="Credit",
                BillingCurrency=currency,
            )
        )
    usage: list[dict[str, Any]] = []
    if draw(st.booleans()):
        for gpu in range(draw(st.integers(1, gpus))):
            for pod in draw(st.lists(st.sampled_from(["a", "b", "c", None]), max_size=3)):
                usage += busy(
                    pod,
                    team=draw(st.sampled_from(TEAM_VALUES)),
                    model=draw(st.sampled_from(["m1", "m2", None])),
                    sm=draw(st.floats(0, 100)),
                    active=draw(st.floats(0, 300)),
                    resource=resource,
                    gpu=f"{resource}-gpu{gpu}",
                    buckets=draw(st.integers(1, 12 * hours)),
                    first=draw(st.integers(0, 6)),
                )
    return rows, usage


@st.composite
def fleet(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    costs: list[dict[str, Any]] = []
    usage: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 4))):
        rows, buckets = draw(instance(index))
        costs += rows
        usage += buckets
    for index in range(draw(st.integers(0, 3))):
        costs.append(
            cost(
                ResourceId=f"bucket-{index}",
                ResourceName=draw(st.sampled_from(["speech-asr-logs", "misc"])),
                ServiceName=draw(st.sampled_from(["Amazon S3", "AWS Support", "Tax"])),
                EffectiveCost=draw(MONEY),
                BillingCurrency=draw(st.sampled_from(["USD", "EUR"])),
                Tags=tags(owner=draw(st.sampled_from(["vision", "ML Platform"])))
                if draw(st.booleans())
                else [],
            )
        )
    return costs, usage


@st.composite
def config(draw: st.DrawFn) -> Settings:
    pool = {
        "name": "support",
        "services": ["AWS Support", "Tax"],
        "split": draw(st.sampled_from(["proportional", "even", "fixed"])),
        "weights": {"nlp": 2.0, "vision": 1.0},
    }
    return Settings.model_validate(
        {
            "reporting": {"idle": draw(st.sampled_from(["owner", "shared", "unallocated"]))},
            "teams": {"nlp": {"aliases": ["NLP"]}, "vision": {"aliases": ["cv"]}},
            "rules": {"shared": [pool] if draw(st.booleans()) else []},
        }
    )


def _totals(frame: pl.DataFrame, keys: list[str], value: str) -> dict[Any, Decimal]:
    """Non-zero sums by key (a currency whose rows sum to zero has no allocation lines)."""
    sums = frame.group_by(keys).agg(pl.col(value).sum()).rows()
    return {tuple(row[:-1]): row[-1] for row in sums if row[-1] != 0}


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(fleet(), config())
def test_allocation_equals_cost_basis_per_currency(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], chosen: Settings
) -> None:
    costs, usage = data
    allocation = allocate(costs, usage, chosen)
    source = pl.DataFrame(costs).select(Cost.BillingCurrency, Cost.EffectiveCost)
    assert _totals(allocation, [Alloc.currency], Alloc.cost) == _totals(
        source.with_columns(pl.col(Cost.EffectiveCost).cast(pl.Decimal(38, 18))),
        [Cost.BillingCurrency],
        Cost.EffectiveCost,
    )


@FAST
@given(fleet(), config())
def test_no_negative_allocation_except_from_negative_rows(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], chosen: Settings
) -> None:
    costs, usage = data
    allocation = allocate(costs, usage, chosen)
    negative = allocation.filter(pl.col(Alloc.cost) < 0)
    # In these fleets only credits are negative.
    assert negative.filter(pl.col(Alloc.ChargeCategory) != "Credit").height == 0
    credits = allocation.filter(pl.col(Alloc.ChargeCategory) == "Credit")[Alloc.cost]
    assert (credits <= 0).all()


@FAST
@given(fleet(), config())
def test_each_instance_hour_is_shared_out_exactly(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], chosen: Settings
) -> None:
    """Every source group (here: one instance-day of one kind) splits into exactly its cost."""
    costs, usage = data
    allocation = allocate(costs, usage, chosen).filter(
        ~pl.col(Alloc.rule).str.starts_with("shared:")
    )
    keys = [Alloc.ResourceId, Alloc.ChargeCategory, Alloc.currency]
    source = (
        pl.DataFrame(costs)
        .filter(
            pl.col(Cost.ServiceName).is_in(["AWS Support", "Tax"]).not_()
            | pl.lit(not chosen.rules.shared)
        )
        .select(
            pl.col(Cost.ResourceId),
            pl.col(Cost.ChargeCategory),
            pl.col(Cost.BillingCurrency).alias(Alloc.currency),
            pl.col(Cost.EffectiveCost).cast(pl.Decimal(38, 18)).alias(Alloc.cost),
        )
    )
    want = _totals(source, keys, Alloc.cost)
    got = _totals(allocation, keys, Alloc.cost)
    assert got == want


@FAST
@given(fleet())
def test_a_rule_change_changes_only_what_it_covers(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """Adding a regex rule for the speech logs moves those rows and leaves every other line."""
    costs, usage = data
    base = Settings.model_validate({"teams": {"nlp": {"aliases": ["NLP"]}}})
    changed = Settings.model_validate(
        {
            "teams": {"nlp": {"aliases": ["NLP"]}},
            "rules": {"regex": [{"field": "ResourceName", "pattern": "^speech", "team": "speech"}]},
        }
    )
    covered = {
        r[Cost.ResourceId] for r in costs if r.get(Cost.ResourceName, "").startswith("speech")
    }
    before = allocate(costs, usage, base)
    after = allocate(costs, usage, changed)
    untouched = ~pl.col(Alloc.ResourceId).is_in(sorted(covered))
    assert_frame_equal(before.filter(untouched), after.filter(untouched))
    moved = after.filter(~untouched & (pl.col(Alloc.rule) == "regex:^speech"))
    tagged = before.filter(~untouched & pl.col(Alloc.rule).str.starts_with("tag:"))
    assert (
        moved[Alloc.cost].sum() + tagged[Alloc.cost].sum()
        == before.filter(~untouched)[Alloc.cost].sum()
    )


@FAST
@given(fleet())
def test_reducing_telemetry_in_chunks_changes_nothing(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """Large fleets reduce telemetry a few instances at a time; the weights must not change."""
    _, usage = data
    start, end = Period.parse(PERIOD).bounds()
    whole = reduce_usage(usage_frame(usage), start, end)
    chunked = reduce_usage(usage_frame(usage), start, end, rows_per_chunk=7)
    assert_frame_equal(
        chunked.sort(pl.all(), nulls_last=True),
        whole.sort(pl.all(), nulls_last=True),
        check_exact=False,
    )
