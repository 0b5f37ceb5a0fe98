"""AWS billing column names (CUR 2.0 spelling) and the raw types the AWS collector reads them as.

Collect step, AWS: every AWS format is brought to these names before it is mapped, so the
mapping to the ``cost`` table is written once. Legacy CUR headers (``lineItem/UsageAmount``)
are renamed to them by :mod:`gpuledger.collect.aws.legacy`.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from gpuledger.schema import MONEY, UTC_TIME

RAW_TAGS: Final = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))


class Cur:
    """CUR 2.0 column names, as AWS Data Exports spells them."""

    identity_line_item_id = "identity_line_item_id"
    bill_invoice_id = "bill_invoice_id"
    bill_payer_account_id = "bill_payer_account_id"
    bill_payer_account_name = "bill_payer_account_name"
    bill_billing_period_start_date = "bill_billing_period_start_date"
    bill_billing_period_end_date = "bill_billing_period_end_date"
    line_item_usage_account_id = "line_item_usage_account_id"
    line_item_usage_account_name = "line_item_usage_account_name"
    line_item_line_item_type = "line_item_line_item_type"
    line_item_usage_start_date = "line_item_usage_start_date"
    line_item_usage_end_date = "line_item_usage_end_date"
    line_item_product_code = "line_item_product_code"
    line_item_usage_type = "line_item_usage_type"
    line_item_operation = "line_item_operation"
    line_item_resource_id = "line_item_resource_id"
    line_item_usage_amount = "line_item_usage_amount"
    line_item_currency_code = "line_item_currency_code"
    line_item_unblended_cost = "line_item_unblended_cost"
    line_item_net_unblended_cost = "line_item_net_unblended_cost"
    line_item_line_item_description = "line_item_line_item_description"
    product_servicecode = "product_servicecode"
    product_product_name = "product_product_name"
    product_region_code = "product_region_code"
    product_instance_type = "product_instance_type"
    product_sku = "product_sku"
    pricing_term = "pricing_term"
    pricing_unit = "pricing_unit"
    pricing_public_on_demand_cost = "pricing_public_on_demand_cost"
    reservation_reservation_a_r_n = "reservation_reservation_a_r_n"
    reservation_effective_cost = "reservation_effective_cost"
    reservation_unused_amortized_upfront_fee_for_billing_period = (
        "reservation_unused_amortized_upfront_fee_for_billing_period"
    )
    reservation_unused_recurring_fee = "reservation_unused_recurring_fee"
    savings_plan_savings_plan_a_r_n = "savings_plan_savings_plan_a_r_n"
    savings_plan_savings_plan_effective_cost = "savings_plan_savings_plan_effective_cost"
    savings_plan_total_commitment_to_date = "savings_plan_total_commitment_to_date"
    savings_plan_used_commitment = "savings_plan_used_commitment"
    split_line_item_parent_resource_id = "split_line_item_parent_resource_id"
    split_line_item_split_cost = "split_line_item_split_cost"
    split_line_item_unused_cost = "split_line_item_unused_cost"
    resource_tags = "resource_tags"
    cost_category = "cost_category"


# Columns without which no line item can be placed or priced: a file lacking one is refused.
REQUIRED: Final = (
    Cur.bill_payer_account_id,
    Cur.bill_billing_period_start_date,
    Cur.line_item_line_item_type,
    Cur.line_item_usage_start_date,
    Cur.line_item_currency_code,
    Cur.line_item_unblended_cost,
)

# What identifies one line item: AWS repeats an id on the lines of different hours.
IDENTITY: Final = (Cur.identity_line_item_id, "identity_time_interval")

MONEY_COLUMNS: Final = (
    Cur.line_item_unblended_cost,
    Cur.line_item_net_unblended_cost,
    Cur.pricing_public_on_demand_cost,
    Cur.reservation_effective_cost,
    Cur.reservation_unused_amortized_upfront_fee_for_billing_period,
    Cur.reservation_unused_recurring_fee,
    Cur.savings_plan_savings_plan_effective_cost,
    Cur.savings_plan_total_commitment_to_date,
    Cur.savings_plan_used_commitment,
    Cur.split_line_item_split_cost,
    Cur.split_line_item_unused_cost,
)
QUANTITY_COLUMNS: Final = (Cur.line_item_usage_amount,)
TIME_COLUMNS: Final = (
    Cur.bill_billing_period_start_date,
    Cur.bill_billing_period_end_date,
    Cur.line_item_usage_start_date,
    Cur.line_item_usage_end_date,
)
MAP_COLUMNS: Final = (Cur.resource_tags, Cur.cost_category)

# Every raw column the mapping reads, with the type it is read as; absent optional columns are
# added as nulls of this type.
_RAW_TYPES: dict[str, Any] = {
    **{
        name: pl.String
        for name, value in vars(Cur).items()
        if not name.startswith("_") and isinstance(value, str)
    },
    **dict.fromkeys(MONEY_COLUMNS, MONEY),
    **dict.fromkeys(QUANTITY_COLUMNS, pl.Float64),
    **dict.fromkeys(TIME_COLUMNS, UTC_TIME),
    **dict.fromkeys(MAP_COLUMNS, RAW_TAGS),
}
RAW_SCHEMA: Final = pl.Schema(_RAW_TYPES)

# ISO 4217 codes in use: a currency outside this list means a broken or foreign file.
_ISO_4217_TEXT: Final = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
"""
ISO_4217: Final = frozenset(_ISO_4217_TEXT.split())
