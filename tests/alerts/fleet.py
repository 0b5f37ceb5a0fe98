"""A small GPU fleet's September and October 2026, billed by the day and attributed for real.

Planned work (never an anomaly):

- ``nlp`` serves ``llama`` on ``i-serve1`` (1×H100, $100/h, with telemetry): 24 h on weekdays
  at 60 % SM, scaled down to 8 busy hours (08:00-16:00) at weekends;
- ``research`` fine-tunes ``llama-ft`` on ``i-train1`` every Tuesday ($2,360) and pre-trains
  ``pretrain`` on ``i-pre1`` every day ($2,360), both since before the window;
- ``vision`` serves ``sdxl`` on ``i-vis1`` every day ($700).

October's incidents:

- runaway: ``research``'s ``llama-ft`` loops on 8 more instances (64 H100s) on Saturday 17 and
  Sunday 18, $2,360 a day each: $37,760 above the usual weekend;
- idle fleet: ``i-serve1`` is not scaled down on Saturday 24 and Sunday 25: 24 h held, 8 of
  them busy, 16 idle: $1,600 a day above the usual weekend;
- new model: ``vision`` starts serving ``flux`` on ``i-vis2`` on Monday 12, $700 a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from gpuledger.commands import attribute
from gpuledger.commands.context import Context
from gpuledger.config import Settings
from gpuledger.period import Period
from gpuledger.schema import Cost, Usage
from gpuledger.store.delta import Store
from tests.engine.attribute_helpers import cost, cost_frame, tags, usage_frame

SEP, OCT = "2026-09", "2026-10"
RUNAWAY = (date(2026, 10, 17), date(2026, 10, 18))
IDLE_WEEKEND = (date(2026, 10, 24), date(2026, 10, 25))
NEW_MODEL_DAY = date(2026, 10, 12)
SERVE_RATE = Decimal(100)


def _line(
    day: date, resource: str, amount: Decimal, team: str, model: str, **more: Any
) -> dict[str, Any]:
    start = more.pop("start", 0)
    hours = more.pop("hours", 24)
    charge = datetime(day.year, day.month, day.day, start, tzinfo=UTC)
    period = Period.of(day)
    return cost(
        BillingPeriodStart=period.start,
        BillingPeriodEnd=period.end,
        ChargePeriodStart=charge,
        ChargePeriodEnd=charge + timedelta(hours=hours),
        ResourceId=resource,
        EffectiveCost=amount,
        Tags=tags(team=team, model=model),
        x_BillingPeriod=str(period),
        x_GpuModel=more.pop("gpu", "H100"),
        x_GpuCount=more.pop("gpus", 8),
        **more,
    )


def _serving_hours(day: date) -> tuple[int, int, int]:
    """(first hour held, hours held, hours busy) of ``i-serve1`` on ``day``."""
    if IDLE_WEEKEND[0] <= day <= IDLE_WEEKEND[1]:
        return 0, 24, 8
    return (0, 24, 24) if day.weekday() < 5 else (8, 8, 8)


def day_lines(day: date) -> list[dict[str, Any]]:
    """Every cost line of ``day`` (module docstring)."""
    first, held, _ = _serving_hours(day)
    lines = [
        _line(day, "i-serve1", SERVE_RATE * held, "nlp", "llama", start=first, hours=held, gpus=1),
        _line(day, "i-pre1", Decimal(2360), "research", "pretrain"),
        _line(day, "i-vis1", Decimal(700), "vision", "sdxl", gpu="L40S"),
    ]
    if day.weekday() == 1:
        lines.append(_line(day, "i-train1", Decimal(2360), "research", "llama-ft"))
    if RUNAWAY[0] <= day <= RUNAWAY[1]:
        lines += [
            _line(day, f"i-run{n}", Decimal(2360), "research", "llama-ft") for n in range(1, 9)
        ]
    if day >= NEW_MODEL_DAY:
        lines.append(_line(day, "i-vis2", Decimal(700), "vision", "flux", gpu="L40S"))
    return lines


def serving_telemetry(day: date) -> list[dict[str, Any]]:
    """Hourly buckets of ``i-serve1``'s GPU: busy at 60 % SM, then idle (no workload)."""
    first, held, busy = _serving_hours(day)
    rows = []
    for hour in range(first, first + held):
        working = hour - first < busy
        rows.append(
            {
                Usage.bucket_start: datetime(day.year, day.month, day.day, hour, tzinfo=UTC),
                Usage.bucket_seconds: 3600,
                Usage.host: "serve1",
                Usage.ResourceId: "i-serve1",
                Usage.gpu_uuid: "GPU-serve1",
                Usage.gpu_index: 0,
                Usage.gpu_model: "H100",
                Usage.pod: "llama-serve" if working else None,
                Usage.namespace: "nlp" if working else None,
                Usage.team: "nlp" if working else None,
                Usage.model: "llama" if working else None,
                Usage.active_seconds: 3600.0 if working else 0.0,
                Usage.sm_util: 60.0 if working else 0.0,
                Usage.samples: 360,
                Usage.source: "agent",
                Usage.x_BillingPeriod: str(Period.of(day)),
            }
        )
    return rows


def write_month(store: Store, period: str, settings: Settings, *, until: int | None = None) -> None:
    """Ingest ``period``'s bill and telemetry (up to day ``until``) and attribute it."""
    days = [d for d in Period.parse(period).dates() if until is None or d.day <= until]
    costs = [line for day in days for line in day_lines(day)]
    usage = [row for day in days for row in serving_telemetry(day)]
    store.replace_partitions(
        "cost", cost_frame(costs).collect(), [Cost.x_Source, Cost.x_BillingPeriod]
    )
    store.replace_partitions(
        "gpu_usage", usage_frame(usage).collect(), [Usage.source, Usage.x_BillingPeriod]
    )
    attribute.run(Context(str(store.home), None, settings, store), period=period)


def build_fleet(store: Store, settings: Settings) -> Store:
    """September and October, ingested and attributed."""
    write_month(store, SEP, settings)
    write_month(store, OCT, settings)
    return store
