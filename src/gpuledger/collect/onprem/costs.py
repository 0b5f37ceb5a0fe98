"""On-prem cost model, money only: a cluster's fixed cost of a month and its energy price.

Part of ``collect/onprem``. Amounts are whole nano-units (1e-9 of the reporting currency) so
that spreading them is exact:

* hardware: ``purchase_cost`` over the ``amortization_months`` months from the purchase month;
  the window's months add up to ``purchase_cost`` exactly (the nano-units the division leaves go
  one each to the window's first months);
* support: ``support_per_year`` over the twelve calendar months, likewise exact per year;
* colocation: ``colocation_per_month`` every month.

A setting that cannot price the month (purchase after it, no energy price in force) is a
:class:`~gpuledger.errors.ConfigError` naming the cluster and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from gpuledger.config import ClusterConfig
from gpuledger.errors import ConfigError
from gpuledger.period import Period

NANO: Final = Decimal("1e-9")


@dataclass(frozen=True)
class FixedCost:
    """A cluster's fixed cost of one month, in nano-units, by component."""

    hardware: int
    support: int
    colocation: int

    @property
    def total(self) -> int:
        return self.hardware + self.support + self.colocation


def to_nanos(amount: Decimal) -> int:
    """``amount`` in whole nano-units (half-even beyond the ninth decimal)."""
    return int(amount.quantize(NANO, rounding=ROUND_HALF_EVEN).scaleb(9))


def from_nanos(nanos: int) -> Decimal:
    """Nano-units back to a Decimal amount with nine decimals."""
    return Decimal(nanos).scaleb(-9).quantize(NANO)


def nth_share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` nano-units split in ``parts`` whole parts that add up to it.

    Largest remainder with equal shares: every part gets ``total // parts``, and the first
    ``total % parts`` parts one nano-unit more.
    """
    base, left = divmod(total, parts)
    return base + (1 if index < left else 0)


def cluster_error(cluster: ClusterConfig, key: str, problem: str, expected: str) -> ConfigError:
    """A config error naming the cluster, its key, what is wrong and what was expected."""
    return ConfigError(f"[[clusters]] {cluster.name!r}: {key}: {problem} (expected {expected})")


def months_since_purchase(cluster: ClusterConfig, period: Period) -> int:
    """Whole months from the purchase month to ``period`` (0 in the purchase month)."""
    bought = Period.of(cluster.purchase_date)
    elapsed = (period.year - bought.year) * 12 + period.month - bought.month
    if elapsed < 0:
        raise cluster_error(
            cluster,
            "purchase_date",
            f"{cluster.purchase_date.isoformat()} is after the period {period}",
            f"a purchase on or before the last day of {period}",
        )
    return elapsed


def fixed_cost(cluster: ClusterConfig, period: Period) -> FixedCost:
    """The cluster's amortized hardware, support and colocation cost of ``period``."""
    elapsed = months_since_purchase(cluster, period)
    months = cluster.amortization_months
    hardware = (
        nth_share(to_nanos(cluster.purchase_cost), months, elapsed) if elapsed < months else 0
    )
    support = nth_share(to_nanos(cluster.support_per_year), 12, period.month - 1)
    return FixedCost(hardware, support, to_nanos(cluster.colocation_per_month))


def energy_price(cluster: ClusterConfig, period: Period) -> Decimal:
    """The price per kWh in force in ``period``: the entry with the latest ``since`` not after it."""
    in_force = [p for p in cluster.energy_prices if Period.parse(p.since) <= period]
    if not in_force:
        raise cluster_error(
            cluster,
            "energy_prices",
            f"no price in force in {period}",
            f'an entry {{since = "YYYY-MM", per_kwh = …}} with since on or before {period}',
        )
    return max(in_force, key=lambda p: Period.parse(p.since)).per_kwh


def energy_cost(kwh: float, pue: Decimal, price: Decimal) -> int:
    """kWh × PUE × price per kWh, in nano-units (half-even)."""
    return to_nanos(Decimal(repr(kwh)) * pue * price)
