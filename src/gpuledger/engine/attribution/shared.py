"""Shared pools: cost spread over teams instead of charged to one (rule 1 of the engine).

A pool's rows (support plans, shared networking, account-level credits, unused commitments, tax —
whatever its filter selects) are split over teams by the pool's ``split``:

* ``proportional`` (default): in proportion to each team's *direct* cost in the period and
  currency — everything the other rules allocated to it, idle included, ``(unallocated)`` excluded;
  teams whose direct cost is zero or negative take no part;
* ``even``: equally over the teams with a positive direct cost in the period and currency;
* ``fixed``: by the pool's ``weights`` (team → weight, normalized to sum 1; teams by alias too).

A pool with no team to spread over (no direct cost yet, no positive weight) goes to
``(unallocated)``, still under its ``shared:<pool>`` rule.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.config import Settings, SharedPool, canonical_team
from gpuledger.engine.attribution.sums import exact_sum
from gpuledger.schema import UNALLOCATED, Alloc

POOL: Final = "_pool"
SHARE: Final = "_share"


def direct_team_costs(direct: pl.LazyFrame) -> pl.LazyFrame:
    """Positive direct cost per (currency, team), the base of proportional and even splits."""
    return (
        direct.filter(pl.col(Alloc.team) != UNALLOCATED)
        .group_by(Alloc.currency, Alloc.team)
        .agg(pl.col(Alloc.cost).sum().cast(pl.Float64).alias("_direct"))
        .filter(pl.col("_direct") > 0)
    )


def _pool_shares(pool: SharedPool, direct: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """(currency, team, share) for one pool; fixed weights apply to every currency (null)."""
    if pool.split == "fixed":
        weights: dict[str, float] = {}
        for team, weight in pool.weights.items():
            name = canonical_team(settings, team) or team
            weights[name] = weights.get(name, 0.0) + weight
        positive = {team: weight for team, weight in weights.items() if weight > 0}
        total = sum(positive.values())
        return pl.LazyFrame(
            {
                Alloc.currency: [None] * len(positive),
                Alloc.team: list(positive),
                SHARE: [weight / total for weight in positive.values()],
            },
            schema={Alloc.currency: pl.String, Alloc.team: pl.String, SHARE: pl.Float64},
        )
    base = (
        pl.col("_direct") / exact_sum(pl.col("_direct")).over(Alloc.currency)
        if pool.split == "proportional"
        else 1.0 / pl.len().over(Alloc.currency)
    )
    return direct.select(Alloc.currency, Alloc.team, base.cast(pl.Float64).alias(SHARE))


def pool_shares(settings: Settings, direct: pl.LazyFrame) -> pl.LazyFrame:
    """Every pool's team shares: (pool, currency or null for any, team, share)."""
    frames = [
        _pool_shares(pool, direct, settings).with_columns(pl.lit(pool.name).alias(POOL))
        for pool in settings.rules.shared
    ]
    if not frames:
        return pl.LazyFrame(
            schema={
                Alloc.currency: pl.String,
                Alloc.team: pl.String,
                SHARE: pl.Float64,
                POOL: pl.String,
            }
        )
    return pl.concat(frames, how="vertical")


def split_pools(sources: pl.LazyFrame, shares: pl.LazyFrame) -> pl.LazyFrame:
    """Each pool source row once per team of its pool, with :data:`SHARE`; no team → unallocated.

    ``sources`` carries :data:`POOL` and ``currency``. Fixed shares (null currency) match any
    currency; proportional and even shares match their own.
    """
    fixed = shares.filter(pl.col(Alloc.currency).is_null()).drop(Alloc.currency)
    by_currency = shares.filter(pl.col(Alloc.currency).is_not_null())
    matched = pl.concat(
        [
            sources.join(fixed, on=POOL, how="inner"),
            sources.join(by_currency, on=[POOL, Alloc.currency], how="inner"),
        ],
        how="vertical",
    )
    unmatched = sources.join(fixed.select(POOL).unique(), on=POOL, how="anti").join(
        by_currency.select(POOL, Alloc.currency).unique(), on=[POOL, Alloc.currency], how="anti"
    )
    return pl.concat(
        [
            matched,
            unmatched.with_columns(pl.lit(UNALLOCATED).alias(Alloc.team), pl.lit(1.0).alias(SHARE)),
        ],
        how="vertical",
    )
