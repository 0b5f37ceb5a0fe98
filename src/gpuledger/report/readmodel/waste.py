"""Read model of the GPU waste page: the engine's waste frame and utilization, per viewer.

Waste dollars come from the engine (:func:`gpuledger.engine.waste.compute.period_waste`, the steps of
:func:`gpuledger.engine.waste.compute.compute_waste`, whose result the tests compare with), and this module
only sums them along the dimension a team lead picks. The heatmaps start from the same telemetry
reduced to one row per team, GPU and hour. Both are read from what the engine stored for the month
(``waste`` and ``waste_hourly``) while that is current, since deriving them from tens of millions
of telemetry rows takes far longer than a page may; otherwise they are computed live.

Instances and GPUs are named as people know them (:func:`instance_name`, :func:`gpu_name`): AWS's
instance id, a VM's host name, plus the GPU index, with the full id kept beside the name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.waste.compute import Waste, period_waste, stored_waste, waste_totals
from gpuledger.report.readmodel.access import Viewer
from gpuledger.schema import IDLE_MODEL, WasteHour
from gpuledger.store.delta import Store
from gpuledger.store.telemetry_index import usage_summary

INSTANCE = "instance"  # an instance's readable short name (:func:`instance_name`)
# Each grouping's keys, the thing grouped by first (a row per team where it spans several).
GROUPINGS = {
    "team": (Waste.team,),
    "model": (Waste.model, Waste.team),
    "instance": (Waste.ResourceId, Waste.team, Waste.gpu_model),
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
    gpu_name = "gpu_name"  # readable: instance id or VM name and GPU index (:func:`gpu_name`)
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
    hosts: Mapping[str, str]  # host → the one ResourceId its telemetry names this month


@dataclass(frozen=True)
class WasteView:
    """A month's waste for the teams shown, with its totals from the engine."""

    period: str
    currency: str
    rows: pl.DataFrame  # the engine's waste frame (schema ``WASTE_SCHEMA``)
    hourly: pl.DataFrame  # utilization per GPU and hour (``Util`` columns): the heatmaps' input
    instance_names: Mapping[str, str]  # ResourceId → readable short name
    hosts: Mapping[str, str]  # host → its ResourceId, to name GPUs (:func:`gpu_name`)
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
        hosts=instance_hosts(store, period),
    )


def instance_hosts(store: Store, period: str) -> dict[str, str]:
    """Host → ResourceId for each host whose telemetry names exactly one instance in ``period``.

    Read from the telemetry index, not the telemetry: it only names GPUs on the page.
    """
    pairs = (
        usage_summary(store)
        .filter(pl.col("period") == period)
        .select("host", pl.col("resource_ids").alias(Waste.ResourceId))
        .explode(Waste.ResourceId)
        .drop_nulls()
        .unique()
    )
    single = pairs.filter(pl.len().over("host") == 1)
    return dict(zip(single["host"].to_list(), single[Waste.ResourceId].to_list(), strict=True))


def fleet_teams(fleet: FleetWaste) -> list[str]:
    """Every team with waste rows in the month, sorted."""
    return sorted(fleet.rows[Waste.team].drop_nulls().unique().to_list())


def shown_teams(
    found: Sequence[str], viewer: Viewer, teams: Sequence[str] | None
) -> tuple[str, ...] | None:
    """The teams of ``found`` a view shows: the viewer's, cut to ``teams`` when given.

    None means every row, teams or not: finance with no team chosen.
    """
    if teams is None and viewer.finance:
        return None
    return tuple(team for team in found if viewer.sees(team) and (teams is None or team in teams))


def waste_view(fleet: FleetWaste, shown: tuple[str, ...] | None) -> WasteView:
    """The fleet's waste cut to the ``shown`` teams (:func:`shown_teams`), with the engine's
    totals of what is left: the headline, the tables and the heatmaps all show that cut.
    """
    rows, hourly = fleet.rows, fleet.hourly
    if shown is not None:
        rows = rows.filter(pl.col(Waste.team).is_in(shown))
        hourly = hourly.filter(pl.col(WasteHour.team).is_in(shown))
    totals = waste_totals(rows)
    return WasteView(
        period=fleet.period,
        currency=fleet.currency,
        rows=rows,
        hourly=gpu_hours(hourly),
        instance_names=instance_names(rows[Waste.ResourceId].drop_nulls().unique(), fleet.hosts),
        hosts=fleet.hosts,
        gpu_hours=float(str(totals["gpu_hours"])),
        idle_gpu_hours=float(str(totals["idle_gpu_hours"])),
        cost=Decimal(str(totals["cost"])),
        waste_cost=Decimal(str(totals["waste_cost"])),
    )


def waste_by(view: WasteView, grouping: str) -> pl.DataFrame:
    """The view's waste summed by team, model or instance, worst first, instances named."""
    keys = GROUPINGS[grouping]
    summed = (
        view.rows.group_by(*keys)
        .agg(*(pl.col(name).sum() for name in SUMMED))
        .sort(Waste.waste_cost, *keys, descending=[True, *[False] * len(keys)], nulls_last=True)
    )
    return named_instances(summed, view.instance_names)


def named_instances(frame: pl.DataFrame, names: Mapping[str, str]) -> pl.DataFrame:
    """``frame`` with :data:`INSTANCE`, its ``ResourceId``'s readable name (null without one)."""
    if Waste.ResourceId not in frame.columns:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias(INSTANCE))
    return frame.with_columns(
        pl.col(Waste.ResourceId)
        .replace_strict(dict(names), default=None, return_dtype=pl.String)
        .alias(INSTANCE)
    )


def top_offenders(view: WasteView, count: int = 10) -> pl.DataFrame:
    """The ``count`` costliest waste rows (team × model × workload × instance), instances named."""
    worst = view.rows.filter(pl.col(Waste.waste_cost) > 0).sort(
        Waste.waste_cost, descending=True, maintain_order=True
    )
    return named_instances(worst.head(count), view.instance_names)


def instance_name(resource_id: str | None, host: str | None) -> str | None:
    """A short name a person knows an instance by: the provider's id where it is short (AWS's
    ``i-0…``), else the VM's host name, else the last part of a path-like id (GCP, Azure).

    A DNS host name is cut to its first label (``ip-10-0-0-10.ec2.internal`` → ``ip-10-0-0-10``),
    an IP address is kept whole.
    """
    if resource_id and "/" not in resource_id:
        return resource_id
    if host:
        first = host.split(".", 1)[0]
        return host if first.isdigit() else first
    if resource_id:
        return resource_id.rstrip("/").rsplit("/", 1)[-1]
    return None


def instance_names(resource_ids: pl.Series, hosts: Mapping[str, str]) -> dict[str, str]:
    """ResourceId → :func:`instance_name`, with the host that alone reported it, where one did."""
    reported: dict[str, list[str]] = {}
    for host, resource_id in hosts.items():
        reported.setdefault(resource_id, []).append(host)
    names = {}
    for resource_id in resource_ids.to_list():
        only = reported.get(resource_id, [])
        names[resource_id] = instance_name(resource_id, only[0] if len(only) == 1 else None)
    return {key: name for key, name in names.items() if name is not None}


def gpu_name(gpu: str, hosts: Mapping[str, str]) -> str:
    """A GPU as a person finds it: its instance's short name and its index (``i-0ab… · GPU 3``).

    ``gpu`` is ``host/index`` (the host's instance looked up in ``hosts``) or, where the host is
    unknown, the GPU's uuid, shortened to its first 12 characters.
    """
    host, slash, index = gpu.rpartition("/")
    if not slash:
        return gpu if len(gpu) <= 13 else f"{gpu[:12]}…"
    return f"{instance_name(hosts.get(host), host)} · GPU {index}"


def named_gpus(hourly: pl.DataFrame, hosts: Mapping[str, str]) -> pl.DataFrame:
    """The utilization frame with each GPU's readable name (:func:`gpu_name`) beside its id."""
    names = {gpu: gpu_name(gpu, hosts) for gpu in hourly[Util.gpu].unique().to_list()}
    return hourly.with_columns(
        pl.col(Util.gpu).replace_strict(names, return_dtype=pl.String).alias(Util.gpu_name)
    )


def colour_domain(cells: pl.DataFrame) -> list[float]:
    """The heatmap's colour scale: the lowest to the highest utilization shown.

    Spread over the data's own range rather than 0–100 %, a fleet that runs between 10 % and
    40 % still shows its idle nights and weekends at one end of the scale. A single value (or
    none) falls back to 0–100 %.
    """
    low, high = cells[Util.sm_util].min(), cells[Util.sm_util].max()
    if not isinstance(low, float) or not isinstance(high, float) or high <= low:
        return [0.0, 100.0]
    return [low, high]


def memory_headroom(view: WasteView) -> pl.DataFrame:
    """Peak and p95 memory of workloads against capacity per team × instance × model.

    Idle time holds no memory by definition, so its rows would only crowd the top of the list.
    """
    found = (
        view.rows.filter((pl.col(Waste.mem_capacity_gib) > 0) & (pl.col(Waste.model) != IDLE_MODEL))
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
    return named_instances(found, view.instance_names)


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


def gpu_by_hour(hourly: pl.DataFrame, day: object, hosts: Mapping[str, str]) -> pl.DataFrame:
    """One day's utilization per GPU × hour of day, each GPU with its readable name."""
    cells = hourly.filter(pl.col(Util.hour).dt.date() == day).with_columns(
        pl.col(Util.hour).dt.hour().alias(Util.hour_of_day)
    )
    return named_gpus(cells, hosts)
