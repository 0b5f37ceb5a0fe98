"""Unit cost: what a million input and output tokens cost per team, model and month.

**Definition.** A model's GPU cost for the month is the priced GPU-hours its workloads held (the
``cost`` column of the waste frame, idle time excluded: it belongs to no model). Tokens come from
``model_tokens``. Generating a token costs more GPU time than reading one, so the cost is split
with output tokens weighted ``thresholds.waste.output_token_weight`` (default 4) times an input
token:

    per million input  = cost × 10^6 / (input + weight × output)
    per million output = weight × per million input
    per million tokens = cost × 10^6 / (input + output)   (the blended figure)

Token rows without a team label belong to the team that held the model's GPU time longest.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from gpuledger.config import Settings, canonical_team
from gpuledger.engine.waste.compute import Waste, compute_waste
from gpuledger.period import Period
from gpuledger.schema import IDLE_MODEL, Tokens
from gpuledger.store.delta import Store

MILLION = Decimal(10**6)
UNIT = Decimal("0.0001")


class Unit:
    """Columns of the unit-cost frame."""

    period = "period"
    team = "team"
    model = "model"
    gpu_cost = "gpu_cost"
    input_tokens = "input_tokens"
    output_tokens = "output_tokens"
    per_million_input = "cost_per_million_input"
    per_million_output = "cost_per_million_output"
    per_million_tokens = "cost_per_million_tokens"
    currency = "currency"


UNIT_COST_SCHEMA = pl.Schema(
    {
        Unit.period: pl.String(),
        Unit.team: pl.String(),
        Unit.model: pl.String(),
        Unit.gpu_cost: pl.Decimal(38, 2),
        Unit.input_tokens: pl.Int64(),
        Unit.output_tokens: pl.Int64(),
        Unit.per_million_input: pl.Decimal(38, 4),
        Unit.per_million_output: pl.Decimal(38, 4),
        Unit.per_million_tokens: pl.Decimal(38, 4),
        Unit.currency: pl.String(),
    }
)


def model_costs(waste: pl.DataFrame) -> dict[tuple[str, str], Decimal]:
    """(team, model) → priced GPU-hours of that model's work (idle rows excluded)."""
    grouped = (
        waste.filter((pl.col(Waste.model) != IDLE_MODEL) & pl.col(Waste.cost).is_not_null())
        .group_by(Waste.team, Waste.model)
        .agg(pl.col(Waste.cost).sum())
    )
    return {(r[Waste.team], r[Waste.model]): Decimal(r[Waste.cost]) for r in grouped.to_dicts()}


def token_counts(
    store: Store, settings: Settings, period: str, owners: dict[str, str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(team, model) → (input tokens, output tokens) in the period."""
    start, end = Period.parse(period).bounds()
    sums = (
        store.scan("model_tokens")
        .filter(pl.col(Tokens.bucket_start).is_between(start, end, "left"))
        .filter(pl.col(Tokens.model).is_not_null())
        .group_by(Tokens.team, Tokens.model)
        .agg(pl.col(Tokens.prompt_tokens).sum(), pl.col(Tokens.generation_tokens).sum())
        .collect()
    )
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for row in sums.to_dicts():
        model = row[Tokens.model]
        team = canonical_team(settings, row[Tokens.team]) or owners.get(model)
        if team is None:
            continue
        before = counts.get((team, model), (0, 0))
        counts[(team, model)] = (
            before[0] + int(row[Tokens.prompt_tokens] or 0),
            before[1] + int(row[Tokens.generation_tokens] or 0),
        )
    return counts


def unit_costs(
    costs: dict[tuple[str, str], Decimal],
    tokens: dict[tuple[str, str], tuple[int, int]],
    weight: float,
    period: str,
    currency: str,
) -> pl.DataFrame:
    """The unit-cost frame: one row per (team, model) that has both a cost and tokens."""
    w = Decimal(repr(weight))
    rows = []
    for (team, model), (inputs, outputs) in sorted(tokens.items()):
        cost = costs.get((team, model))
        weighted = inputs + w * outputs
        if cost is None or weighted <= 0:
            continue
        per_input = cost * MILLION / weighted
        rows.append(
            {
                Unit.period: period,
                Unit.team: team,
                Unit.model: model,
                Unit.gpu_cost: cost,
                Unit.input_tokens: inputs,
                Unit.output_tokens: outputs,
                Unit.per_million_input: _unit(per_input),
                Unit.per_million_output: _unit(per_input * w),
                Unit.per_million_tokens: _unit(cost * MILLION / (inputs + outputs)),
                Unit.currency: currency,
            }
        )
    return pl.DataFrame(rows, schema=UNIT_COST_SCHEMA)


def _unit(amount: Decimal) -> Decimal:
    return amount.quantize(UNIT, rounding=ROUND_HALF_UP)


def compute_unit_costs(
    store: Store, settings: Settings, period: str, waste: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Cost per million tokens for the period (pass the waste frame when it is already at hand)."""
    waste = compute_waste(store, settings, period) if waste is None else waste
    costs = model_costs(waste)
    owners: dict[str, str] = {}
    for (team, model), _cost in sorted(costs.items(), key=lambda item: item[1]):
        owners[model] = team  # ascending, so the team with the largest cost is set last and wins
    tokens = token_counts(store, settings, period, owners)
    weight = settings.thresholds.waste.output_token_weight
    return unit_costs(costs, tokens, weight, period, settings.reporting.currency)


def unit_cost_evidence(frame: pl.DataFrame) -> dict[tuple[str, str], dict[str, object]]:
    """(team, model) → the unit-cost figures as plain data, for recommendation evidence."""
    return {
        (row[Unit.team], row[Unit.model]): {
            key: str(row[key]) if isinstance(row[key], Decimal) else row[key]
            for key in (
                Unit.per_million_input,
                Unit.per_million_output,
                Unit.per_million_tokens,
                Unit.input_tokens,
                Unit.output_tokens,
                Unit.currency,
            )
        }
        for row in frame.to_dicts()
    }
