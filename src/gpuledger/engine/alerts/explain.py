"""Why a series moved, from the data: the instances or models behind it, its idle share, new
models, and what the GPUs of the top instances were doing (``gpu_usage``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Final

import polars as pl

from gpuledger.columns import IDLE_MODEL, UNALLOCATED, UNLABELLED
from gpuledger.config import Settings
from gpuledger.engine.alerts.model import Driver
from gpuledger.engine.alerts.series import NO_GPU, NO_RESOURCE, SERIES_MONEY
from gpuledger.engine.attribution.gpu_weights import prefer_measured
from gpuledger.engine.chargeback.live import fx_rates, run_rate_charge
from gpuledger.engine.chargeback.rounding import round_money
from gpuledger.period import Period
from gpuledger.schema import Alloc, Usage
from gpuledger.store.delta import Store

__all__ = ["Detail", "Span", "load_detail"]

TOP_DRIVERS: Final = 3
IDLE_RISE: Final = 0.15  # idle share points a rise must reach to be worth a sentence
BUSY: Final = "busy at"  # how a driver's detail drawn from telemetry begins
_GRAIN: Final = (
    Alloc.day,
    Alloc.team,
    Alloc.model,
    Alloc.x_GpuModel,
    Alloc.ResourceId,
    Alloc.cost_type,
)
# The allocation column each dimension's key is.
_KEY_COLUMN: Final = {
    "team": Alloc.team,
    "model": Alloc.model,
    "gpu": Alloc.x_GpuModel,
    "instance": Alloc.ResourceId,
}


@dataclass(frozen=True)
class Span:
    """One series over the days an alert covers, and the baseline days before them."""

    dimension: str
    key: str
    team: str | None
    first: date
    last: date
    baseline_days: int

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Telemetry:
    """What one instance's GPUs did over a span."""

    gpus: int
    hours: float
    sm: float


class Detail:
    """The allocation of the detector's days at the grain explanations need, in the reporting
    currency, and the telemetry of the instances that drive alerts."""

    def __init__(self, store: Store, rows: pl.DataFrame, currency: str) -> None:
        self.store, self.rows, self.currency = store, rows, currency

    def of(self, span: Span, start: date, end: date) -> pl.DataFrame:
        """The span's series rows on the days ``start`` to ``end``."""
        match = pl.col(_KEY_COLUMN[span.dimension]) == span.key
        if span.team is not None:
            match &= pl.col(Alloc.team) == span.team
        return self.rows.filter(match & pl.col(Alloc.day).is_between(start, end))

    def spend_of_models(self, span: Span, models: set[tuple[str | None, str]]) -> Decimal:
        """The span's spend over its days on the given (team, model) pairs."""
        rows = self.of(span, span.first, span.last).filter(
            pl.struct(Alloc.team, Alloc.model).is_in(
                [{Alloc.team: team, Alloc.model: model} for team, model in models]
            )
        )
        return Decimal(str(rows[Alloc.cost].sum() or 0))

    def explain(self, span: Span) -> tuple[list[str], tuple[Driver, ...]]:
        """Sentences and the top drivers of the span's change against its baseline."""
        now = self.of(span, span.first, span.last)
        before = self.of(
            span, span.first - timedelta(days=span.baseline_days), span.first - timedelta(days=1)
        )
        sentences = _new_models(span, now, before) + _idle_rise(now, before)
        by = Alloc.model if span.dimension == "instance" else Alloc.ResourceId
        rising = _rises(span, now, before, by)
        drivers = self._drivers(span, rising[:TOP_DRIVERS], by)
        sentences += [f"{d.label} {d.detail}" for d in drivers if d.detail.startswith(BUSY)]
        if not sentences and len(rising) == 1:
            sentences.append(f"{drivers[0].label} {drivers[0].detail}")
        elif not sentences and drivers:
            noun = "models" if by == Alloc.model else "instances"
            total = round_money(sum((rise for rise, _ in rising), Decimal(0)), self.currency)
            sentences.append(
                f"{len(rising)} {noun} {total:,} {self.currency} above their usual spend,"
                f" most {drivers[0].label} ({drivers[0].detail})"
            )
        return sentences, drivers

    def _drivers(
        self, span: Span, chosen: list[tuple[Decimal, dict[str, object]]], by: str
    ) -> tuple[Driver, ...]:
        telemetry = (
            self.telemetry([row[by] for _, row in chosen], span.first, span.last)
            if by == Alloc.ResourceId
            else {}
        )
        return tuple(self._driver(by, row, rise, telemetry.get(row[by])) for rise, row in chosen)

    def _driver(
        self, by: str, row: Mapping[str, object], rise: Decimal, seen: Telemetry | None
    ) -> Driver:
        cost = round_money(Decimal(str(row[Alloc.cost])), self.currency)
        more = f"+{round_money(rise, self.currency):,} {self.currency} over its usual"
        if by == Alloc.model:
            return Driver(label=f"model {row[by]}", detail=more, cost=cost)
        gpu = row[Alloc.x_GpuModel]
        shape = "" if gpu == NO_GPU else f" {seen.gpus}×{gpu}" if seen else f" {gpu}"
        label = f"{row[by]}{shape}"
        if seen is not None:
            return Driver(label, f"{BUSY} {seen.sm:.0f} % SM for {seen.hours:.0f} h", cost)
        model = str(row[Alloc.model])
        what = "mostly idle" if model == IDLE_MODEL else f"model {model}"
        return Driver(label=label, detail=f"{more}, {what}", cost=cost)

    def telemetry(
        self, resources: list[object], first: date, last: date
    ) -> dict[object, Telemetry]:
        """GPU count, hours held and mean SM activity of each instance from ``first`` to ``last``."""
        wanted = [r for r in resources if r not in (None, NO_RESOURCE)]
        if not wanted:
            return {}
        start = datetime.combine(first, time(), tzinfo=UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
        usage = self.store.scan("gpu_usage").filter(pl.col(Usage.ResourceId).is_in(wanted))
        per_gpu = (
            prefer_measured(usage, start, end)  # a GPU that Slurm and the agent report is one
            .group_by(Usage.ResourceId, Usage.gpu_uuid, Usage.bucket_start)
            .agg(
                pl.col(Usage.bucket_seconds).max().alias("_seconds"),
                (pl.col(Usage.sm_util).fill_null(0.0) * pl.col(Usage.active_seconds))
                .sum()
                .alias("_work"),
            )
        )
        frame = (
            per_gpu.group_by(Usage.ResourceId)
            .agg(
                pl.col(Usage.gpu_uuid).n_unique().alias("gpus"),
                pl.col("_seconds").sum().alias("_held"),
                pl.col("_work").sum().alias("_work"),
                pl.col(Usage.bucket_start).n_unique().alias("_buckets"),
                pl.col("_seconds").mean().alias("_bucket"),
            )
            .collect()
        )
        return {
            row[Usage.ResourceId]: Telemetry(
                gpus=row["gpus"],
                hours=row["_buckets"] * row["_bucket"] / 3600,
                sm=row["_work"] / row["_held"] if row["_held"] else 0.0,
            )
            for row in frame.to_dicts()
        }


def _rises(
    span: Span, now: pl.DataFrame, before: pl.DataFrame, by: str
) -> list[tuple[Decimal, dict[str, object]]]:
    """The ``by`` values (instances or models) whose spend over the span rose above their mean
    daily baseline, largest rise first, each with its spend, GPU model and main model."""
    scale = Decimal(span.days) / Decimal(span.baseline_days)
    usual = {
        r[by]: r[Alloc.cost] for r in before.group_by(by).agg(pl.col(Alloc.cost).sum()).to_dicts()
    }
    found = now.group_by(by).agg(
        pl.col(Alloc.cost).sum(),
        *(
            pl.col(column).sort_by(Alloc.cost, descending=True).first()
            for column in (Alloc.x_GpuModel, Alloc.model)
            if column != by
        ),
    )
    ranked = [
        (row[Alloc.cost] - usual.get(row[by], Decimal(0)) * scale, row) for row in found.to_dicts()
    ]
    return sorted(
        ((rise, row) for rise, row in ranked if rise > 0),
        key=lambda pair: (-pair[0], str(pair[1][by])),
    )


def _new_models(span: Span, now: pl.DataFrame, before: pl.DataFrame) -> list[str]:
    if span.dimension == "model":
        return [f"new model `{span.key}` appeared"] if before[Alloc.cost].sum() == 0 else []
    seen = set(before.filter(pl.col(Alloc.cost) != 0)[Alloc.model].to_list())
    fresh = now.filter((pl.col(Alloc.cost) != 0) & ~pl.col(Alloc.model).is_in(list(seen)))
    names = sorted(set(fresh[Alloc.model].to_list()) - {UNLABELLED, None})
    return [f"new model `{name}` appeared" for name in names if not name.startswith("(")]


def _idle_share(rows: pl.DataFrame) -> float | None:
    total = rows[Alloc.cost].sum()
    if not total:
        return None
    idle = rows.filter(pl.col(Alloc.cost_type) == "idle")[Alloc.cost].sum() or 0
    return float(idle) / float(total)


def _idle_rise(now: pl.DataFrame, before: pl.DataFrame) -> list[str]:
    share_now, share_before = _idle_share(now), _idle_share(before)
    if share_now is None or share_before is None or share_now - share_before < IDLE_RISE:
        return []
    return [f"idle share rose from {share_before:.0%} to {share_now:.0%}".replace("%", " %")]


def load_detail(store: Store, settings: Settings, months: list[str]) -> Detail:
    """The usage charges (what the detector watches) of ``months`` summed per day, team, model,
    GPU model, instance and cost type, in the reporting currency, with the null spellings the
    series use."""
    frames = []
    for month in months:
        rows = store.scan("allocation").filter(
            (pl.col(Alloc.x_BillingPeriod) == month) & run_rate_charge()
        )
        currencies = rows.select(pl.col(Alloc.currency).unique()).collect()[Alloc.currency]
        rates = fx_rates(settings, month, {c for c in currencies.to_list() if c is not None})
        rate = pl.col(Alloc.currency).replace_strict(rates, return_dtype=SERIES_MONEY)
        first_day = Period.parse(month).start.date()
        frames.append(
            rows.with_columns(
                pl.col(Alloc.day).fill_null(first_day),
                pl.col(Alloc.team).fill_null(UNALLOCATED),
                pl.col(Alloc.model).fill_null(UNLABELLED),
                pl.col(Alloc.x_GpuModel).fill_null(NO_GPU),
                pl.col(Alloc.ResourceId).fill_null(NO_RESOURCE),
                pl.col(Alloc.cost_type).fill_null("usage"),
                (pl.col(Alloc.cost) * rate).cast(SERIES_MONEY),
            )
            .group_by(_GRAIN)
            .agg(pl.col(Alloc.cost).sum(), pl.col(Alloc.gpu_hours).sum())
        )
    return Detail(store, pl.concat(frames).collect(), settings.reporting.currency)
