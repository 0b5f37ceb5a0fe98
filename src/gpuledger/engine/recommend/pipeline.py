"""Savings recommendations: profiles → the six rules → the ``recommendation`` table + status.

Each rule lives in ``engine/recommend/<kind>.py`` with its trigger and saving formula written out in full.
The five cloud rules see cloud instances only (stopping or resizing an on-prem host saves none of
its paid-for hardware); ``placement`` compares on-prem hosts with the cloud.
This module runs them over the period's instance profiles, stores the findings (one Delta partition
per period, replaced on every run) and joins the lifecycle status from SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.recommend.commit import commit_findings
from gpuledger.engine.recommend.distill import distill_findings
from gpuledger.engine.recommend.finding import Finding, RuleContext, cents
from gpuledger.engine.recommend.idle import idle_findings
from gpuledger.engine.recommend.owners import instance_owners
from gpuledger.engine.recommend.placement import is_onprem, placement_findings
from gpuledger.engine.recommend.profile import Profile, profiles_from, usage_stats
from gpuledger.engine.recommend.rightsize import rightsize_findings
from gpuledger.engine.recommend.spot import spot_findings
from gpuledger.engine.recommend.status import Seen, observe, set_status, statuses
from gpuledger.engine.waste.compute import price_waste, usage_slices, waste_hours
from gpuledger.engine.waste.inputs import period_hours, resource_costs
from gpuledger.engine.waste.unit_cost import compute_unit_costs, unit_cost_evidence
from gpuledger.errors import UsageError
from gpuledger.prices.book import PriceBook
from gpuledger.schema import RECOMMENDATION_SCHEMA, Rec
from gpuledger.store.delta import Store

STATUS = "status"
FINGERPRINT = "fingerprint"
Rule = Callable[[list[Profile], RuleContext], list[Finding]]
CLOUD_RULES: tuple[Rule, ...] = (
    idle_findings,
    spot_findings,
    rightsize_findings,
    distill_findings,
    commit_findings,
)


def find(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    """Every rule's findings, largest saving first (ties by id, so the order is stable)."""
    by_id = {profile.resource_id: profile for profile in profiles}
    cloud = [profile for profile in profiles if not is_onprem(profile)]
    produced = [f for rule in CLOUD_RULES for f in rule(cloud, context)]
    produced += placement_findings(profiles, context)
    findings = [with_billed_teams(finding, by_id) for finding in produced]
    return sorted(findings, key=lambda f: (-f.monthly_saving, f.id))


def with_billed_teams(finding: Finding, profiles: dict[str, Profile]) -> Finding:
    """A finding on instances the allocation splits over several teams shows every team's share.

    The finding itself goes to the team carrying most of each instance's cost (``owners.py``);
    ``billed_to_teams`` in its evidence keeps the other teams visible, summed over its instances.
    """
    members = [profiles[rid] for rid in finding.resource_ids if rid in profiles]
    if not any(len(p.billed_to) > 1 for p in members):
        return finding
    shares: dict[str, Decimal] = {}
    for profile in members:
        for team, cost in profile.billed_to:
            shares[team] = shares.get(team, Decimal(0)) + cost
    ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
    billed = {team: str(cents(cost)) for team, cost in ranked}
    return replace(finding, evidence={**finding.evidence, "billed_to_teams": billed})


def findings_for(store: Store, settings: Settings, period: str) -> list[Finding]:
    """Load the period's bill, telemetry, tokens, prices and owners (its allocation); run the rules."""
    resources = resource_costs(store, settings, period)
    owners = {rid: r.owner for rid, r in resources.items()}
    hours, stats = [], {}
    for part in usage_slices(store, settings, period, owners):  # a slice of instances at a time
        rows = part.collect().lazy()  # read each slice once for the waste and the profiles
        hours.append(waste_hours(rows, settings).collect())
        stats.update(usage_stats(rows, settings, period))
    waste = price_waste(pl.concat(hours), resources, settings.reporting.currency)
    units = unit_cost_evidence(compute_unit_costs(store, settings, period, waste))
    context = RuleContext(
        settings=settings,
        prices=PriceBook.load(store.home),
        period=period,
        hours_in_period=period_hours(period),
        unit_costs=units,
    )
    return find(profiles_from(stats, resources, instance_owners(store, period)), context)


def to_frame(findings: list[Finding], period: str, currency: str) -> pl.DataFrame:
    """Findings as ``recommendation`` rows (evidence as JSON text, fingerprint inside it)."""
    rows = [
        {
            Rec.period: period,
            Rec.id: f.id,
            Rec.kind: f.kind,
            Rec.team: f.team,
            Rec.model: f.model,
            Rec.resource_ids: list(f.resource_ids),
            Rec.evidence: json.dumps({**f.evidence, FINGERPRINT: f.fingerprint}, sort_keys=True),
            Rec.monthly_cost: f.monthly_cost,
            Rec.monthly_saving: f.monthly_saving,
            Rec.currency: currency,
            Rec.confidence: f.confidence,
            Rec.action: f.action,
        }
        for f in findings
    ]
    return pl.DataFrame(rows, schema=RECOMMENDATION_SCHEMA)


def recommend(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    """Recompute the period's recommendations, store them, record them, return them with status."""
    findings = findings_for(store, settings, period)
    frame = to_frame(findings, period, settings.reporting.currency)
    store.replace_partitions("recommendation", frame, [Rec.period], replace=[{Rec.period: period}])
    observe(
        store.state,
        period,
        [Seen(f.id, f.kind, f.fingerprint, list(f.resource_ids)) for f in findings],
    )
    return with_status(store, frame)


def with_status(store: Store, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame plus its lifecycle ``status`` (``new`` for an id never recorded)."""
    known = {rid: row["status"] for rid, row in statuses(store.state).items()}
    return frame.with_columns(
        pl.col(Rec.id).replace_strict(known, default="new", return_dtype=pl.String).alias(STATUS)
    )


def current_recommendations(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    """The period's stored recommendations with status, computing them on first use.

    Dismissed ones are included, flagged by ``status``, so a reader decides whether to show them.
    """
    stored = store.scan("recommendation").filter(pl.col(Rec.period) == period).collect()
    if stored.is_empty():
        return recommend(store, settings, period)
    return with_status(store, stored.sort(Rec.monthly_saving, Rec.id, descending=[True, False]))


def change_status(
    store: Store,
    settings: Settings,
    period: str,
    rec_id: str,
    status: str,
    *,
    reason: str | None = None,
    authorize: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Record a status for one of the period's recommendations; the CLI and the app share this.

    ``authorize`` sees the recommendation's team before anything is written (the app refuses a
    team lead another team's finding there). Returns the recommendation's row.
    """
    frame = current_recommendations(store, settings, period).filter(pl.col(Rec.id) == rec_id)
    if frame.is_empty():
        raise UsageError(
            f"no recommendation {rec_id!r} in {period}; run `gpuledger recommend --period {period}`"
        )
    record = frame.row(0, named=True)
    if authorize is not None:
        authorize(str(record[Rec.team]))
    set_status(
        store.state,
        rec_id,
        status,
        reason=reason,
        period=period,
        fingerprint=json.loads(record[Rec.evidence])[FINGERPRINT],
        monthly_saving=record[Rec.monthly_saving],
        monthly_cost=record[Rec.monthly_cost],
    )
    return record


def done_outcomes(store: Store, settings: Settings, period: str) -> list[dict[str, object]]:
    """Realized vs estimated saving of recommendations marked done before ``period``.

    Realized = the monthly cost of the finding's instances when it was marked done − what the
    same instances cost in ``period`` (an instance gone from the bill costs nothing).
    """
    done = [
        row
        for row in statuses(store.state).values()
        if row["status"] == "done" and (row["status_period"] or "") < period
    ]
    if not done:
        return []
    costs = resource_costs(store, settings, period)
    outcomes = []
    for row in sorted(done, key=lambda r: r["id"]):
        ids = json.loads(row["resource_ids"])
        now = sum((costs[i].cost for i in ids if i in costs), Decimal(0))
        baseline = Decimal(row["baseline_cost"] or 0)
        outcomes.append(
            {
                "id": row["id"],
                "kind": row["kind"],
                "done_in": row["status_period"],
                "estimated_saving": Decimal(row["estimated_saving"] or 0),
                "realized_saving": (baseline - now).quantize(Decimal("0.01")),
                "resource_ids": ids,
            }
        )
    return outcomes


def non_overlapping_saving(frame: pl.DataFrame) -> Decimal:
    """The open monthly saving of these recommendations, counted once: every surface shows this.

    Open means neither dismissed nor done. Largest saving first (ties by id), a finding that
    touches an instance an earlier one already counted is skipped: spot and rightsize on one
    instance, or distill and commit on one deployment, are alternatives that do not add up.
    """
    taken: set[str] = set()
    total = Decimal(0)
    open_rows = frame.filter(~pl.col(STATUS).is_in(["dismissed", "done"]))
    for row in open_rows.sort(Rec.monthly_saving, Rec.id, descending=[True, False]).to_dicts():
        resources = set(row[Rec.resource_ids])
        if resources & taken:
            continue
        taken |= resources
        total += row[Rec.monthly_saving]
    return total


def gpu_bill(store: Store, settings: Settings, period: str) -> Decimal:
    """What the period's GPU instances cost (cost basis from config): the base of the share."""
    return sum((r.cost for r in resource_costs(store, settings, period).values()), Decimal(0))
