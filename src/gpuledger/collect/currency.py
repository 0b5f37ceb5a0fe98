"""One billing currency per (billing account, period), by refusal or by configured FX rates.

Part of ``collect/``, used by the GCP and FOCUS collectors before rows reach
:func:`~gpuledger.collect.ingest.ingest_cost` (which refuses any remaining mix). A period of one
account billed in several currencies cannot be summed as it is. It is refused with one clear
error, unless the config names rates for that period (``[fx."YYYY-MM"]``, one unit of the
currency → the reporting currency): then the rows in other currencies are converted into the
reporting currency, and the rate used is kept in ``x_CurrencyConversionRate``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import MONEY, Cost

_MONEY_COLUMNS = (Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost)
_PERIOD = "_period"


def harmonize_currency(rows: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """``rows`` with each (account, period) in one currency; see the module docstring.

    One streaming pass finds the mixed pairs; the conversion itself is row-wise, so the result
    still streams and slices like ``rows``.
    """
    # Grouped by the timestamp first: formatting the period of every row would cost more.
    mixed = (
        rows.group_by(Cost.BillingAccountId, Cost.BillingPeriodStart)
        .agg(pl.col(Cost.BillingCurrency).unique().alias("currencies"))
        .with_columns(pl.col(Cost.BillingPeriodStart).dt.strftime("%Y-%m").alias(_PERIOD))
        .explode("currencies")
        .group_by(Cost.BillingAccountId, _PERIOD)
        .agg(pl.col("currencies").unique().sort())
        .filter(pl.col("currencies").list.len() > 1)
        .sort(Cost.BillingAccountId, _PERIOD)
        .collect(engine="streaming")
    )
    if mixed.is_empty():
        return rows
    reporting = settings.reporting.currency
    rates: dict[str, Decimal] = {}
    for item in mixed.iter_rows(named=True):
        for currency in item["currencies"]:
            if currency != reporting:
                rate = _rate(settings, item, currency, rows)
                rates[_key(item[Cost.BillingAccountId], item[_PERIOD], currency)] = rate
    return _convert(rows, rates, reporting)


def _rate(settings: Settings, item: dict[str, Any], currency: str, rows: pl.LazyFrame) -> Decimal:
    """The configured rate of ``currency`` for the item's period, or a refusal naming the first
    line in that currency by its file and that file's own row."""
    period = item[_PERIOD]
    rate = settings.fx.get(period, {}).get(currency)
    if rate is None:
        reporting = settings.reporting.currency
        start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
        file, row = (
            rows.filter(
                (pl.col(Cost.BillingAccountId) == item[Cost.BillingAccountId])
                & (pl.col(Cost.BillingPeriodStart).dt.month_start() == start)
                & (pl.col(Cost.BillingCurrency) == currency)
            )
            .select(Cost.x_SourceFile, Cost.x_SourceRow)
            .head(1)
            .collect()
            .row(0)
        )
        raise InputError(
            f"billing account {item[Cost.BillingAccountId]} period {period} is billed in "
            f'{", ".join(item["currencies"])}; no [fx."{period}"] rate for {currency}',
            file=file,
            row=row,
            column=Cost.BillingCurrency,
            expected=f"one currency per billing account and period, or config "
            f'[fx."{period}"] {currency} = <rate to {reporting}>',
        )
    return rate


def _key(account: str, period: str, currency: str) -> str:
    return f"{account}\x1f{period}\x1f{currency}"


def _convert(rows: pl.LazyFrame, rates: dict[str, Decimal], reporting: str) -> pl.LazyFrame:
    """Rows of the mixed (account, period) pairs in other currencies, converted at ``rates``."""
    key = pl.concat_str(
        pl.col(Cost.BillingAccountId),
        pl.col(Cost.BillingPeriodStart).dt.strftime("%Y-%m"),
        pl.col(Cost.BillingCurrency),
        separator="\x1f",
    )
    table = pl.Series([str(rate) for rate in rates.values()]).str.to_decimal(scale=18)
    rate = key.replace_strict(list(rates), table, default=None, return_dtype=table.dtype)
    names = rows.collect_schema().names()
    converted = rows.with_columns(rate.alias("_rate"))
    convert = pl.col("_rate").is_not_null()
    current = (
        pl.col(Cost.x_CurrencyConversionRate)
        if Cost.x_CurrencyConversionRate in names
        else pl.lit(None, dtype=pl.Float64)
    )
    return converted.with_columns(
        *[
            pl.when(convert).then((pl.col(c) * pl.col("_rate")).cast(MONEY)).otherwise(pl.col(c))
            for c in _MONEY_COLUMNS
            if c in names
        ],
        pl.when(convert)
        .then(pl.col("_rate").cast(pl.Float64))
        .otherwise(current)
        .alias(Cost.x_CurrencyConversionRate),
        pl.when(convert)
        .then(pl.lit(reporting))
        .otherwise(pl.col(Cost.BillingCurrency))
        .alias(Cost.BillingCurrency),
    ).drop("_rate")
