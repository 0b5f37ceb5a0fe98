"""Each recommendation kind fires on its hand-built month, with the hand-computed saving, and stays
silent on the near miss beside it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.recommend.pipeline import recommend
from gpuledger.schema import Rec
from gpuledger.store.delta import Store
from tests.recommend.builders import OCT, Instance, use_test_prices, write_month

D = Decimal
Scenario = Callable[[], list[Instance]]


def forgotten_box() -> list[Instance]:
    # 744 idle hours × 1.006/h = 748.464
    return [Instance("i-box", "g5.xlarge", D("1.006"), 744).run(range(744))]


def dev_box(idle: list[range]) -> Scenario:
    def build() -> list[Instance]:
        idle_hours = {h for stretch in idle for h in stretch}
        box = Instance("i-dev", "g5.xlarge", D(10), 744)
        box.run([h for h in range(744) if h not in idle_hours], job="notebook", sm=50)
        return [box.run(sorted(idle_hours))]

    return build


def trainer(pricing: str = "Standard", jobs: tuple[str, ...] = ("llm-pretrain",)) -> Scenario:
    # 300 h × 20/h = 6000 on demand; on spot 300 × 8 × 1.10 = 2640 → saving 3360
    def build() -> list[Instance]:
        box = Instance("i-train", "p4d.24xlarge", D(20), 300, pricing=pricing)
        share = 300 // len(jobs)
        for n, job in enumerate(jobs):
            box.run(range(n * share, (n + 1) * share), job=job, team="research", sm=80)
        return [box]

    return build


def server(pod: str) -> Scenario:
    def build() -> list[Instance]:
        box = Instance("i-train", "p4d.24xlarge", D(20), 300)
        return [box.run(range(300), pod=pod, team="research", sm=80)]

    return build


def one_busy_gpu() -> list[Instance]:
    # 8× H100 for 100 h at 55.04/h = 5504; one GPU busy → p5.4xlarge 100 × 6.88 = 688 → 4816
    box = Instance("i-p5", "p5.48xlarge", D("55.04"), 100)
    box.run(range(100), gpus=[0], job="api", sm=60)
    return [box.run(range(100), gpus=range(1, 8))]


def one_reporting_gpu() -> list[Instance]:
    # as one_busy_gpu, but only GPU 0 reports: the other seven are unknown, not spare
    box = Instance("i-p5", "p5.48xlarge", D("55.04"), 100)
    return [box.run(range(100), gpus=[0], job="api", sm=60)]


def quiet_h100(sm: float, mem_gib: float) -> Scenario:
    # 1× H100 for 100 h at 6.88/h = 688. At p95 SM 20 % and 10 GiB the work needs 20 × 989 / 70
    # = 283 TFLOPS and 12 GiB: L40S (362 TFLOPS, 48 GiB) fits, L4 and A10G do not.
    # g6e.xlarge 100 × 1.8 = 180 → saving 508
    def build() -> list[Instance]:
        box = Instance("i-h100", "p5.4xlarge", D("6.88"), 100)
        return [box.run(range(100), job="eval-harness", sm=sm, mem_gib=mem_gib)]

    return build


def llm_endpoint(model: str, sm: float = 70.0, busy_hours: int = 744) -> Scenario:
    # 8× H100 for 744 h at 40/h (committed) = 29760; distilled: 29760 × (1 − 0.4) = 17856
    def build() -> list[Instance]:
        box = Instance("i-llm", "p5.48xlarge", D(40), 744, pricing="Committed")
        box.run(range(busy_hours), pod="vllm-server", team="inference", model=model, sm=sm)
        return [box.run(range(busy_hours, 744))]

    return build


def embedding_fleet(hours: tuple[int, ...]) -> Scenario:
    # two g6e.12xlarge at 10/h all month = 14880; committed 2 × 744 × 10 × 0.7 = 10416 → 4464
    def build() -> list[Instance]:
        return [
            Instance(f"i-e{n}", "g6e.12xlarge", D(10), h, owner="search").run(
                range(h), pod="embed-serve", model="bge-large", sm=60, mem_gib=40
            )
            for n, h in enumerate(hours, start=1)
        ]

    return build


CASES = [
    ("idle", forgotten_box, [("i-box", "748.46", "high")]),
    ("idle", dev_box([range(100, 130)]), [("i-dev", "300.00", "medium")]),
    ("idle", dev_box([range(100, 120)]), []),
    ("idle", dev_box([range(h, h + 3) for h in range(100, 200, 10)]), []),
    ("spot", trainer(), [("i-train", "3360.00", "high")]),
    ("spot", trainer(jobs=("job-a", "job-b", "job-c")), [("i-train", "3360.00", "medium")]),
    ("spot", trainer(jobs=("job-a", "job-b")), []),
    ("spot", trainer(pricing="Committed"), [("i-train", "3360.00", "low")]),
    ("spot", trainer(pricing="Dynamic"), []),
    ("spot", server("vllm-serve"), []),
    ("rightsize", one_busy_gpu, [("i-p5", "4816.00", "medium")]),
    ("rightsize", one_reporting_gpu, []),
    ("rightsize", quiet_h100(sm=20, mem_gib=10), [("i-h100", "508.00", "medium")]),
    ("rightsize", quiet_h100(sm=45, mem_gib=10), []),
    ("rightsize", quiet_h100(sm=20, mem_gib=45), []),
    ("distill", llm_endpoint("llama-3.1-70b-instruct"), [("i-llm", "17856.00", "low")]),
    ("distill", llm_endpoint("llama-3.1-8b-instruct"), []),
    ("distill", llm_endpoint("llama-3.1-70b-instruct", sm=45), []),
    ("distill", llm_endpoint("llama-3.1-70b-instruct", busy_hours=500), []),
    ("commit", embedding_fleet((744, 744)), [("i-e1,i-e2", "4464.00", "high")]),
    ("commit", embedding_fleet((744, 500)), [("i-e1", "2232.00", "high")]),
    ("commit", embedding_fleet((500, 500)), []),
]
IDS = [
    "idle-forgotten-box",
    "idle-30h-stretch",
    "idle-near-miss-20h",
    "idle-near-miss-3h-stretches",
    "spot-training-label",
    "spot-three-jobs",
    "spot-near-miss-two-jobs",
    "spot-committed-at-renewal",
    "spot-near-miss-already-spot",
    "spot-near-miss-inference",
    "rightsize-fewer-gpus",
    "rightsize-near-miss-gpus-not-reporting",
    "rightsize-smaller-gpu",
    "rightsize-near-miss-sm-45",
    "rightsize-near-miss-memory-45gib",
    "distill-70b-endpoint",
    "distill-near-miss-8b",
    "distill-near-miss-sm-45",
    "distill-near-miss-busy-500h",
    "commit-two-steady",
    "commit-one-steady-of-two",
    "commit-near-miss-500h",
]


@pytest.mark.parametrize(("kind", "scenario", "expected"), CASES, ids=IDS)
def test_kind_triggers_or_stays_silent(
    store: Store,
    settings: Settings,
    kind: str,
    scenario: Scenario,
    expected: list[tuple[str, str, str]],
) -> None:
    use_test_prices(store)
    write_month(store, OCT, scenario())
    found = recommend(store, settings, OCT).filter(pl.col(Rec.kind) == kind)
    got = [
        (",".join(row[Rec.resource_ids]), str(row[Rec.monthly_saving]), row[Rec.confidence])
        for row in found.to_dicts()
    ]
    assert got == expected
