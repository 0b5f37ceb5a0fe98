"""**distill**: a large model behind a steady inference workload that a smaller model could serve.

Rule, per (team, model) over the instances whose busy time that model holds: the workload serves
inference (a workload or model name containing one of ``inference_labels``, or token counts in
``model_tokens``), the model is large (at least ``distill_min_params_b`` billion parameters, read
from its name: "llama-3.1-70b" → 70), it is steady (busy at least ``distill_min_busy_share`` of the
month, held-time weighted) and busy (mean SM activity at least ``distill_min_sm_util``) on at
least ``distill_min_gpu_hours`` GPU-hours. Saving = the instances' bill × (1 −
``distill_gpu_hour_ratio``): a distilled model needing that share of the GPU-hours. Confidence is
always low: the smaller model must pass the team's quality check first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from gpuledger.engine.recommend.finding import Finding, RuleContext, cents, dec
from gpuledger.engine.recommend.profile import Profile, labelled, model_params_b


def _groups(profiles: list[Profile], context: RuleContext) -> dict[tuple[str, str], list[Profile]]:
    labels = context.settings.thresholds.recommend.inference_labels
    groups: dict[tuple[str, str], list[Profile]] = defaultdict(list)
    for profile in profiles:
        if profile.model is None:
            continue
        serving = labelled(profile.names, labels)
        if serving or (profile.team, profile.model) in context.unit_costs:
            groups[(profile.team, profile.model)].append(profile)
    return groups


@dataclass(frozen=True)
class _Serving:
    """One (team, model)'s serving instances, summed."""

    gpu_hours: float
    mean_sm: float  # over busy GPU-hours
    busy_share: float  # held-time weighted
    cost: Decimal


def _serving(members: list[Profile]) -> _Serving:
    held = sum(p.held_gpu_hours for p in members)
    busy = [(p.mean_sm or 0.0, p.held_gpu_hours - p.idle_gpu_hours) for p in members]
    busy_hours = sum(hours for _, hours in busy)
    return _Serving(
        gpu_hours=held,
        mean_sm=sum(sm * hours for sm, hours in busy) / busy_hours if busy_hours > 0 else 0.0,
        busy_share=sum(p.busy_share * p.held_gpu_hours for p in members) / held if held else 0.0,
        cost=sum((p.resource.cost for p in members), Decimal(0)),
    )


def distill_findings(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    rules = context.settings.thresholds.recommend
    findings = []
    for (team, model), members in sorted(_groups(profiles, context).items()):
        params = model_params_b(model)
        serving = _serving(members)
        if (
            params is None
            or params < rules.distill_min_params_b
            or serving.gpu_hours < rules.distill_min_gpu_hours
            or serving.mean_sm < rules.distill_min_sm_util
            or serving.busy_share < rules.distill_min_busy_share
        ):
            continue
        saving = cents(serving.cost * (1 - dec(rules.distill_gpu_hour_ratio)))
        if saving >= context.min_saving:
            evidence = _evidence(params, serving, context, (team, model))
            findings.append(
                _finding(
                    team,
                    model,
                    members,
                    serving.cost,
                    saving,
                    evidence,
                    rules.distill_gpu_hour_ratio,
                )
            )
    return findings


def _evidence(
    params: float, serving: _Serving, context: RuleContext, key: tuple[str, str]
) -> dict[str, object]:
    rules = context.settings.thresholds.recommend
    return {
        "params_b": params,
        "gpu_hours": round(serving.gpu_hours, 3),
        "mean_sm_util": round(serving.mean_sm, 2),
        "busy_share": round(serving.busy_share, 4),
        "gpu_hour_ratio": rules.distill_gpu_hour_ratio,
        "thresholds": {
            "distill_min_params_b": rules.distill_min_params_b,
            "distill_min_gpu_hours": rules.distill_min_gpu_hours,
            "distill_min_sm_util": rules.distill_min_sm_util,
            "distill_min_busy_share": rules.distill_min_busy_share,
        },
        "unit_cost": dict(context.unit_costs.get(key, {})) or None,
        "needs_quality_check": True,
    }


def _finding(
    team: str,
    model: str,
    members: list[Profile],
    cost: Decimal,
    saving: Decimal,
    evidence: dict[str, object],
    ratio: float,
) -> Finding:
    return Finding(
        kind="distill",
        team=team,
        model=model,
        subject=f"model:{model}",
        resource_ids=tuple(sorted(p.resource_id for p in members)),
        monthly_cost=cents(cost),
        monthly_saving=saving,
        confidence="low",
        action=(
            f"Evaluate a distilled or smaller model in place of {model} for this endpoint "
            f"(about {ratio:.0%} of today's GPU-hours); switch only after it passes a quality check."
        ),
        target="distill",
        evidence=evidence,
    )
