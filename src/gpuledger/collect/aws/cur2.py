"""CUR 2.0 line items → ``cost`` rows: the pure mapping, no I/O.

Collect step, AWS: input is a LazyFrame in CUR 2.0 names and raw types (see
:mod:`gpuledger.collect.aws.parse`); output is a LazyFrame of ``cost`` columns. Legacy CUR reaches
this mapping after :mod:`gpuledger.collect.aws.legacy` renamed its columns.

The money columns follow AWS's own definitions:

* ``BilledCost`` is the unblended cost: what the invoice charges for the line.
* ``EffectiveCost`` is AWS's amortized cost (:func:`amortized_cost`).
* ``ListCost`` is the public on-demand cost.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.focus.mapping import with_gpu_facts
from gpuledger.collect.values import on_distinct, on_distinct_rows
from gpuledger.schema import MONEY, TAGS, Cost

LINE_TYPE: Final = pl.col(Cur.line_item_line_item_type)
SAVINGS_PLAN_TYPES: Final = (
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "SavingsPlanRecurringFee",
    "SavingsPlanUpfrontFee",
)
RESERVATION_TYPES: Final = ("DiscountedUsage", "RIFee")
USAGE_TYPES: Final = ("Usage", "SavingsPlanCoveredUsage", "DiscountedUsage", "SavingsPlanNegation")
PURCHASE_TYPES: Final = ("Fee", "RIFee", "SavingsPlanRecurringFee", "SavingsPlanUpfrontFee")
CREDIT_TYPES: Final = (
    "Credit",
    "Discount",
    "BundledDiscount",
    "EdpDiscount",
    "PrivateRateDiscount",
    "DistributorDiscount",
    "SppDiscount",
)

# FOCUS 1.2 service categories for the AWS services a GPU bill is made of; others are "Other".
SERVICE_CATEGORIES: Final = {
    "AmazonEC2": "Compute",
    "AmazonECS": "Compute",
    "AmazonEKS": "Compute",
    "AWSLambda": "Compute",
    "AmazonSageMaker": "AI and Machine Learning",
    "AmazonBedrock": "AI and Machine Learning",
    "AmazonS3": "Storage",
    "AmazonEFS": "Storage",
    "AmazonFSx": "Storage",
    "AmazonECR": "Storage",
    "AWSBackup": "Storage",
    "AWSDataTransfer": "Networking",
    "AmazonVPC": "Networking",
    "AmazonCloudFront": "Networking",
    "AmazonRDS": "Databases",
    "AmazonDynamoDB": "Databases",
    "AWSGlue": "Analytics",
    "AmazonAthena": "Analytics",
    "AWSQueueService": "Integration",
    "AmazonSNS": "Integration",
    "AmazonStates": "Integration",
    "AmazonCloudWatch": "Management and Governance",
    "AWSCloudTrail": "Management and Governance",
    "AWSSupportBusiness": "Management and Governance",
    "AWSSupportEnterprise": "Management and Governance",
    "awskms": "Security",
    "AWSSecretsManager": "Security",
}

# The instance type inside a usage type, for lines without product_instance_type:
# ``USE2-BoxUsage:p5.48xlarge``, ``SpotUsage:g5.xlarge``, ``USE1-ml.p4d.24xlarge-Training``.
INSTANCE_IN_USAGE_TYPE: Final = (
    r"(?:Usage:|^|-)((?:ml\.)?[a-z][a-z0-9-]*\.[0-9]*[a-z]+[0-9]*[a-z]*)"
)


def _amount(name: str) -> pl.Expr:
    return pl.col(name).fill_null(pl.lit(0, dtype=MONEY)).cast(MONEY)


def amortized_cost() -> pl.Expr:
    """EffectiveCost, AWS's amortized cost of one line item, in the order AWS documents it.

    * SavingsPlanCoveredUsage: the usage at its Savings Plan rate
      (``savings_plan_savings_plan_effective_cost``).
    * SavingsPlanRecurringFee: only the commitment no usage consumed
      (``savings_plan_total_commitment_to_date - savings_plan_used_commitment``); the used part is
      already on the covered usage lines. It stays a row of its own so chargeback can place it.
    * SavingsPlanNegation and SavingsPlanUpfrontFee: 0; the negation cancels the covered usage's
      on-demand price, the upfront payment is spread over the covered usage.
    * DiscountedUsage: the usage at its reservation rate (``reservation_effective_cost``).
    * RIFee: only the reservation's unused part (unused amortized upfront fee plus unused
      recurring fee).
    * Fee of a reservation (its upfront payment): 0, spread over the DiscountedUsage lines.
    * Everything else (Usage, Tax, Credit, Refund, other fees): the unblended cost.
    """
    return (
        pl.when(LINE_TYPE == "SavingsPlanCoveredUsage")
        .then(_amount(Cur.savings_plan_savings_plan_effective_cost))
        .when(LINE_TYPE == "SavingsPlanRecurringFee")
        .then(
            _amount(Cur.savings_plan_total_commitment_to_date)
            - _amount(Cur.savings_plan_used_commitment)
        )
        .when(LINE_TYPE.is_in(["SavingsPlanNegation", "SavingsPlanUpfrontFee"]))
        .then(pl.lit(0, dtype=MONEY))
        .when(LINE_TYPE == "DiscountedUsage")
        .then(_amount(Cur.reservation_effective_cost))
        .when(LINE_TYPE == "RIFee")
        .then(
            _amount(Cur.reservation_unused_amortized_upfront_fee_for_billing_period)
            + _amount(Cur.reservation_unused_recurring_fee)
        )
        .when((LINE_TYPE == "Fee") & pl.col(Cur.reservation_reservation_a_r_n).is_not_null())
        .then(pl.lit(0, dtype=MONEY))
        .otherwise(_amount(Cur.line_item_unblended_cost))
        .cast(MONEY)
    )


def charge_category() -> pl.Expr:
    """FOCUS ChargeCategory of an AWS line item type; a type AWS adds later is an Adjustment."""
    return (
        pl.when(LINE_TYPE.is_in(USAGE_TYPES))
        .then(pl.lit("Usage"))
        .when(LINE_TYPE.is_in(PURCHASE_TYPES))
        .then(pl.lit("Purchase"))
        .when(LINE_TYPE == "Tax")
        .then(pl.lit("Tax"))
        .when(LINE_TYPE.is_in(CREDIT_TYPES))
        .then(pl.lit("Credit"))
        .otherwise(pl.lit("Adjustment"))
    )


def charge_class() -> pl.Expr:
    """A refund corrects an earlier charge: FOCUS ChargeClass ``Correction``."""
    return pl.when(LINE_TYPE == "Refund").then(pl.lit("Correction")).otherwise(None)


def is_spot() -> pl.Expr:
    return pl.col(Cur.line_item_usage_type).str.contains("SpotUsage", literal=True).fill_null(
        False
    ) | (pl.col(Cur.pricing_term) == "Spot").fill_null(False)


def pricing_category() -> pl.Expr:
    """Committed for Savings Plan and reservation lines, Dynamic for spot, Standard on demand."""
    committed = (
        LINE_TYPE.is_in([*SAVINGS_PLAN_TYPES, *RESERVATION_TYPES])
        | (LINE_TYPE == "Fee") & pl.col(Cur.reservation_reservation_a_r_n).is_not_null()
    )
    return (
        pl.when(committed)
        .then(pl.lit("Committed"))
        .when((LINE_TYPE == "Usage") & is_spot())
        .then(pl.lit("Dynamic"))
        .when(LINE_TYPE.is_in(["Usage", "Fee"]))
        .then(pl.lit("Standard"))
        .otherwise(None)
    )


def commitment_discount() -> tuple[pl.Expr, pl.Expr]:
    """(CommitmentDiscountId, CommitmentDiscountType) of Savings Plan and reservation lines."""
    on_plan = LINE_TYPE.is_in(SAVINGS_PLAN_TYPES)
    on_reservation = LINE_TYPE.is_in(RESERVATION_TYPES) | (
        (LINE_TYPE == "Fee") & pl.col(Cur.reservation_reservation_a_r_n).is_not_null()
    )
    ident = (
        pl.when(on_plan)
        .then(pl.col(Cur.savings_plan_savings_plan_a_r_n))
        .when(on_reservation)
        .then(pl.col(Cur.reservation_reservation_a_r_n))
    )
    kind = (
        pl.when(on_plan)
        .then(pl.lit("Savings Plan"))
        .when(on_reservation)
        .then(pl.lit("Reservation"))
    )
    return ident, kind


def instance_type() -> pl.Expr:
    """The EC2 or SageMaker instance type a line is about, from the product or the usage type."""
    from_usage = on_distinct(
        Cur.line_item_usage_type,
        lambda usage_type: usage_type.str.extract(INSTANCE_IN_USAGE_TYPE, 1),
        pl.String(),
    )
    on_instance = pl.col(Cur.line_item_product_code).is_in(["AmazonEC2", "AmazonSageMaker"])
    return pl.coalesce(
        pl.col(Cur.product_instance_type),
        pl.when(on_instance & LINE_TYPE.is_in(USAGE_TYPES)).then(from_usage),
    )


def tags() -> pl.Expr:
    """Resource tags and cost categories as FOCUS-style ``[{key, value, origin}]``.

    Activated user tags lose AWS's ``user_`` / ``user:`` prefix so the key is the one people
    typed (``team``); AWS-generated tags (``aws:…``) keep theirs; cost categories are marked.
    Built once per distinct (tags, cost categories) pair of each batch: a CUR repeats a few
    tag sets on millions of lines, and joining nested lists row by row is what costs.
    """
    return on_distinct_rows([Cur.resource_tags, Cur.cost_category], _tag_list(), TAGS)


def _tag_list() -> pl.Expr:
    key = pl.element().struct.field("key")
    value = pl.element().struct.field("value")
    user = key.str.contains(r"^user[_:]")
    resource = pl.col(Cur.resource_tags).list.eval(
        pl.struct(
            pl.when(user).then(key.str.slice(5)).otherwise(key).alias("key"),
            value.alias("value"),
            pl.when(user | ~key.str.contains(r"^aws[_:]"))
            .then(pl.lit("user"))
            .otherwise(pl.lit("aws"))
            .alias("origin"),
        )
    )
    categories = pl.col(Cur.cost_category).list.eval(
        pl.struct(key.alias("key"), value.alias("value"), pl.lit("cost_category").alias("origin"))
    )
    return pl.concat_list(
        resource.fill_null(pl.lit([], dtype=TAGS)),
        categories.fill_null(pl.lit([], dtype=TAGS)),
    )


def _pod_part(index: int) -> pl.Expr:
    """``arn:aws:eks:…:pod/<cluster>/<namespace>/<pod>/<uid>``: one part of a split line's pod."""
    resource = pl.col(Cur.line_item_resource_id)
    is_pod = pl.col(Cur.split_line_item_parent_resource_id).is_not_null() & resource.str.contains(
        ":pod/", literal=True
    )
    return pl.when(is_pod).then(resource.str.split("/").list.get(index, null_on_oob=True))


def map_cur2(raw: pl.LazyFrame) -> pl.LazyFrame:
    """CUR 2.0 rows (raw types, ``x_SourceFile``/``x_SourceRow`` already set) → ``cost`` rows."""
    mapped = raw.with_columns(*_accounts_and_periods(), *_charge(), *_money(), *_extensions())
    return with_gpu_facts(mapped)


def _accounts_and_periods() -> list[pl.Expr]:
    start = pl.col(Cur.bill_billing_period_start_date)
    return [
        pl.col(Cur.bill_payer_account_id).alias(Cost.BillingAccountId),
        pl.col(Cur.bill_payer_account_name).alias(Cost.BillingAccountName),
        pl.col(Cur.line_item_usage_account_id).alias(Cost.SubAccountId),
        pl.col(Cur.line_item_usage_account_name).alias(Cost.SubAccountName),
        start.alias(Cost.BillingPeriodStart),
        pl.coalesce(Cur.bill_billing_period_end_date, start.dt.offset_by("1mo")).alias(
            Cost.BillingPeriodEnd
        ),
        pl.col(Cur.line_item_usage_start_date).alias(Cost.ChargePeriodStart),
        pl.coalesce(Cur.line_item_usage_end_date, Cur.line_item_usage_start_date).alias(
            Cost.ChargePeriodEnd
        ),
    ]


def _charge() -> list[pl.Expr]:
    """What was charged: category, service, resource, quantities, commitment, tags."""
    product = pl.col(Cur.line_item_product_code)
    is_usage = LINE_TYPE.is_in(USAGE_TYPES)
    commitment_id, commitment_type = commitment_discount()
    return [
        charge_category().alias(Cost.ChargeCategory),
        charge_class().alias(Cost.ChargeClass),
        pl.col(Cur.line_item_line_item_description).alias(Cost.ChargeDescription),
        pl.lit("AWS").alias(Cost.ProviderName),
        pl.coalesce(Cur.product_product_name, Cur.product_servicecode, product).alias(
            Cost.ServiceName
        ),
        product.replace_strict(SERVICE_CATEGORIES, default="Other", return_dtype=pl.String).alias(
            Cost.ServiceCategory
        ),
        pl.col(Cur.product_region_code).alias(Cost.RegionId),
        pl.col(Cur.line_item_resource_id).alias(Cost.ResourceId),
        pl.col(Cur.product_sku).alias(Cost.SkuId),
        pricing_category().alias(Cost.PricingCategory),
        pl.col(Cur.line_item_usage_amount).alias(Cost.PricingQuantity),
        pl.col(Cur.pricing_unit).alias(Cost.PricingUnit),
        pl.when(is_usage).then(pl.col(Cur.line_item_usage_amount)).alias(Cost.ConsumedQuantity),
        pl.when(is_usage).then(pl.col(Cur.pricing_unit)).alias(Cost.ConsumedUnit),
        pl.col(Cur.line_item_currency_code).alias(Cost.BillingCurrency),
        commitment_id.alias(Cost.CommitmentDiscountId),
        commitment_type.alias(Cost.CommitmentDiscountType),
        tags().alias(Cost.Tags),
    ]


def _money() -> list[pl.Expr]:
    """Billed (unblended), effective (amortized) and list (public on-demand) cost."""
    return [
        _amount(Cur.line_item_unblended_cost).alias(Cost.BilledCost),
        amortized_cost().alias(Cost.EffectiveCost),
        _amount(Cur.pricing_public_on_demand_cost).alias(Cost.ListCost),
        _amount(Cur.line_item_unblended_cost).alias(Cost.ContractedCost),
    ]


def _extensions() -> list[pl.Expr]:
    """The ``x_`` columns: GPU facts (filled from the catalog), EKS splits, AWS's own ids."""
    return [
        instance_type().alias(Cost.x_InstanceType),
        pl.lit(None, dtype=pl.String).alias(Cost.x_GpuModel),
        pl.lit(None, dtype=pl.Int32).alias(Cost.x_GpuCount),
        pl.lit(None, dtype=pl.String).alias(Cost.x_AcceleratorKind),
        pl.col(Cur.split_line_item_parent_resource_id).alias(Cost.x_ParentResourceId),
        _pod_part(2).alias(Cost.x_K8sNamespace),
        _pod_part(3).alias(Cost.x_K8sPod),
        pl.col(Cur.split_line_item_split_cost).alias(Cost.x_SplitCost),
        pl.col(Cur.split_line_item_unused_cost).alias(Cost.x_SplitUnusedCost),
        LINE_TYPE.alias(Cost.x_LineItemType),
        pl.col(Cur.identity_line_item_id).alias(Cost.x_LineItemId),
        pl.when(charge_category() == "Credit").then(LINE_TYPE).alias(Cost.x_CreditType),
        pl.col(Cur.bill_invoice_id).alias(Cost.x_InvoiceId),
    ]
