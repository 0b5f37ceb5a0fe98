"""Generated months of daily allocation for a GPU fleet, with incidents whose days are known.

The fleet (``fleet`` scales the serving side):

- ``chat`` serves ``chat-70b`` on H100 instances: a core that runs around the clock and an
  elastic part that runs 14 h on weekdays and is scaled down to nothing at weekends;
- ``search`` serves ``embed-xl`` on A100 instances the same way, smaller;
- ``research`` runs a scheduled fine-tune of ``llama-ft`` every Tuesday and Wednesday on
  16 H100s, a steady pre-training run of ``pretrain-v3`` on 32 H100s that started before
  the first month and never stops, and ad-hoc ``eval-sweep`` jobs on 2 instances that each run
  on about 45 % of the days, in no weekday pattern (planned work: never an anomaly);
- ``vision`` serves ``sdxl`` on L40S instances around the clock.

Each instance-day is one ``usage`` row (busy hours) and one ``idle`` row (hours held without
work, a tenth of a working day), priced at the instance's hourly rate, with multiplicative noise
of ``noise`` (standard deviation) on the hours. From the second month on, each month gets three
incidents on random days:

- ``runaway``: a fine-tune that loops over a weekend on 64 H100s (8 instances, Saturday and
  Sunday, 24 h a day, team ``research``, model ``llama-ft``);
- ``idle-fleet``: ``chat``'s elastic instances stop scaling down over a weekend: 24 h of idle;
- ``new-model``: ``vision`` starts serving a new model on 2 more instances from a weekday on,
  for good.

The first month has none: it is the baseline the detector needs.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.period import Period
from gpuledger.schema import ALLOCATION_SCHEMA, Alloc

HOURLY = {"H100": 98.32, "A100": 32.77, "L40S": 30.13}  # 8-GPU instance, on demand, USD
GPUS_PER_INSTANCE = 8
IDLE_SHARE = 0.1
ADHOC_SHARE = 45  # percent of days an ad-hoc job runs


@dataclass(frozen=True)
class Incident:
    """An injected incident: whose spend it moves, on which days, and what kind it is."""

    kind: str  # runaway | idle-fleet | new-model
    team: str
    first: date
    last: date
    model: str


@dataclass(frozen=True)
class Instance:
    resource_id: str
    team: str
    model: str
    gpu: str
    role: str  # core | elastic | weekly | steady | adhoc


@dataclass(frozen=True)
class Months:
    """The generated allocation and the incidents injected into it."""

    allocation: pl.DataFrame
    incidents: tuple[Incident, ...]
    periods: tuple[str, ...]


def fleet_of(size: int) -> list[Instance]:
    """The fleet: ``size`` scales the serving instances (``size`` = 10: 12 chat, 6 search)."""

    def many(prefix: str, count: int, **kw: str) -> list[Instance]:
        return [Instance(f"i-{prefix}{n:03d}", **kw) for n in range(count)]

    chat = max(2, size * 6 // 5)
    search = max(2, size * 3 // 5)
    return [
        *many("chatc", chat // 2, team="chat", model="chat-70b", gpu="H100", role="core"),
        *many("chate", chat - chat // 2, team="chat", model="chat-70b", gpu="H100", role="elastic"),
        *many("srchc", search // 2, team="search", model="embed-xl", gpu="A100", role="core"),
        *many(
            "srche", search - search // 2, team="search", model="embed-xl", gpu="A100",
            role="elastic",
        ),
        *many("rsrw", 2, team="research", model="llama-ft", gpu="H100", role="weekly"),
        *many("rsrp", 4, team="research", model="pretrain-v3", gpu="H100", role="steady"),
        *many("rsra", 2, team="research", model="eval-sweep", gpu="H100", role="adhoc"),
        *many("vis", max(2, size // 5), team="vision", model="sdxl", gpu="L40S", role="core"),
    ]  # fmt: skip


def planned_hours(instance: Instance, day: date, seed: int = 0) -> float:
    """Busy hours of an instance on a day, as planned."""
    weekend = day.weekday() >= 5
    if instance.role == "adhoc":
        draw = zlib.crc32(f"{seed}:{instance.resource_id}:{day}".encode()) % 100
        return 24.0 if draw < ADHOC_SHARE else 0.0
    if instance.role == "core" or instance.role == "steady":
        return 24.0
    if instance.role == "elastic":
        return 0.0 if weekend else 14.0
    return 24.0 if day.weekday() in (1, 2) else 0.0  # weekly: Tuesday and Wednesday


def generate(months: int, *, seed: int = 0, fleet: int = 10, noise: float = 0.05,
             start: str = "2026-01") -> Months:  # fmt: skip
    """``months`` months from ``start``: the first a clean baseline, each later one with three
    incidents (module docstring)."""
    rng = random.Random(seed)
    first = Period.parse(start)
    periods = [first]
    for _ in range(months - 1):
        periods.append(periods[-1].next())
    instances = fleet_of(fleet)
    incidents = [i for p in periods[1:] for i in _incidents(p, rng)]
    records = []
    for period in periods:
        for day in period.dates():
            for instance in instances:
                jitter = rng.lognormvariate(0.0, noise)
                records += _day_rows(instance, day, jitter, incidents, seed)
            records += _incident_rows(day, incidents, rng.lognormvariate(0.0, noise))
    frame = pl.DataFrame(records, schema=ALLOCATION_SCHEMA, orient="row")
    return Months(frame, tuple(incidents), tuple(str(p) for p in periods))


def _weekend_in(period: Period, rng: random.Random) -> date:
    saturdays = [d for d in period.dates()[:-1] if d.weekday() == 5]
    return rng.choice(saturdays)


def _incidents(period: Period, rng: random.Random) -> list[Incident]:
    runaway = _weekend_in(period, rng)
    idle = _weekend_in(period, rng)
    weekdays = [d for d in period.dates()[3:] if d.weekday() < 5]
    new = rng.choice(weekdays)
    name = f"sdxl-{period.year % 100:02d}{period.month:02d}"
    return [
        Incident("runaway", "research", runaway, runaway + timedelta(days=1), "llama-ft"),
        Incident("idle-fleet", "chat", idle, idle + timedelta(days=1), "chat-70b"),
        Incident("new-model", "vision", new, new, name),
    ]


def _row(day: date, instance: Instance, cost_type: str, hours: float) -> tuple[Any, ...]:
    period = Period.of(day)
    gpu_hours = hours * GPUS_PER_INSTANCE
    cost = Decimal(str(round(hours * HOURLY[instance.gpu], 6)))
    return (
        str(period), period.start, day, "AWS", "111", "111", instance.resource_id, instance.gpu,
        "Amazon Elastic Compute Cloud", "Usage", "Standard", instance.team,
        instance.model if cost_type == "usage" else "(idle)", None, cost_type, gpu_hours, cost,
        "USD", "tag:team",
    )  # fmt: skip


def _day_rows(
    instance: Instance, day: date, jitter: float, incidents: list[Incident], seed: int
) -> list[tuple[Any, ...]]:
    busy = planned_hours(instance, day, seed) * jitter
    idle_hours = busy * IDLE_SHARE
    for incident in incidents:
        covers = incident.first <= day <= incident.last
        fleet = incident.kind == "idle-fleet" and instance.team == incident.team
        if covers and fleet and instance.role == "elastic":
            idle_hours = 24.0 * jitter - busy
    rows = []
    if busy > 0:
        rows.append(_row(day, instance, "usage", busy))
    if idle_hours > 0:
        rows.append(_row(day, instance, "idle", idle_hours))
    return rows


def _incident_rows(day: date, incidents: list[Incident], jitter: float) -> list[tuple[Any, ...]]:
    """The instances an incident adds: the runaway's 8 H100 instances, the new model's 2."""
    rows = []
    for number, incident in enumerate(incidents):
        if incident.kind == "runaway" and incident.first <= day <= incident.last:
            for n in range(8):
                extra = Instance(f"i-run{number:03d}{n}", "research", incident.model, "H100", "x")
                rows.append(_row(day, extra, "usage", 24.0 * jitter))
        if incident.kind == "new-model" and incident.first <= day:
            for n in range(2):
                extra = Instance(f"i-new{number:03d}{n}", "vision", incident.model, "L40S", "x")
                rows.append(_row(day, extra, "usage", 20.0 * jitter))
    return rows


def write_months(store: Any, months: Months) -> None:
    """Write the generated allocation to ``store``, one partition per month."""
    store.replace_partitions("allocation", months.allocation, [Alloc.x_BillingPeriod])
