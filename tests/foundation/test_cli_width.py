"""Report tables in an 80-column terminal: no line wider than 80, key columns whole."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_two_team_october
from tests.recommend.builders import OCT, use_test_prices, write_month
from tests.recommend.test_rules import forgotten_box, trainer
from tests.recommend.test_waste import etl_box


def table(store: Store, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--home", store.home, *args], env={"COLUMNS": "80"}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def assert_fits(text: str) -> None:
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, "\n".join(wide)


@pytest.mark.parametrize(
    ("command", "whole"),
    [
        (["waste"], ["platform", "748.46"]),
        (["recommend"], ["spot-", "idle-"]),
    ],
    ids=["waste", "recommend"],
)
def test_waste_and_recommend_fit_80_columns(
    store: Store, command: list[str], whole: list[str]
) -> None:
    use_test_prices(store)
    write_month(store, OCT, [*forgotten_box(), *trainer()(), etl_box()])
    text = table(store, *command, "--period", OCT)
    assert_fits(text)
    for word in whole:
        assert f" {word}" in text
    assert "not shown at this width:" in text


def test_recommendation_ids_are_never_cut(store: Store) -> None:
    use_test_prices(store)
    write_month(store, OCT, [*forgotten_box(), *trainer()()])
    text = table(store, "recommend", "--format", "table")
    full = CliRunner().invoke(app, ["--home", store.home, "recommend", "--format", "csv"])
    ids = [line.split(",")[0] for line in full.output.splitlines()[1:]]
    assert ids
    assert all(f"│ {rec_id} " in text for rec_id in ids)


def test_chargeback_and_explain_fit_80_columns(store: Store) -> None:
    write_two_team_october(store)
    statement = table(store, "chargeback")
    assert_fits(statement)
    assert "1,500.00" in statement
    assert "2,200.00" in statement
    explained = table(store, "explain", "--team", "nlp")
    assert_fits(explained)
    assert "1,500.00" in explained
