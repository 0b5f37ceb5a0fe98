"""Per-distinct-value work (tags, catalog facts, provider columns) maps back to the right rows."""

from __future__ import annotations

import polars as pl
import pytest

from gpuledger.collect.aws.columns import RAW_TAGS, Cur
from gpuledger.collect.aws.cur2 import tags
from gpuledger.collect.focus.mapping import with_gpu_facts
from gpuledger.collect.values import on_distinct_rows, tags_from_json
from gpuledger.schema import Cost

TEAM = [{"key": "user_team", "value": "nlp"}, {"key": "aws:createdBy", "value": "ci"}]
ENV = [{"key": "env", "value": "prod"}]


def test_cur_tags_follow_each_row_through_repeats_nulls_and_empties() -> None:
    frame = pl.DataFrame(
        {
            Cur.resource_tags: [TEAM, None, TEAM, [], TEAM, None],
            Cur.cost_category: [ENV, ENV, None, None, ENV, None],
        },
        schema={Cur.resource_tags: RAW_TAGS, Cur.cost_category: RAW_TAGS},
    )
    team = [
        {"key": "team", "value": "nlp", "origin": "user"},
        {"key": "aws:createdBy", "value": "ci", "origin": "aws"},
    ]
    env = [{"key": "env", "value": "prod", "origin": "cost_category"}]
    expected = [team + env, env, team, [], team + env, []]
    assert frame.select(tags()).to_series().to_list() == expected
    streamed = frame.lazy().select(tags()).collect(engine="streaming")
    assert streamed.to_series().to_list() == expected


@pytest.mark.parametrize("rows", [["a", "b", "a", None, "a", None], ["a", "b", "c", None]])
def test_on_distinct_rows_matches_the_row_by_row_result(rows: list[str | None]) -> None:
    """Repeated values take the lookup, mostly distinct ones the direct path: same result."""
    frame = pl.DataFrame({"x": rows, "y": [str(i % 2) for i in range(len(rows))]})
    build = pl.concat_str("x", "y", separator="|")
    distinct = frame.select(on_distinct_rows(["x", "y"], build, pl.String()).alias("out"))
    assert distinct.to_series().to_list() == frame.select(build).to_series().to_list()


def test_focus_tags_blank_null_and_bad_json_per_row() -> None:
    frame = pl.DataFrame({"t": ['{"a": 1}', None, "  ", "[1]", '{"a": 1}', ""]})
    decoded = frame.select(tags_from_json("t", "resource")).to_series().to_list()
    one = [{"key": "a", "value": "1", "origin": "resource"}]
    assert decoded == [one, [], [], None, one, []]


def test_gpu_facts_keep_the_rows_own_values_and_fill_the_rest() -> None:
    rows = pl.LazyFrame(
        {
            Cost.ProviderName: ["AWS", "AWS", "Microsoft", "AWS", None],
            Cost.x_InstanceType: ["p5.48xlarge", "ml.p5.48xlarge", None, "p5.48xlarge", "x"],
            Cost.x_GpuModel: [None, None, None, "own", None],
            Cost.x_GpuCount: [None, None, None, 3, None],
        },
        schema_overrides={Cost.x_GpuModel: pl.String, Cost.x_GpuCount: pl.Int32},
    )
    facts = with_gpu_facts(rows).collect()
    assert facts.get_column(Cost.x_GpuModel).to_list() == ["H100", "H100", None, "own", None]
    assert facts.get_column(Cost.x_GpuCount).to_list() == [8, 8, None, 3, None]
    assert facts.get_column(Cost.x_AcceleratorKind).to_list()[:2] == ["gpu", "gpu"]
