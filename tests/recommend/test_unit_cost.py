"""Cost per million input and output tokens, and its place in the distill evidence."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.config import Settings
from gpuledger.engine.recommend.pipeline import recommend
from gpuledger.engine.waste.unit_cost import Unit, compute_unit_costs
from gpuledger.schema import Rec, Tokens
from gpuledger.store.delta import Store
from tests.recommend.builders import OCT, write_month
from tests.recommend.test_rules import llm_endpoint

TOKENS = [
    {
        Tokens.model: "llama-3.1-70b-instruct",
        Tokens.team: "Inference",
        Tokens.prompt_tokens: 3_000_000_000,
        Tokens.generation_tokens: 1_000_000_000,
    }
]


def test_cost_per_million_tokens(store: Store, settings: Settings) -> None:
    # 29760 of GPU time; weighted tokens 3e9 + 4 × 1e9 = 7e9
    # input 29760e6 / 7e9 = 4.25142857…, output 4 × that = 17.0057142…, blended 29760e6 / 4e9
    write_month(store, OCT, llm_endpoint("llama-3.1-70b-instruct")(), TOKENS)
    units = compute_unit_costs(store, settings, OCT)
    assert units.select(
        Unit.team,
        Unit.gpu_cost,
        Unit.per_million_input,
        Unit.per_million_output,
        Unit.per_million_tokens,
    ).rows() == [
        ("inference", Decimal("29760.00"), Decimal("4.2514"), Decimal("17.0057"), Decimal("7.4400"))
    ]


def test_no_tokens_no_unit_cost(store: Store, settings: Settings) -> None:
    write_month(store, OCT, llm_endpoint("llama-3.1-70b-instruct")())
    assert compute_unit_costs(store, settings, OCT).is_empty()


def test_distill_evidence_carries_the_unit_cost(store: Store, settings: Settings) -> None:
    write_month(store, OCT, llm_endpoint("llama-3.1-70b-instruct")(), TOKENS)
    distill = recommend(store, settings, OCT).filter(pl.col(Rec.kind) == "distill")
    evidence = json.loads(distill[Rec.evidence][0])
    assert evidence["unit_cost"]["cost_per_million_output"] == "17.0057"


def test_recommend_json_lists_unit_costs(store: Store, settings: Settings) -> None:
    write_month(store, OCT, llm_endpoint("llama-3.1-70b-instruct")(), TOKENS)
    result = CliRunner().invoke(
        app, ["--home", store.home, "recommend", "--period", OCT, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    units = json.loads(result.output)["unit_costs"]
    assert [(u["team"], u["model"], u["cost_per_million_input"]) for u in units] == [
        ("inference", "llama-3.1-70b-instruct", "4.2514")
    ]
