"""Read model of the GPU waste page: the engine's waste frame and utilization, per viewer.

Waste dollars come from the engine (:func:`gpuledger.engine.waste.compute.period_waste`, the steps of
:func:`gpuledger.engine.waste.compute.compute_waste`, whose result the tests compare with), and this module
only sums them along the dimension a team lead picks. The heatmaps start from the same telemetry
reduced to one row per team, GPU and hour. Both are read from what the engine stored for the month
(``waste`` and ``waste_hourly``) while that is current, since deriving them from tens of millions
of telemetry rows takes far longer than a page may; otherwise they are computed live.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.waste.compute import Waste, period_waste, stored_waste, waste_totals
from gpuledger.report.readmodel.access import Viewer
from gpuledger.schema import IDLE_MODEL, WasteHour
from gpuledger.store.delta import Store

GROUPINGS = {
    "team": (Waste.team,),
    "model": (Waste.team, Waste.model),
    "instance": (Waste.team, Waste.ResourceId, Waste.gpu_model),
}
SUMMED = (
    Waste.gpu_hours,
    Waste.idle_gpu_hours,
    Waste.unused_gpu_hours,
    Waste.cost,
    Waste.idle_cost,
    Waste.unused_cost,
    Waste.waste_cost,
)


class Util:
    """Columns of the utilization frames."""

    gpu = WasteHour.gpu  # host/index, or the GPU uuid where the host is unknown
    gpu_model = WasteHour.gpu_model
    hour = WasteHour.hour
    day = "day"
    hour_of_day = "hour_of_day"
    held_hours = WasteHour.held_hours
    sm_util = "sm_util"  # held-time-weighted SM activity, 0-100; idle time counts as 0


@dataclass(frozen=True)
class FleetWaste:
    """A month's waste for every team: what the read model caches, before any viewer's cut."""

    period: str
    currency: str
    rows: pl.DataFrame  # the engine's waste frame (schema ``WASTE_SCHEMA``)
    hourly: pl.DataFrame  # held and busy hours per team × GPU × hour (``WasteHour`` columns)
    stored: bool  # read from the engine's precompute (False: computed live, it was stale)


@dataclass(frozen=True)
class WasteView:
    """A month's waste for the viewer's teams, with its totals from the engine."""

    period: str
    currency: str
    rows: pl.DataFrame  # the engine's waste frame (schema ``WASTE_SCHEMA``)
    hourly: pl.DataFrame  # utilization per GPU and hour (``Util`` columns): the heatmaps' input
    gpu_hours: float
    idle_gpu_hours: float
    cost: Decimal
    waste_cost: Decimal

    @property
    def idle_share(self) -> float:
        """Share of the held GPU-hours that were idle."""
        return self.idle_gpu_hours / self.gpu_hours if self.gpu_hours else 0.0


def fleet_waste(store: Store, settings: Settings, period: str) -> FleetWaste:
    """The waste frame of ``period`` and its telemetry per team, GPU and hour.

    The engine's stored precompute when it was computed from the ledger as it is now (same
    ``cost`` and ``gpu_usage`` versions and settings), else the same frames computed live, so a
    missing or stale precompute only costs time, never correctness.
    """
    stored = stored_waste(store, settings, period)
    found = stored if stored is not None else period_waste(store, settings, period)
    return FleetWaste(
        period=period,
        currency=settings.reporting.currency,
        rows=found.rows,
        hourly=found.hourly,
        stored=stored is not None,
    )


def waste_view(fleet: FleetWaste, viewer: Viewer) -> WasteView:
    """The fleet's waste cut to the viewer's teams, with the engine's totals of what is left."""
    rows, hourly = fleet.rows, fleet.hourly
    if not viewer.finance:
        rows = rows.filter(pl.col(Waste.team).is_in(sorted(viewer.teams)))
        hourly = hourly.filter(pl.col(WasteHour.team).is_in(sorted(viewer.teams)))
    totals = waste_totals(rows)
    return WasteView(
        period=fleet.period,
        currency=fleet.currency,
        rows=rows,
        hourly=gpu_hours(hourly),
        gpu_hours=float(str(totals["gpu_hours"])),
        idle_gpu_hours=float(str(totals["idle_gpu_hours"])),
        cost=Decimal(str(totals["cost"])),
        waste_cost=Decimal(str(totals["waste_cost"])),
    )


def waste_by(rows: pl.DataFrame, grouping: str) -> pl.DataFrame:
    """The waste frame summed by team, team × model or team × instance, worst first."""
    keys = GROUPINGS[grouping]
    return (
        rows.group_by(*keys)
        .agg(*(pl.col(name).sum() for name in SUMMED))
        .sort(Waste.waste_cost, *keys, descending=[True, *[False] * len(keys)], nulls_last=True)
    )


def memory_headroom(rows: pl.DataFrame) -> pl.DataFrame:
    """Peak and p95 memory of workloads against capacity per team × instance × model.

    Idle time holds no memory by definition, so its rows would only crowd the top of the list.
    """
    return (
        rows.filter((pl.col(Waste.mem_capacity_gib) > 0) & (pl.col(Waste.model) != IDLE_MODEL))
        .select(
            Waste.team,
            Waste.model,
            Waste.ResourceId,
            Waste.gpu_model,
            Waste.mem_peak_gib,
            Waste.mem_p95_gib,
            Waste.mem_capacity_gib,
            (1 - pl.col(Waste.mem_peak_gib) / pl.col(Waste.mem_capacity_gib)).alias("headroom"),
        )
        .sort("headroom", Waste.team, Waste.ResourceId, descending=[True, False, False])
    )


def gpu_hours(hourly: pl.DataFrame) -> pl.DataFrame:
    """Utilization per GPU and hour over the teams given.

    A GPU-hour's utilization is its SM activity weighted by held time, counting idle time as 0,
    over the given teams' rows only (a lead sees their share of a shared GPU).
    """
    return (
        hourly.group_by(Util.gpu, Util.hour)
        .agg(
            pl.col(Util.gpu_model).first(),
            pl.col(Util.held_hours).sum(),
            (pl.col(WasteHour.busy_hours).sum() / pl.col(Util.held_hours).sum() * 100).alias(
                Util.sm_util
            ),
        )
        .sort(Util.gpu, Util.hour)
    )


def day_by_hour(hourly: pl.DataFrame) -> pl.DataFrame:
    """Fleet utilization per day of the month × hour of day (held-time weighted)."""
    return (
        hourly.group_by(
            pl.col(Util.hour).dt.date().alias(Util.day),
            pl.col(Util.hour).dt.hour().alias(Util.hour_of_day),
        )
        .agg(
            pl.col(Util.held_hours).sum(),
            ((pl.col(Util.held_hours) * pl.col(Util.sm_util)).sum() / pl.col(Util.held_hours).sum())
            .fill_nan(0.0)
            .alias(Util.sm_util),
        )
        .sort(Util.day, Util.hour_of_day)
    )


def gpu_by_hour(hourly: pl.DataFrame, day: object) -> pl.DataFrame:
    """One day's utilization per GPU × hour of day."""
    return hourly.filter(pl.col(Util.hour).dt.date() == day).with_columns(
        pl.col(Util.hour).dt.hour().alias(Util.hour_of_day)
    )
