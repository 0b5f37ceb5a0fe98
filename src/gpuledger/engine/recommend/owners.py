"""Who owns each GPU instance, read from the period's ``allocation``: the owner chargeback bills.

Recommendations take their team from here so that a finding lands on the team whose statement
carries the instance's cost, by whatever rule put it there (tag, account map, regex, telemetry).
When the allocation splits an instance over several teams, the finding goes to the team carrying
most of its cost (ties: the team name first in alphabetical order) and every team's share stays
in the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from gpuledger.schema import Alloc
from gpuledger.store.delta import Store


@dataclass(frozen=True)
class Ownership:
    """An instance's allocated cost per team, largest first; the first team owns it."""

    costs: tuple[tuple[str, Decimal], ...]

    @property
    def team(self) -> str:
        return self.costs[0][0]

    @property
    def split(self) -> bool:
        return len(self.costs) > 1


def owners_from(allocation: pl.LazyFrame, period: str) -> dict[str, Ownership]:
    """Each instance's :class:`Ownership` from allocation rows (all cost types, every currency)."""
    frame = (
        allocation.filter(
            (pl.col(Alloc.x_BillingPeriod) == period) & pl.col(Alloc.ResourceId).is_not_null()
        )
        .group_by(Alloc.ResourceId, Alloc.team)
        .agg(pl.col(Alloc.cost).sum())
        .sort([Alloc.ResourceId, Alloc.cost, Alloc.team], descending=[False, True, False])
        .collect()
    )
    owners: dict[str, list[tuple[str, Decimal]]] = {}
    for row in frame.to_dicts():
        owners.setdefault(row[Alloc.ResourceId], []).append(
            (row[Alloc.team], Decimal(row[Alloc.cost] or 0))
        )
    return {rid: Ownership(tuple(costs)) for rid, costs in owners.items()}


def instance_owners(store: Store, period: str) -> dict[str, Ownership]:
    """The owners of the period's instances as attributed now (empty before `attribute` ran)."""
    return owners_from(store.scan("allocation"), period)
