"""Read model of the recommendations page, and the one write the app makes: a status change.

Recommendations come from :func:`gpuledger.engine.recommend.pipeline.current_recommendations`; a status
change goes through :func:`gpuledger.engine.recommend.status.set_status` with the same
arguments ``gpuledger recommend --dismiss ID --reason …`` passes, so the CLI and the app record
the same thing. A team lead reads and changes their own team's recommendations only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal

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
    engine_change_status(
        store, settings, period, rec_id, status, reason=reason, authorize=viewer.require_team
    )
    return status


__all__ = ["ACTIONS", "STATUS", "RecsView", "change_status", "recs_view"]
