"""A recommendation as the rules produce it, with the stable id that follows it across months.

The id hashes what the finding is about — kind, team, model and its subject (the sorted instance
ids, or the instance family a commitment covers) — never the period or any amount, so the same
finding next month has the same id and keeps its status. The fingerprint adds what the action
proposes (the target type, "stop" …): a dismissal holds while the fingerprint is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from gpuledger.config import Settings
from gpuledger.prices.book import PriceBook

CENT = Decimal("0.01")
KINDS = ("spot", "rightsize", "distill", "idle", "commit", "placement")
CONFIDENCE = ("low", "medium", "high")


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: float | int | Decimal) -> Decimal:
    """A float measurement as the Decimal of its shortest repr (0.1 → Decimal('0.1'))."""
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def stable_id(kind: str, team: str, model: str | None, subject: str) -> str:
    """``<kind>-<12 hex>`` from what the finding is about; never from the period or amounts."""
    return f"{kind}-{_digest(kind, team, model or '', subject)[:12]}"


@dataclass(frozen=True)
class Finding:
    """One recommendation before it is stored: money exact, evidence as plain data."""

    kind: str
    team: str
    model: str | None
    subject: str
    resource_ids: tuple[str, ...]
    monthly_cost: Decimal
    monthly_saving: Decimal
    confidence: str
    action: str
    target: str  # what the action proposes, for the dismissal fingerprint
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return stable_id(self.kind, self.team, self.model, self.subject)

    @property
    def fingerprint(self) -> str:
        return _digest(self.id, ",".join(sorted(self.resource_ids)), self.target)[:16]


@dataclass(frozen=True)
class RuleContext:
    """What every rule may read besides the profiles."""

    settings: Settings
    prices: PriceBook
    period: str
    hours_in_period: int
    # (team, model) → cost per million tokens, where token counts exist (``unit_cost.py``)
    unit_costs: Mapping[tuple[str, str], Mapping[str, object]] = field(default_factory=dict)

    @property
    def min_saving(self) -> Decimal:
        return self.settings.thresholds.recommend.min_monthly_saving


def own_rate_source() -> str:
    return "the instance's own bill this month (cost basis / billed hours)"
