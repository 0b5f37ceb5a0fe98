"""Read model of the recommendations page, and the one write the app makes: a status change.

Recommendations come from :func:`gpuledger.engine.recommend.pipeline.current_recommendations`; a status
change goes through :func:`gpuledger.engine.recommend.status.set_status` with the same
arguments ``gpuledger recommend --dismiss ID --reason …`` passes, so the CLI and the app record
the same thing. A team lead reads and changes their own team's recommendations only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.recommend.pipeline import (
    FINGERPRINT,
    STATUS,
    current_recommendations,
    done_outcomes,
    non_overlapping_saving,
)
from gpuledger.engine.recommend.pipeline import change_status as engine_change_status
from gpuledger.errors import UsageError
from gpuledger.report.email.message import money
from gpuledger.report.readmodel.access import Viewer
from gpuledger.schema import Rec, make_schema
from gpuledger.store.delta import Store

# What the app offers; the CLI's flags map to the same statuses.
ACTIONS = {"acknowledge": "acknowledged", "dismiss": "dismissed", "done": "done"}
OUTCOME_SCHEMA = make_schema(
    {
        "id": pl.String,
        "kind": pl.String,
        "done_in": pl.String,
        "estimated_saving": pl.Decimal(38, 2),
        "realized_saving": pl.Decimal(38, 2),
        Rec.team: pl.String,
    }
)


@dataclass(frozen=True)
class RecsView:
    period: str
    currency: str
    rows: pl.DataFrame  # schema.Rec columns + status, evidence without the internal fingerprint
    open_saving: Decimal  # of the ones neither dismissed nor done, each instance counted once
    outcomes: pl.DataFrame  # done ones: team, estimated vs realized monthly saving


def public_evidence(text: str) -> str:
    """Evidence JSON as people read it: the lifecycle's fingerprint is bookkeeping, not evidence."""
    evidence = json.loads(text)
    evidence.pop(FINGERPRINT, None)
    return json.dumps(evidence, indent=1, sort_keys=True)


def evidence_sentences(text: str, currency: str) -> list[str]:
    """A recommendation's evidence as sentences people read, the price's source and date included.

    Facts this module has no sentence for are listed as ``name: value`` rather than dropped.
    """
    evidence = json.loads(text)
    evidence.pop(FINGERPRINT, None)
    said = [sentence(evidence, currency) for sentence in _SENTENCES]
    known = {key for keys in _SENTENCE_KEYS for key in keys}
    rest = [f"{key}: {_plain(evidence[key])}" for key in sorted(evidence) if key not in known]
    return [text for text in said if text] + rest


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(item) for item in value)
    return "—" if value is None else str(value)


def _rate(value: object, currency: str) -> str:
    """An hourly price as quoted: to its own decimals, at least two (``32.773 USD/h``)."""
    amount = Decimal(str(value))
    places = max(2, -int(amount.normalize().as_tuple().exponent))
    return f"{amount:,.{places}f} {currency}/h"


def _share(value: object) -> str:
    return f"{float(str(value)):.1%}"


def _price_sentence(evidence: dict[str, Any], currency: str) -> str | None:
    price = evidence.get("price")
    if not isinstance(price, dict):
        return None
    quotes = [
        f"{_rate(price[key], currency)} {label}"
        for key, label in (("on_demand_hourly", "on demand"), ("spot_hourly", "spot"))
        if price.get(key) is not None
    ]
    where = " in ".join(
        str(part) for part in (price.get("instance_type"), price.get("region")) if part
    )
    approximate = " (approximate)" if price.get("approximate") else ""
    return (
        f"Price{approximate}: {' and '.join(quotes) or 'not listed'} for {where}"
        f" ({price.get('provider') or '—'}); source: {price.get('source') or '—'},"
        f" as of {price.get('as_of') or '—'}."
    )


def _own_rate_sentence(evidence: dict[str, Any], currency: str) -> str | None:
    rate = evidence.get("hourly_rate", evidence.get("on_demand_hourly"))
    if rate is None or "price_source" not in evidence:
        return None
    return f"Hourly rate {_rate(rate, currency)}; source: {evidence['price_source']}."


def _idle_sentence(evidence: dict[str, Any], currency: str) -> str | None:
    if "idle_hours" not in evidence:
        return None
    return (
        f"Idle {evidence['idle_hours']} GPU-hours in {evidence.get('idle_stretches', '—')}"
        f" stretches; busy {_share(evidence.get('busy_share', 0))} of the time (idle means"
        f" SM utilization under {evidence.get('idle_sm_util', '—')}%; findings need"
        f" {evidence.get('idle_min_hours', '—')} idle hours, stretches of"
        f" {evidence.get('idle_min_stretch_hours', '—')} h)."
    )


def _usage_sentence(evidence: dict[str, Any], currency: str) -> str | None:
    if "busy_gpus" in evidence:
        return (
            f"{evidence['busy_gpus']} of {evidence.get('gpu_count', '—')} GPUs busy; p95 SM"
            f" utilization {_plain(evidence.get('p95_sm_util'))}%, peak memory"
            f" {_plain(evidence.get('peak_mem_gib'))} of"
            f" {_plain(evidence.get('mem_capacity_gib'))} GiB."
        )
    if "params_b" in evidence:
        return (
            f"A {evidence['params_b']}B-parameter model served on {evidence.get('gpu_hours')}"
            f" GPU-hours at {evidence.get('mean_sm_util')}% mean SM utilization, busy"
            f" {_share(evidence.get('busy_share', 0))} of the time; a distilled model needs about"
            f" {_share(evidence.get('gpu_hour_ratio', 0))} of those GPU-hours, after a quality"
            " check."
        )
    if "interruptible_by" in evidence:
        workloads = _plain(evidence.get("workloads")) or "—"
        return (
            f"Interruptible work, as its {evidence['interruptible_by']} shows: {workloads};"
            f" {evidence.get('jobs', '—')} jobs, billed {evidence.get('billed_hours', '—')} h as"
            f" {evidence.get('pricing_category') or '—'}; spot"
            f" {_rate(evidence.get('spot_hourly', 0), currency)} plus"
            f" {_share(evidence.get('interruption_overhead', 0))} for interruptions."
        )
    if "baseline_instances" in evidence:
        return (
            f"{evidence['baseline_instances']} instances ran a steady baseline of the month's"
            f" {evidence.get('hours_in_period', '—')} h; a commitment at"
            f" {_share(evidence.get('commit_discount', 0))} off"
            f" ({evidence.get('discount_source', '—')}) breaks even at"
            f" {_share(evidence.get('break_even_utilization', 0))} utilization."
        )
    return None


def _billed_sentence(evidence: dict[str, Any], currency: str) -> str | None:
    billed = evidence.get("billed_to_teams")
    if not isinstance(billed, dict):
        return None
    shares = ", ".join(f"{team} {money(Decimal(cost), currency)}" for team, cost in billed.items())
    return f"Billed to several teams this month: {shares}."


_SENTENCES: tuple[Callable[[dict[str, Any], str], str | None], ...] = (
    _usage_sentence,
    _idle_sentence,
    _own_rate_sentence,
    _price_sentence,
    _billed_sentence,
)
# the evidence each sentence above tells (thresholds and per-instance hours stay out of prose)
_SENTENCE_KEYS = (
    ("busy_gpus", "gpu_count", "p95_sm_util", "peak_mem_gib", "mem_capacity_gib", "thresholds"),
    (
        "params_b",
        "gpu_hours",
        "mean_sm_util",
        "busy_share",
        "gpu_hour_ratio",
        "needs_quality_check",
    ),
    ("interruptible_by", "workloads", "jobs", "pricing_category", "billed_hours", "spot_hourly"),
    ("interruption_overhead", "unit_cost"),
    ("baseline_instances", "hours_in_period", "commit_discount", "discount_source"),
    ("break_even_utilization", "commit_min_baseline_share"),
    ("idle_hours", "idle_stretches", "idle_min_hours", "idle_min_stretch_hours", "idle_sm_util"),
    ("hourly_rate", "on_demand_hourly", "price_source", "price", "billed_to_teams"),
)


def all_recs(store: Store, settings: Settings, period: str) -> RecsView:
    """Every team's recommendations of ``period`` and the outcomes of done ones."""
    rows = current_recommendations(store, settings, period).with_columns(
        pl.col(Rec.evidence).map_elements(public_evidence, return_dtype=pl.String)
    )
    teams = _teams_by_id(store)
    outcomes = [
        {
            **{key: outcome[key] for key in OUTCOME_SCHEMA if key != Rec.team},
            Rec.team: teams.get(str(outcome["id"])),
        }
        for outcome in done_outcomes(store, settings, period)
    ]
    return RecsView(
        period=period,
        currency=settings.reporting.currency,
        rows=rows,
        open_saving=non_overlapping_saving(rows),
        outcomes=pl.DataFrame(outcomes, schema=OUTCOME_SCHEMA),
    )


def recs_view(recs: RecsView, viewer: Viewer) -> RecsView:
    """The recommendations and outcomes of the viewer's teams, with the open saving of those."""
    if viewer.finance:
        return recs
    mine = pl.col(Rec.team).is_in(sorted(viewer.teams))
    rows = recs.rows.filter(mine)
    return replace(
        recs,
        rows=rows,
        open_saving=non_overlapping_saving(rows),
        outcomes=recs.outcomes.filter(mine),
    )


def team_recs(recs: RecsView, team: str | None) -> RecsView:
    """One team's part of a view (None: the whole view), with that team's open saving."""
    if team is None:
        return recs
    rows = recs.rows.filter(pl.col(Rec.team) == team)
    return replace(
        recs,
        rows=rows,
        open_saving=non_overlapping_saving(rows),
        outcomes=recs.outcomes.filter(pl.col(Rec.team) == team),
    )


def _teams_by_id(store: Store) -> dict[str, str]:
    """The team of every recommendation ever stored (ids are stable across months)."""
    frame = store.scan("recommendation").select(Rec.id, Rec.team).unique().collect()
    return dict(zip(frame[Rec.id].to_list(), frame[Rec.team].to_list(), strict=True))


def change_status(
    store: Store,
    settings: Settings,
    period: str,
    viewer: Viewer,
    rec_id: str,
    action: str,
    reason: str | None,
) -> str:
    """Acknowledge, dismiss (with a reason) or mark done one recommendation; returns the status."""
    status = ACTIONS.get(action)
    if status is None:
        raise UsageError(f"unknown action {action!r} (expected {', '.join(ACTIONS)})")
    if status == "dismissed" and not (reason or "").strip():
        raise UsageError("Give a reason for dismissing.")
    engine_change_status(
        store, settings, period, rec_id, status, reason=reason, authorize=viewer.require_team
    )
    return status


__all__ = [
    "ACTIONS",
    "STATUS",
    "RecsView",
    "change_status",
    "evidence_sentences",
    "recs_view",
    "team_recs",
]
