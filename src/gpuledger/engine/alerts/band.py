"""The expected band of a daily spend series: a robust, weekday-aware baseline and its alert line.

The spend is the series' ``usage_cost``
(:data:`~gpuledger.engine.alerts.series.DETECTED`): charges that accrue with the days of use.
For each series and day, the baseline is the series' own spend on the ``baseline_days`` before
that day, counted from the series' first day of spend (days before it are missing, not zero: a
model that appeared ten days ago has a ten-day history). Then:

* centre: the median of the same weekday's spend in the window when it holds three or more of
  them (``baseline_days // 7`` when that is fewer: a weekly training run, quiet weekends), else
  the median of the whole window;
* expected: the centre, or the lower of the same weekday's last two weeks when that is higher —
  a level that has held for two weeks (a steady run that started inside the window) is the
  series' normal now, while one unusual week is not; and for a series that runs on and off
  whatever the weekday (two or more weekdays of the window with both days with and without
  spend: ad-hoc fine-tunes or evaluations), at least the 90th percentile of its days with
  spend — a day it runs as it usually does is its normal, a day it runs at twice its usual cost
  is not (its spread is then that of its days with spend);
* spread: the median absolute deviation of every window day from its own weekday's centre (the
  window's median where its weekday has too few days), each deviation scaled to a standard
  deviation by :func:`mad_factor` for the number of days its centre is the median of, floored
  at 5 % of expected and one cent so a perfectly steady series still has one, then widened by
  the error of the centre itself (a median of four days is not the truth);
* upper (the alert line): the day is an anomaly at or above ``max(expected + mad_threshold ×
  spread, expected + min_change × max(expected, 1), expected + min_impact)`` — all three of the
  robust z, the relative change and the dollar impact of ``[alerts]`` passed;
* lower: ``max(expected − mad_threshold × spread, 0)``, for the chart.

A day whose window holds fewer than :data:`MIN_HISTORY` days of the series has no band.
"""

from __future__ import annotations

import math
from typing import Final

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.alerts.series import DETECTED, SERIES
from gpuledger.schema import Daily

__all__ = ["BAND_SCHEMA", "MIN_HISTORY", "expected_band", "life_starts", "mad_factor"]

MIN_HISTORY: Final = 7  # days of a series' own history before its band means anything
WEEKDAY_SAMPLES: Final = 3  # same-weekday days in the window before the weekday's median counts
ON_OFF_QUANTILE: Final = 0.9  # the usual level of an on-and-off series' days with spend
MAD_SCALE: Final = 1.4826  # MAD → standard deviation of a normal distribution, many samples
# Deviations from the median of only n days are smaller than from the true centre (odd n: one
# of them is zero): the factor to a standard deviation for small n, simulated on normal noise.
SMALL_SAMPLE_FACTORS: Final = {2: 2.09, 3: 3.13, 4: 2.08, 5: 2.03, 6: 1.91, 7: 1.81, 8: 1.78}
SPREAD_FLOOR_SHARE: Final = 0.05
SPREAD_FLOOR: Final = 0.01
CHANGE_FLOOR: Final = 1.0  # dollars: the relative change of a series expected near zero
_LAG = "_lag"
_VALUE = "_value"
_WD_MEDIAN = "_weekday_median"
_WD_COUNT = "_weekday_count"
_ALL_MEDIAN = "_window_median"

BAND_SCHEMA: Final = pl.Schema(
    {
        Daily.dimension: pl.String(),
        Daily.key: pl.String(),
        Daily.team: pl.String(),
        Daily.day: pl.Date(),
        "actual": pl.Float64(),
        "expected": pl.Float64(),
        "spread": pl.Float64(),
        "lower": pl.Float64(),
        "upper": pl.Float64(),
        "history": pl.UInt32(),
    }
)


def life_starts(series: pl.DataFrame) -> pl.DataFrame:
    """Each series' first day of non-zero spend (column ``first_day``)."""
    return (
        series.filter(pl.col(DETECTED) != 0)
        .group_by(SERIES)
        .agg(pl.col(Daily.day).min().alias("first_day"))
    )


def _dense(series: pl.DataFrame) -> pl.DataFrame:
    """Every series on every day from its first spend to the frame's last day, spend as Float64
    dollars (a day without rows is zero)."""
    last = series[Daily.day].max()
    starts = life_starts(series)
    days = starts.with_columns(
        pl.date_ranges(pl.col("first_day"), pl.lit(last)).alias(Daily.day)
    ).explode(Daily.day)
    spend = series.group_by(*SERIES, Daily.day).agg(pl.col(DETECTED).sum())
    return (
        days.drop("first_day")
        .join(spend, on=[*SERIES, Daily.day], how="left", nulls_equal=True)
        .with_columns(pl.col(DETECTED).cast(pl.Float64).fill_null(0.0).alias("actual"))
        .drop(DETECTED)
    )


def _window(dense: pl.DataFrame, baseline_days: int) -> pl.DataFrame:
    """One row per (series, day, lag 1..baseline_days) with the spend ``lag`` days before."""
    lags = pl.DataFrame({_LAG: list(range(1, baseline_days + 1))}, schema={_LAG: pl.Int32})
    history = dense.select(*SERIES, Daily.day, pl.col("actual").alias(_VALUE))
    return (
        dense.select(*SERIES, Daily.day)
        .join(lags, how="cross")
        .with_columns((pl.col(Daily.day) - pl.duration(days=pl.col(_LAG))).alias("_then"))
        .join(
            history.rename({Daily.day: "_then"}),
            on=[*SERIES, "_then"],
            how="inner",
            nulls_equal=True,
        )
        .with_columns((pl.col(_LAG) % 7).alias("_weekday"))
    )


def mad_factor(days: pl.Expr) -> pl.Expr:
    """What turns a deviation from the median of ``days`` days into a standard deviation:
    :data:`SMALL_SAMPLE_FACTORS` up to 8 days, ``1.4826 × (1 + 1.5 / days)`` beyond."""
    beyond = MAD_SCALE * (1 + 1.5 / days.cast(pl.Float64))
    return days.replace_strict(SMALL_SAMPLE_FACTORS, default=beyond, return_dtype=pl.Float64)


def _baseline(window: pl.DataFrame, baseline_days: int) -> pl.DataFrame:
    """Expected and spread per (series, day) from its window (rules in the module docstring)."""
    keys = [*SERIES, Daily.day]
    weekday = window.group_by(*keys, "_weekday").agg(
        pl.col(_VALUE).median().alias(_WD_MEDIAN),
        pl.len().alias(_WD_COUNT),
        (pl.col(_VALUE) == 0).sum().alias("_zeros"),
    )
    overall = window.group_by(keys).agg(
        pl.col(_VALUE).median().alias(_ALL_MEDIAN), pl.len().alias("history")
    )
    recent = (
        window.filter(pl.col(_LAG).is_in([7, 14]))
        .group_by(keys)
        .agg(pl.col(_VALUE).min().alias("_recent"), pl.len().alias("_recent_weeks"))
        .filter(pl.col("_recent_weeks") == 2)
    )
    samples = max(1, min(WEEKDAY_SAMPLES, baseline_days // 7))
    weekday_counts = pl.col(_WD_COUNT) >= samples
    centre = pl.when(weekday_counts).then(pl.col(_WD_MEDIAN)).otherwise(_ALL_MEDIAN)
    used = pl.when(weekday_counts).then(_WD_COUNT).otherwise("history")  # days behind the centre
    residuals = (
        window.join(weekday, on=[*keys, "_weekday"], nulls_equal=True)
        .join(overall, on=keys, nulls_equal=True)
        .with_columns(
            (pl.col(_VALUE) - centre).abs().alias("_residual"),
            mad_factor(used).alias("_factor"),
        )
    )
    spread = residuals.group_by(keys).agg(
        (pl.col("_residual") * pl.col("_factor")).median().alias("_mad")
    )
    same_day = weekday.filter(pl.col("_weekday") == 0).drop("_weekday")
    return (
        overall.join(same_day, on=keys, how="left", nulls_equal=True)
        .join(spread, on=keys, nulls_equal=True)
        .join(recent, on=keys, how="left", nulls_equal=True)
        .join(_on_off_level(window, weekday), on=keys, how="left", nulls_equal=True)
        .with_columns(
            centre.fill_null(pl.col(_ALL_MEDIAN)).alias("_centre"),
            pl.when(pl.col("_on_level").is_not_null())
            .then(pl.col("_on_mad"))
            .otherwise(_with_median_error(pl.col("_mad"), used.fill_null(pl.col("history"))))
            .alias("_mad"),
        )
        .with_columns(pl.max_horizontal("_centre", "_recent", "_on_level").alias("expected"))
    )


def _on_off_level(window: pl.DataFrame, weekday: pl.DataFrame) -> pl.DataFrame:
    """The usual level of the days with spend (their 90th percentile: several ad-hoc jobs of one
    model may run at once) and their spread, per (series, day) whose window runs on and off
    regardless of the weekday: two or more weekdays with both days with and without spend."""
    keys = [*SERIES, Daily.day]
    mixed = (pl.col("_zeros") > 0) & (pl.col("_zeros") < pl.col(_WD_COUNT))
    on_off = weekday.group_by(keys).agg(mixed.sum().alias("_mixed")).filter(pl.col("_mixed") >= 2)
    median = pl.col(_VALUE).median()
    return (
        window.filter(pl.col(_VALUE) != 0)
        .group_by(keys)
        .agg(
            pl.col(_VALUE).quantile(ON_OFF_QUANTILE, "linear").alias("_on_level"),
            ((pl.col(_VALUE) - median).abs().median() * mad_factor(pl.len())).alias("_on_mad"),
        )
        .join(on_off.drop("_mixed"), on=keys, nulls_equal=True)
    )


def _with_median_error(spread: pl.Expr, days: pl.Expr) -> pl.Expr:
    """The spread of a new day around a median of ``days`` days: the day's own spread and the
    median's error (its variance is about π/2 × σ² / days) together."""
    return spread * (1 + (math.pi / 2) / days.cast(pl.Float64)).sqrt()


def expected_band(series: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Per (dimension, key, team, day): actual, expected, spread, lower and upper (Float64
    dollars) and the days of history behind them; see the module docstring for the rules."""
    if series.is_empty():
        return pl.DataFrame(schema=BAND_SCHEMA)
    alerts = settings.alerts
    dense = _dense(series)
    baseline = _baseline(_window(dense, alerts.baseline_days), alerts.baseline_days).filter(
        pl.col("history") >= MIN_HISTORY
    )
    expected = pl.col("expected")
    spread = pl.max_horizontal(pl.col("_mad"), expected * SPREAD_FLOOR_SHARE, pl.lit(SPREAD_FLOOR))
    reach = pl.lit(alerts.mad_threshold) * pl.col("spread")
    upper = pl.max_horizontal(
        expected + reach,
        expected + alerts.min_change * pl.max_horizontal(expected, pl.lit(CHANGE_FLOOR)),
        expected + float(alerts.min_impact),
    )
    return (
        dense.join(baseline, on=[*SERIES, Daily.day], nulls_equal=True)
        .with_columns(spread.alias("spread"))
        .with_columns(
            pl.max_horizontal(expected - reach, pl.lit(0.0)).alias("lower"), upper.alias("upper")
        )
        .select(BAND_SCHEMA.names())
        .cast(BAND_SCHEMA)
        .sort(Daily.dimension, Daily.key, Daily.team, Daily.day, nulls_last=True)
    )
