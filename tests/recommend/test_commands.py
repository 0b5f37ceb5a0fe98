"""`gpuledger waste`, `recommend` and `prices` through the real command line, in a subprocess-free
Typer runner, on a hand-built month."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.errors import UsageError
from gpuledger.store.delta import Store
from tests.recommend.builders import OCT, use_test_prices, write_month
from tests.recommend.test_rules import forgotten_box, trainer
from tests.recommend.test_waste import etl_box

RECOMMENDATION_KEYS = {
    "id",
    "kind",
    "status",
    "team",
    "model",
    "resource_ids",
    "monthly_cost",
    "monthly_saving",
    "confidence",
    "action",
    "evidence",
}


def invoke(store: Store, *args: str) -> str:
    result = CliRunner().invoke(app, ["--home", store.home, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def month(store: Store) -> Store:
    use_test_prices(store)
    write_month(store, OCT, [*forgotten_box(), *trainer()()])
    return store


def test_recommend_json_has_the_documented_shape(month: Store) -> None:
    document = json.loads(invoke(month, "recommend", "--period", OCT, "--format", "json"))
    assert {k: document[k] for k in ("period", "currency")} == {"period": OCT, "currency": "USD"}
    recs = document["recommendations"]
    assert all(set(rec) == RECOMMENDATION_KEYS for rec in recs)
    assert [(r["kind"], r["monthly_saving"], r["status"]) for r in recs] == [
        ("spot", "3360.00", "new"),
        ("idle", "748.46", "new"),
    ]
    assert "fingerprint" not in recs[0]["evidence"]
    assert recs[0]["evidence"]["price"]["source"] == "test table"
    assert document["open_monthly_saving"] == "4108.46"
    assert document["gpu_bill"] == "6748.46"  # 6000 + 744 × 1.006


def test_dismiss_then_list(month: Store) -> None:
    recs = json.loads(invoke(month, "recommend", "--period", OCT, "--format", "json"))
    idle = next(r["id"] for r in recs["recommendations"] if r["kind"] == "idle")
    invoke(month, "recommend", "--period", OCT, "--dismiss", idle, "--reason", "kept for demos")
    again = json.loads(invoke(month, "recommend", "--period", OCT, "--format", "json"))
    assert {r["id"]: r["status"] for r in again["recommendations"]}[idle] == "dismissed"
    assert again["open_monthly_saving"] == "3360.00"
    table = invoke(month, "recommend", "--period", OCT)
    assert idle not in table
    assert "1 dismissed recommendation(s) not shown" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dismiss", "idle-000000000000", "--reason", "x"], "no recommendation"),
        (["--acknowledge", "a", "--done", "b"], "one of"),
    ],
    ids=["unknown-id", "two-changes"],
)
def test_recommend_refuses_bad_status_changes(month: Store, args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CliRunner().invoke(
            app, ["--home", month.home, "recommend", "--period", OCT, *args], catch_exceptions=False
        )


def test_waste_json_totals(store: Store) -> None:
    write_month(store, OCT, [etl_box()])
    document = json.loads(invoke(store, "waste", "--period", OCT, "--format", "json"))
    assert document["totals"] == {
        "gpu_hours": 10.0,
        "idle_gpu_hours": 4.0,
        "cost": "12.00",
        "waste_cost": "7.20",
    }
    assert "idle GPU-hours + unused-capacity GPU-hours" in document["definition"]
    assert "data" in invoke(store, "waste", "--period", OCT, "--team", "data")


def test_prices_refresh_rejects_an_unknown_provider(store: Store) -> None:
    with pytest.raises(UsageError, match="unknown provider"):
        CliRunner().invoke(
            app,
            ["--home", store.home, "prices", "refresh", "--provider", "oracle"],
            catch_exceptions=False,
        )
