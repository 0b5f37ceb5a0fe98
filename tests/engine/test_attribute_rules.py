"""Hand-computed cases, one per attribution rule: the amounts are worked out in each case's id."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from tests.engine.attribute_helpers import START, allocate, busy, by_label, cost, expected, tags

TEAMS: dict[str, Any] = {
    "nlp": {"aliases": ["NLP", "nlp-research"]},
    "vision": {"aliases": ["Vision", "cv"]},
    "ml-platform": {"aliases": ["ML Platform"], "accounts": ["acct-platform"]},
    "speech": {},
}
D = Decimal


def settings(**sections: Any) -> Settings:
    return Settings.model_validate({"teams": TEAMS, **sections})


Case = tuple[list[dict[str, Any]], list[dict[str, Any]], Settings, Any]

TELEMETRY_CASES: dict[str, Case] = {
    # 1 GPU, $12/h; two pods share every bucket 75:25 by sm_util → $9 / $3.
    "two-pods-by-sm-util": (
        [cost(EffectiveCost=D(12), x_GpuCount=1, Tags=tags(team="vision"))],
        busy("a", team="NLP", model="llama", sm=75) + busy("b", team="cv", model="vit", sm=25),
        settings(),
        expected(
            ("nlp", "llama", "ml/a", "usage", "telemetry", "9"),
            ("vision", "vit", "ml/b", "usage", "telemetry", "3"),
        ),
    ),
    # Busy half the hour: $6 to the pod, $6 idle to the owner (tag team=vision).
    "idle-to-owner": (
        [cost(EffectiveCost=D(12), x_GpuCount=1, Tags=tags(team="vision"))],
        busy("a", team="nlp", model="llama", buckets=6) + busy(None, buckets=6, first=6),
        settings(),
        expected(
            ("nlp", "llama", "ml/a", "usage", "telemetry", "6"),
            ("vision", "(idle)", None, "idle", "idle:owner", "6"),
        ),
    ),
    # Same, idle = shared: the only labelled user (nlp) takes the idle half.
    "idle-shared-over-users": (
        [cost(EffectiveCost=D(12), x_GpuCount=1, Tags=tags(team="vision"))],
        busy("a", team="nlp", model="llama", buckets=6),
        settings(reporting={"idle": "shared"}),
        expected(
            ("nlp", "(idle)", None, "idle", "idle:shared", "6"),
            ("nlp", "llama", "ml/a", "usage", "telemetry", "6"),
        ),
    ),
    "idle-unallocated": (
        [cost(EffectiveCost=D(12), x_GpuCount=1, Tags=tags(team="vision"))],
        busy("a", team="nlp", model="llama", buckets=6),
        settings(reporting={"idle": "unallocated"}),
        expected(
            ("(unallocated)", "(idle)", None, "idle", "idle:unallocated", "6"),
            ("nlp", "llama", "ml/a", "usage", "telemetry", "6"),
        ),
    ),
    # 4 GPUs at $8/h: one GPU busy all hour → $2; three GPUs without buckets → $6 idle.
    "one-of-four-gpus": (
        [cost(EffectiveCost=D(8), x_GpuCount=4, Tags=tags(team="vision"))],
        busy("a", team="nlp", model="llama"),
        settings(),
        expected(
            ("nlp", "llama", "ml/a", "usage", "telemetry", "2"),
            ("vision", "(idle)", None, "idle", "idle:owner", "6"),
        ),
    ),
    # A100 at $14/h: MIG 3g (3/7 → $6) to nlp, 1g (1/7 → $2) to vision, 3 free slices → $6 idle.
    "mig-slices": (
        [cost(EffectiveCost=D(14), x_GpuCount=1, Tags=tags(team="speech"))],
        busy("a", team="nlp", model="m", gpu="MIG-a", mig_profile="3g.40gb", gpu_model="A100")
        + busy("b", team="vision", model="m", gpu="MIG-b", mig_profile="1g.10gb", gpu_model="A100"),
        settings(),
        expected(
            ("nlp", "m", "ml/a", "usage", "telemetry", "6"),
            ("speech", "(idle)", None, "idle", "idle:owner", "6"),
            ("vision", "m", "ml/b", "usage", "telemetry", "2"),
        ),
    ),
    # Time-sliced with zero utilization on both: equal shares, never $0.
    "time-sliced-zero-util": (
        [cost(EffectiveCost=D(12), x_GpuCount=1)],
        busy("a", team="nlp", model="m", sm=0) + busy("b", team="vision", model="m", sm=0),
        settings(),
        expected(
            ("nlp", "m", "ml/a", "usage", "telemetry", "6"),
            ("vision", "m", "ml/b", "usage", "telemetry", "6"),
        ),
    ),
    # A pod without a team label: the instance's owner by tag pays, under the tag's rule.
    "unlabelled-workload-owner": (
        [cost(EffectiveCost=D(12), x_GpuCount=1, Tags=tags(Team="Vision"))],
        busy("a", model="vit"),
        settings(),
        expected(("vision", "vit", "ml/a", "usage", "tag:team", "12")),
    ),
    # A daily row of $240 on 1 GPU: busy the first hour only → $10; the other 23 hours idle.
    "daily-charge-period": (
        [
            cost(
                EffectiveCost=D(240),
                x_GpuCount=1,
                ChargePeriodEnd=START + timedelta(days=1),
                Tags=tags(team="vision"),
            )
        ],
        busy("a", team="nlp", model="m") + busy(None, buckets=12 * 23, first=12),
        settings(),
        expected(
            ("nlp", "m", "ml/a", "usage", "telemetry", "10"),
            ("vision", "(idle)", None, "idle", "idle:owner", "230"),
        ),
    ),
    # The same day with telemetry in the first hour only (agent down after it): the 23 hours
    # without a bucket are not idle, they go to the owner as no telemetry.
    "hours-without-telemetry": (
        [
            cost(
                EffectiveCost=D(240),
                x_GpuCount=1,
                ChargePeriodEnd=START + timedelta(days=1),
                Tags=tags(team="vision"),
            )
        ],
        busy("a", team="nlp", model="m", buckets=6),
        settings(reporting={"idle": "shared"}),
        expected(
            ("nlp", "(idle)", None, "idle", "idle:shared", "5"),
            ("nlp", "m", "ml/a", "usage", "telemetry", "5"),
            ("vision", "(no telemetry)", None, "no_telemetry", "no-telemetry:owner", "230"),
        ),
    ),
    # An hourly instance reporting in hour 0 (idle) but not in hour 1: idle, then no telemetry.
    "idle-hour-then-silent-hour": (
        [
            cost(EffectiveCost=D(3), x_GpuCount=1, Tags=tags(team="vision")),
            cost(
                EffectiveCost=D(3),
                x_GpuCount=1,
                ChargePeriodStart=START + timedelta(hours=1),
                ChargePeriodEnd=START + timedelta(hours=2),
                Tags=tags(team="vision"),
            ),
        ],
        busy(None),
        settings(),
        expected(
            ("vision", "(idle)", None, "idle", "idle:owner", "3"),
            ("vision", "(no telemetry)", None, "no_telemetry", "no-telemetry:owner", "3"),
        ),
    ),
    # GCP bills core and GPU SKUs of one instance-hour apart (one as a split line): both follow.
    "split-lines-of-one-instance": (
        [
            cost(EffectiveCost=D(9), SkuId="core"),
            cost(EffectiveCost=D(3), ResourceId="i-1/gpu", x_ParentResourceId="i-1", x_GpuCount=1),
        ],
        busy("a", team="nlp", model="m"),
        settings(),
        expected(("nlp", "m", "ml/a", "usage", "telemetry", "12")),
    ),
    # No GPU count on the bill: telemetry saw 2 GPUs (one busy, one idle) → $6 / $6.
    "gpu-count-from-telemetry": (
        [cost(EffectiveCost=D(12), Tags=tags(team="vision"))],
        busy("a", team="nlp", model="m") + busy(None, gpu="GPU-1"),
        settings(),
        expected(
            ("nlp", "m", "ml/a", "usage", "telemetry", "6"),
            ("vision", "(idle)", None, "idle", "idle:owner", "6"),
        ),
    ),
    # Telemetry reports two busy GPUs on an instance billed with one: scaled to fit, no idle.
    "over-reported-gpus": (
        [cost(EffectiveCost=D(12), x_GpuCount=1)],
        busy("a", team="nlp", model="m") + busy("b", team="vision", model="m", gpu="GPU-1"),
        settings(),
        expected(
            ("nlp", "m", "ml/a", "usage", "telemetry", "6"),
            ("vision", "m", "ml/b", "usage", "telemetry", "6"),
        ),
    ),
    # A credit on a GPU instance follows its usage and stays a credit.
    "credit-on-gpu-instance": (
        [
            cost(EffectiveCost=D(12), x_GpuCount=1),
            cost(EffectiveCost=D(-4), ChargeCategory="Credit", x_GpuCount=1),
        ],
        busy("a", team="nlp", model="m", buckets=6),
        settings(reporting={"idle": "unallocated"}),
        expected(
            ("(unallocated)", "(idle)", None, "credit", "idle:unallocated", "-2"),
            ("(unallocated)", "(idle)", None, "idle", "idle:unallocated", "6"),
            ("nlp", "m", "ml/a", "credit", "telemetry", "-2"),
            ("nlp", "m", "ml/a", "usage", "telemetry", "6"),
        ),
    ),
}

OWNERSHIP_CASES: dict[str, Case] = {
    "tag-alias-to-team": (
        [cost(EffectiveCost=D(5), Tags=tags(team="ML Platform", model="bert"))],
        [],
        settings(),
        expected(("ml-platform", "bert", None, "usage", "tag:team", "5")),
    ),
    "tag-keys-in-order-case-insensitive": (
        [cost(EffectiveCost=D(5), Tags=tags(cost_center="nlp", Owner="cv"))],
        [],
        settings(),
        expected(("vision", "(unlabelled)", None, "usage", "tag:owner", "5")),
    ),
    "unknown-tag-value-is-a-team": (
        [cost(EffectiveCost=D(5), Tags=tags(team="Data Science"))],
        [],
        settings(),
        expected(("data-science", "(unlabelled)", None, "usage", "tag:team", "5")),
    ),
    "tag-before-account-map": (
        [
            cost(EffectiveCost=D(5), SubAccountId="acct-vision", Tags=tags(team="nlp")),
            cost(EffectiveCost=D(2), SubAccountId="acct-vision", ResourceId="vol-2"),
        ],
        [],
        settings(rules={"account_map": {"acct-vision": "Vision"}}),
        expected(
            ("nlp", "(unlabelled)", None, "usage", "tag:team", "5"),
            ("vision", "(unlabelled)", None, "usage", "account-map", "2"),
        ),
    ),
    "team-accounts": (
        [cost(EffectiveCost=D(5), SubAccountId="acct-platform")],
        [],
        settings(),
        expected(("ml-platform", "(unlabelled)", None, "usage", "account-map", "5")),
    ),
    "regex-on-resource-name": (
        [
            cost(EffectiveCost=D(5), ResourceName="speech-asr-01"),
            cost(EffectiveCost=D(1), ResourceId="i-2", ResourceName="other"),
        ],
        [],
        settings(
            rules={
                "regex": [
                    {
                        "field": "ResourceName",
                        "pattern": "^speech-asr",
                        "team": "speech",
                        "model": "asr",
                    }
                ]
            }
        ),
        expected(
            ("(unallocated)", "(unlabelled)", None, "unallocated", "unallocated", "1"),
            ("speech", "asr", None, "usage", "regex:^speech-asr", "5"),
        ),
    ),
    "gpu-instance-without-telemetry": (
        [cost(EffectiveCost=D(40), x_GpuCount=8, Tags=tags(team="nlp"))],
        busy("a", team="vision", resource="i-other"),
        settings(),
        expected(("nlp", "(unlabelled)", None, "usage", "tag:team", "40")),
    ),
    "tax-unallocated-without-pool": (
        [cost(EffectiveCost=D(3), ChargeCategory="Tax", ResourceId=None)],
        [],
        settings(),
        expected(("(unallocated)", "(unlabelled)", None, "tax", "unallocated", "3")),
    ),
}

SUPPORT = {"name": "support", "services": ["AWS Support"]}
DIRECT = [
    cost(EffectiveCost=D(30), Tags=tags(team="nlp")),
    cost(EffectiveCost=D(10), ResourceId="i-2", Tags=tags(team="vision")),
]
SUPPORT_ROW = cost(EffectiveCost=D(8), ServiceName="AWS Support", ResourceId=None)
DIRECT_LINES = (
    ("nlp", "(unlabelled)", None, "usage", "tag:team", "30"),
    ("vision", "(unlabelled)", None, "usage", "tag:team", "10"),
)

POOL_CASES: dict[str, Case] = {
    # $8 support over direct costs 30:10 → $6 / $2.
    "proportional": (
        [*DIRECT, SUPPORT_ROW],
        [],
        settings(rules={"shared": [SUPPORT]}),
        expected(
            ("nlp", "(unlabelled)", None, "shared", "shared:support", "6"),
            *DIRECT_LINES,
            ("vision", "(unlabelled)", None, "shared", "shared:support", "2"),
        ),
    ),
    "even": (
        [*DIRECT, SUPPORT_ROW],
        [],
        settings(rules={"shared": [{**SUPPORT, "split": "even"}]}),
        expected(
            ("nlp", "(unlabelled)", None, "shared", "shared:support", "4"),
            *DIRECT_LINES,
            ("vision", "(unlabelled)", None, "shared", "shared:support", "4"),
        ),
    ),
    "fixed-weights-by-alias": (
        [*DIRECT, SUPPORT_ROW],
        [],
        settings(rules={"shared": [{**SUPPORT, "split": "fixed", "weights": {"NLP": 1, "cv": 3}}]}),
        expected(
            ("nlp", "(unlabelled)", None, "shared", "shared:support", "2"),
            *DIRECT_LINES,
            ("vision", "(unlabelled)", None, "shared", "shared:support", "6"),
        ),
    ),
    "no-team-to-share-with": (
        [SUPPORT_ROW],
        [],
        settings(rules={"shared": [SUPPORT]}),
        expected(("(unallocated)", "(unlabelled)", None, "shared", "shared:support", "8")),
    ),
    # Unused reserved capacity selected by cost type; tax by charge category; first pool wins.
    "commitment-and-tax-pools": (
        [
            *DIRECT,
            cost(EffectiveCost=D(4), x_LineItemType="RIFee", ResourceId=None),
            cost(EffectiveCost=D(2), ChargeCategory="Tax", ResourceId=None),
        ],
        [],
        settings(
            rules={
                "shared": [
                    {"name": "unused-ri", "cost_types": ["commitment"], "split": "even"},
                    {"name": "tax", "charge_categories": ["Tax"]},
                ]
            }
        ),
        expected(
            ("nlp", "(unlabelled)", None, "shared", "shared:tax", "1.5"),
            ("nlp", "(unlabelled)", None, "shared", "shared:unused-ri", "2"),
            *DIRECT_LINES,
            ("vision", "(unlabelled)", None, "shared", "shared:tax", "0.5"),
            ("vision", "(unlabelled)", None, "shared", "shared:unused-ri", "2"),
        ),
    ),
    # Direct cost only in USD: a EUR support row has no team to follow in EUR.
    "proportional-per-currency": (
        [*DIRECT, {**SUPPORT_ROW, "BillingCurrency": "EUR"}],
        [],
        settings(rules={"shared": [SUPPORT]}),
        expected(
            ("(unallocated)", "(unlabelled)", None, "shared", "shared:support", "8"),
            *DIRECT_LINES,
        ),
    ),
}


def _check(case: Case) -> None:
    costs, usage, config, want = case
    got = by_label(allocate(costs, usage, config))
    assert_frame_equal(got, want)


@pytest.mark.parametrize("case", TELEMETRY_CASES.values(), ids=TELEMETRY_CASES.keys())
def test_gpu_instances_with_telemetry(case: Case) -> None:
    _check(case)


@pytest.mark.parametrize("case", OWNERSHIP_CASES.values(), ids=OWNERSHIP_CASES.keys())
def test_ownership_rules(case: Case) -> None:
    _check(case)


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_shared_pools(case: Case) -> None:
    _check(case)
