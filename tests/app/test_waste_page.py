"""The GPU waste page as a team lead reads it: the team filter cuts every number, instances are
named as people know them, the heatmap's colours span the data, and the URL holds the view.

The ledger here has two teams with telemetry on 2026-10-01:

- nlp on AWS instance ``i-0abc1234def567890`` (host ``ip-10-0-0-10.ec2.internal``, GPU 0): hour 0
  busy at 50 % SM, hour 1 idle; billed $20.00 for 2 h.
- vision on a GCP VM (host ``vision-trainer-1``, GPU 1): hour 0 busy at 90 % SM; billed $5.00.

So the day × hour heatmap reads 70 % at hour 0 for both teams together ((50 + 90) / 2, one
GPU-hour each) and 0 % at hour 1; nlp alone reads 50 % and 0 %; vision alone 90 %.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.waste.compute import compute_waste, waste_totals
from gpuledger.report.readmodel.waste import gpu_name, instance_name
from gpuledger.schema import Cost, Usage
from gpuledger.store.delta import Store
from tests.app.conftest import HOME_SCRIPT, LedgerFiles, table
from tests.app.ledger import GIB, VISION_LEAD, write_config
from tests.factories import cost_rows, usage_rows

AWS_ID = "i-0abc1234def567890"
AWS_HOST = "ip-10-0-0-10.ec2.internal"
GCP_ID = "//compute.googleapis.com/projects/acme-ml/zones/us-central1-a/instances/4811234567890123"
GCP_HOST = "vision-trainer-1"
START = datetime(2026, 10, 1, tzinfo=UTC)


def _instance(rid: str, team: str, hours: int, cost: str, provider: str) -> dict[str, Any]:
    return {
        Cost.ChargePeriodEnd: START + timedelta(hours=hours),
        Cost.ResourceId: rid,
        Cost.ProviderName: provider,
        Cost.x_InstanceType: "a2-highgpu-1g",
        Cost.x_GpuModel: "A100",
        Cost.x_GpuCount: 1,
        Cost.PricingQuantity: float(hours),
        Cost.PricingUnit: "Hours",
        Cost.BilledCost: Decimal(cost),
        Cost.EffectiveCost: Decimal(cost),
        Cost.Tags: [{"key": "team", "value": team, "origin": "user"}],
    }


def _buckets(
    rid: str, host: str, index: int, team: str, model: str, sm: float, hour: int
) -> list[dict[str, Any]]:
    """Twelve 5-minute buckets of one hour: busy at ``sm`` % for ``team``, or idle (no team)."""
    common = {
        Usage.host: host,
        Usage.ResourceId: rid,
        Usage.gpu_uuid: f"GPU-{host}-{index}",
        Usage.gpu_index: index,
        Usage.gpu_model: "A100",
        Usage.mem_total_bytes: 40 * GIB,
        Usage.source: "file",
        Usage.x_BillingPeriod: "2026-10",
    }
    busy = {Usage.job: f"train-{model}", Usage.team: team, Usage.model: model, Usage.sm_util: sm}
    idle = {Usage.active_seconds: 0.0, Usage.sm_util: None}
    return [
        {
            **common,
            **(busy if sm else idle),
            Usage.bucket_start: START + timedelta(hours=hour, minutes=5 * i),
            Usage.mem_used_bytes: 10 * GIB if sm else 0,
        }
        for i in range(12)
    ]


@pytest.fixture(scope="module")
def two_teams(tmp_path_factory: pytest.TempPathFactory) -> LedgerFiles:
    root = tmp_path_factory.mktemp("waste")
    config = write_config(root)
    store = Store(root / "home")
    costs = cost_rows(
        _instance(AWS_ID, "nlp", 2, "20.00", "AWS"),
        _instance(GCP_ID, "vision", 1, "5.00", "Google Cloud"),
    )
    store.replace_partitions("cost", costs, [Cost.x_Source, Cost.x_BillingPeriod])
    telemetry = usage_rows(
        *_buckets(AWS_ID, AWS_HOST, 0, "nlp", "llama", 50.0, 0),
        *_buckets(AWS_ID, AWS_HOST, 0, "nlp", "llama", 0.0, 1),
        *_buckets(GCP_ID, GCP_HOST, 1, "vision", "resnet", 90.0, 0),
    )
    store.append("gpu_usage", telemetry)
    run_attribution(store, load_settings(config), "2026-10")
    return LedgerFiles(root / "home", config)


def open_waste(monkeypatch: pytest.MonkeyPatch, ledger: LedgerFiles, **query: str) -> AppTest:
    """A new session on the waste page, opened from a link with ``?query``."""
    monkeypatch.setenv("GPULEDGER_HOME", str(ledger.home))
    monkeypatch.setenv("GPULEDGER_CONFIG", str(ledger.config))
    at = AppTest.from_file(str(HOME_SCRIPT), default_timeout=60)
    at.query_params.update(query)
    at.switch_page("views/waste.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def heatmap(at: AppTest) -> tuple[dict[str, Any], pl.DataFrame]:
    """The heatmap's Vega-Lite spec and the cells it draws (the page's last chart)."""
    chart = at.get("vega_lite_chart")[-1].proto
    spec = json.loads(chart.spec)
    (dataset,) = chart.datasets
    cells = pa.ipc.open_stream(io.BytesIO(dataset.data.data)).read_all()
    return spec, pl.from_arrow(cells)  # type: ignore[return-value]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _engine_waste(ledger: LedgerFiles, team: str | None) -> str:
    settings = load_settings(ledger.config)
    found = waste_totals(compute_waste(ledger.store(), settings, "2026-10", team=team))
    return f"${Decimal(str(found['waste_cost'])):,.2f}"


@pytest.mark.parametrize(
    ("teams", "sm_by_hour", "gpu_hours"),
    [
        (["nlp", "vision"], {0: 70.0, 1: 0.0}, "3.0"),
        (["nlp"], {0: 50.0, 1: 0.0}, "2.0"),
        (["vision"], {0: 90.0}, "1.0"),
    ],
    ids=["both", "nlp", "vision"],
)
def test_team_filter_cuts_the_headline_and_the_heatmap(
    monkeypatch: pytest.MonkeyPatch,
    two_teams: LedgerFiles,
    teams: list[str],
    sm_by_hour: dict[int, float],
    gpu_hours: str,
) -> None:
    at = open_waste(monkeypatch, two_teams)
    at.multiselect(key="waste_teams").set_value(teams).run()
    metrics = _metrics(at)
    assert metrics["GPU-hours"] == gpu_hours
    assert metrics["Waste"] == _engine_waste(two_teams, teams[0] if len(teams) == 1 else None)
    _, cells = heatmap(at)
    shown = dict(zip(cells["hour_of_day"], cells["sm_util"], strict=True))
    assert shown == pytest.approx(sm_by_hour)


@pytest.mark.parametrize(
    ("teams", "domain"),
    [(["nlp", "vision"], [0.0, 70.0]), (["nlp"], [0.0, 50.0]), (["vision"], [0.0, 100.0])],
    ids=["both", "nlp", "one-value-falls-back"],
)
def test_heatmap_colours_span_the_datas_range(
    monkeypatch: pytest.MonkeyPatch, two_teams: LedgerFiles, teams: list[str], domain: list[float]
) -> None:
    at = open_waste(monkeypatch, two_teams)
    at.multiselect(key="waste_teams").set_value(teams).run()
    spec, _ = heatmap(at)
    assert spec["encoding"]["color"]["scale"]["domain"] == pytest.approx(domain)


def test_group_by_instance_lists_instances_by_readable_name(
    monkeypatch: pytest.MonkeyPatch, two_teams: LedgerFiles
) -> None:
    at = open_waste(monkeypatch, two_teams)
    at.radio(key="waste_grouping").set_value("instance").run()
    shown = table(at, "instance", "team", "gpu_model", "waste_cost")
    assert set(zip(shown["instance"], shown["ResourceId"], strict=True)) == {
        (AWS_ID, AWS_ID),
        (GCP_HOST, GCP_ID),  # the VM's name, the full id beside it
        ("Total", "—"),
    }
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["y"]["field"] == "instance"


def test_gpu_heatmap_labels_are_readable_with_the_full_id_in_the_tooltip(
    monkeypatch: pytest.MonkeyPatch, two_teams: LedgerFiles
) -> None:
    at = open_waste(monkeypatch, two_teams)
    at.radio(key="heatmap").set_value("GPU × hour").run()
    spec, cells = heatmap(at)
    assert spec["encoding"]["y"]["field"] == "gpu_name"
    assert dict(zip(cells["gpu_name"], cells["gpu"], strict=False)) == {
        f"{AWS_ID} · GPU 0": f"{AWS_HOST}/0",
        f"{GCP_HOST} · GPU 1": f"{GCP_HOST}/1",
    }
    assert {"gpu_name", "gpu"} <= {t["field"] for t in spec["encoding"]["tooltip"]}


def test_deep_link_restores_team_and_grouping(
    monkeypatch: pytest.MonkeyPatch, two_teams: LedgerFiles
) -> None:
    at = open_waste(monkeypatch, two_teams, team="vision", group="instance")
    assert at.multiselect(key="waste_teams").value == ["vision"]
    assert at.radio(key="waste_grouping").value == "instance"
    assert _metrics(at)["GPU-hours"] == "1.0"
    assert list(table(at, "instance")["instance"]) == [GCP_HOST, "Total"]
    at.radio(key="waste_grouping").set_value("model").run()
    at.multiselect(key="waste_teams").set_value(["nlp"]).run()
    assert (at.query_params["group"], at.query_params["team"]) == ("model", "nlp")


def test_waste_tables_read_as_money_with_totals_and_csv(
    monkeypatch: pytest.MonkeyPatch, two_teams: LedgerFiles
) -> None:
    at = open_waste(monkeypatch, two_teams)
    keys = {b.proto.label for b in at.get("download_button")}
    assert keys == {"CSV"}
    assert len(at.get("download_button")) == 3  # breakdown, memory headroom, top offenders
    offenders = table(at, "instance", "waste_cost", "team")
    assert list(offenders["instance"])[-1] == "Total"
    assert offenders["waste_cost"].iloc[-1] == pytest.approx(offenders["waste_cost"][:-1].sum())


@pytest.mark.parametrize(
    ("resource_id", "host", "name"),
    [
        (AWS_ID, AWS_HOST, AWS_ID),
        (GCP_ID, GCP_HOST, GCP_HOST),
        (GCP_ID, None, "4811234567890123"),
        (None, "10.0.0.7", "10.0.0.7"),
    ],
    ids=["aws-instance-id", "gcp-vm-name", "gcp-without-host", "ip-address"],
)
def test_instance_name(resource_id: str | None, host: str | None, name: str) -> None:
    assert instance_name(resource_id, host) == name


@pytest.mark.parametrize(
    ("gpu", "hosts", "name"),
    [
        (f"{AWS_HOST}/3", {AWS_HOST: AWS_ID}, f"{AWS_ID} · GPU 3"),
        (f"{AWS_HOST}/3", {}, "ip-10-0-0-10 · GPU 3"),
        ("GPU-8f3c2a1e-0d4b-4c1e-9a7f-2b6d5e4c3a21", {}, "GPU-8f3c2a1e…"),
    ],
    ids=["host-of-an-instance", "unknown-host", "uuid"],
)
def test_gpu_name(gpu: str, hosts: dict[str, str], name: str) -> None:
    assert gpu_name(gpu, hosts) == name


def test_a_lead_cannot_reach_another_team_by_url(
    monkeypatch: pytest.MonkeyPatch, oidc_ledger: LedgerFiles
) -> None:
    monkeypatch.setenv("GPULEDGER_HOME", str(oidc_ledger.home))
    monkeypatch.setenv("GPULEDGER_CONFIG", str(oidc_ledger.config))
    at = AppTest.from_file(str(HOME_SCRIPT), default_timeout=60)
    at.user = {"is_logged_in": True, "email": VISION_LEAD, "name": VISION_LEAD}
    at.query_params.update(team="nlp", group="instance")
    at.switch_page("views/waste.py").run()
    assert [w.value for w in at.warning] == ["nlp is not offered here."]
    assert _metrics(at)["Waste"] == "$0.00"  # vision's waste; nlp's $10.00 is not reachable
    assert "nlp" not in " ".join(d.value.to_string() for d in at.dataframe)
