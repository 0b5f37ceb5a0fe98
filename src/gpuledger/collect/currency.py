"""One billing currency per (billing account, period), by refusal or by configured FX rates.

Part of ``collect/``, used by the GCP and FOCUS collectors before rows reach
:func:`~gpuledger.collect.ingest.ingest_cost` (which refuses any remaining mix). A period of one
account billed in several currencies cannot be summed as it is. It is refused with one clear
error, unless the config names rates for that period (``[fx."YYYY-MM"]``, one unit of the
currency → the reporting currency): then the rows in other currencies are converted into the
reporting currency, and the rate used is kept in ``x_CurrencyConversionRate``.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import MONEY, Cost

_MONEY_COLUMNS = (Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost)
_PERIOD = "_period"


def harmonize_currency(rows: pl.DataFrame, settings: Settings, src: str) -> pl.DataFrame:
    """``rows`` with each (account, period) in one currency; see the module docstring."""
    if rows.is_empty():
        return rows
    with_period = rows.with_columns(
        pl.col(Cost.BillingPeriodStart).dt.strftime("%Y-%m").alias(_PERIOD)
    )
    mixed = (
        with_period.group_by(Cost.BillingAccountId, _PERIOD)
        .agg(pl.col(Cost.BillingCurrency).unique().sort().alias("currencies"))
        .filter(pl.col("currencies").list.len() > 1)
        .sort(Cost.BillingAccountId, _PERIOD)
    )
    if mixed.is_empty():
        return rows
    if Cost.x_CurrencyConversionRate not in with_period.columns:
        with_period = with_period.with_columns(
            pl.lit(None, dtype=pl.Float64).alias(Cost.x_CurrencyConversionRate)
        )
    reporting = settings.reporting.currency
    rates: dict[tuple[str, str], Decimal] = {}
    for item in mixed.iter_rows(named=True):
        period = item[_PERIOD]
        for currency in item["currencies"]:
            if currency == reporting:
                continue
            rate = settings.fx.get(period, {}).get(currency)
            if rate is None:
                raise InputError(
                    f"billing account {item[Cost.BillingAccountId]} period {period} is billed in "
                    f'{", ".join(item["currencies"])}; no [fx."{period}"] rate for {currency}',
                    file=src,
                    column=Cost.BillingCurrency,
                    expected=f"one currency per billing account and period, or config "
                    f'[fx."{period}"] {currency} = <rate to {reporting}>',
                )
            rates[(period, currency)] = rate
    return _convert(with_period, mixed, rates, reporting).drop(_PERIOD)


def _convert(
    rows: pl.DataFrame,
    mixed: pl.DataFrame,
    rates: dict[tuple[str, str], Decimal],
    reporting: str,
) -> pl.DataFrame:
    """Rows of the mixed (account, period) pairs in other currencies, converted at ``rates``."""
    table = pl.DataFrame(
        {
            _PERIOD: [period for period, _ in rates],
            Cost.BillingCurrency: [currency for _, currency in rates],
            "_rate": [str(rate) for rate in rates.values()],
        }
    ).with_columns(pl.col("_rate").str.to_decimal(scale=18))
    affected = mixed.select(Cost.BillingAccountId, _PERIOD).with_columns(
        pl.lit(True).alias("_mixed")
    )
    joined = rows.join(affected, on=[Cost.BillingAccountId, _PERIOD], how="left").join(
        table, on=[_PERIOD, Cost.BillingCurrency], how="left"
    )
    convert = pl.col("_mixed").fill_null(False) & pl.col("_rate").is_not_null()
    return joined.with_columns(
        *[
            pl.when(convert).then((pl.col(c) * pl.col("_rate")).cast(MONEY)).otherwise(pl.col(c))
            for c in _MONEY_COLUMNS
            if c in rows.columns
        ],
        pl.when(convert)
        .then(pl.col("_rate").cast(pl.Float64))
        .otherwise(pl.col(Cost.x_CurrencyConversionRate))
        .alias(Cost.x_CurrencyConversionRate),
        pl.when(convert)
        .then(pl.lit(reporting))
        .otherwise(pl.col(Cost.BillingCurrency))
        .alias(Cost.BillingCurrency),
    ).drop("_mixed", "_rate")
