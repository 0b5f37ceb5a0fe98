"""GCP billing export → the ``cost`` table: row checks and the pure mapping of lines.

Part of ``collect/gcp``. The money rules, as applied here:

* The billing period is ``invoice.month``: usage of late September that Google invoices in
  October belongs to October, whatever its ``usage_start_time``.
* A cost line becomes one row with ``BilledCost = cost``, ``EffectiveCost = cost + Σ credits``
  (the net the customer pays for that usage) and ``ListCost = cost_at_list``.
* Each credit also becomes a row of its own, ``ChargeCategory = Credit`` with ``BilledCost`` = the
  credit and ``EffectiveCost = 0`` (already netted into its usage row), its type in
  ``x_CreditType``. So per invoice month Σ EffectiveCost = Σ BilledCost = Σ cost + Σ credits,
  which is the invoice, and every credit type (CUD, sustained use, free tier, promotion, …) stays
  visible.
* ``cost_type`` tax / adjustment / rounding_error → ChargeCategory Tax / Adjustment (adjustments
  are ChargeClass Correction); commitment fee SKUs are Purchases; Spot/Preemptible SKUs are
  PricingCategory Dynamic; usage covered by a CUD credit is Committed.
* Labels, system labels and project labels become ``Tags`` with origin resource / system /
  project; empty values stay empty strings.
* GPU SKU rows and the vCPU/RAM rows of the same instance share the instance's ResourceId, and
  each row of that instance-hour carries the same machine type and GPU facts.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.gcp.lines import SOURCE_ROW, Line, export_lines
from gpuledger.collect.gcp.skus import (
    COMMITMENT_SKU,
    COMMITMENT_TYPES,
    COST_TYPES,
    DYNAMIC_SKU,
    MACHINE_SPEC_LABEL,
    gpu_sku_key,
    label_value,
    service_category,
)
from gpuledger.collect.quarantine import COLUMN, DUPLICATE, REASON
from gpuledger.collect.values import (
    AMOUNT_LIMIT,
    TIME_FORMS,
    beyond_amount_range,
    money,
    not_finite,
    unparsed,
    utc_time,
)
from gpuledger.prices.catalog import attach_gpu_facts, gpu_catalog
from gpuledger.schema import MONEY, TAGS, Cost

PROVIDER: Final = "GCP"
_INSTANCE: Final = r"^(//compute\.googleapis\.com/projects/[^/]+/zones/[^/]+/instances/[^/]+)"
_A_TIMESTAMP: Final = f"a timestamp (expected {TIME_FORMS})"
_TEXT: Final = pl.String()
NOT_FINITE: Final = "not a finite number (NaN or infinity)"


def check_export(raw: pl.LazyFrame, repeated: pl.Series | None = None) -> pl.LazyFrame:
    """Export rows with ``_reason``/``_column`` on the rows that cannot be stored and
    ``_source_row`` their 1-based position in the file (kept when ``raw`` has it already).

    ``repeated`` are the ``_source_row`` numbers of rows that repeat an earlier row
    (:class:`~gpuledger.collect.quarantine.RepeatedRows`); they are refused as duplicates.
    """
    if SOURCE_ROW not in raw.collect_schema().names():
        raw = raw.with_row_index(SOURCE_ROW, offset=1)
    start = utc_time("usage_start_time", _TEXT)
    end = utc_time("usage_end_time", _TEXT)
    amounts = pl.col("credits").list.eval(
        pl.element().struct.field("amount").str.strip_chars().str.to_decimal(scale=18)
    )
    raw_amounts = pl.col("credits").list.eval(pl.element().struct.field("amount"))
    checks: list[tuple[pl.Expr, str, str]] = [
        (_blank(pl.col("billing_account_id")), "billing_account_id", "billing_account_id is empty"),
        (
            ~pl.col("invoice").struct.field("month").str.contains(r"^\d{4}(0[1-9]|1[0-2])$"),
            "invoice.month",
            "invoice.month is not YYYYMM",
        ),
        (start.is_null(), "usage_start_time", f"usage_start_time is not {_A_TIMESTAMP}"),
        (end.is_null(), "usage_end_time", f"usage_end_time is not {_A_TIMESTAMP}"),
        (end < start, "usage_end_time", "usage_end_time is before usage_start_time"),
        *_number_checks(),
        (money("cost", _TEXT).is_null(), "cost", "cost is not a number"),
        (
            unparsed(pl.col("cost_at_list"), money("cost_at_list", _TEXT)),
            "cost_at_list",
            "cost_at_list is not a number",
        ),
        (
            amounts.list.drop_nulls().list.len() != raw_amounts.list.len(),
            "credits.amount",
            "a credit amount is not a number",
        ),
        (
            ~pl.col("cost_type").is_in(list(COST_TYPES)),
            "cost_type",
            f"cost_type is not one of {', '.join(COST_TYPES)}",
        ),
        (
            ~pl.col("currency").str.contains(r"^[A-Z]{3}$"),
            "currency",
            "currency is not an ISO 4217 code",
        ),
    ]
    if repeated is not None and repeated.len():
        again = pl.col(SOURCE_ROW).cast(pl.Int64).is_in(repeated.cast(pl.Int64).implode())
        checks.append((again, "", DUPLICATE))
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    column: pl.Expr = pl.lit(None, dtype=pl.String)
    for condition, name, text in reversed(checks):
        hit = condition.fill_null(True)
        reason = pl.when(hit).then(pl.lit(text)).otherwise(reason)
        column = pl.when(hit).then(pl.lit(name or None, dtype=pl.String)).otherwise(column)
    return raw.with_columns(reason.alias(REASON), column.alias(COLUMN))


def _number_checks() -> list[tuple[pl.Expr, str, str]]:
    """NaN, infinity and amounts beyond any bill, named as such (parsing would make them null,
    and a null amount reads as zero)."""
    checks: list[tuple[pl.Expr, str, str]] = []
    for name, value in (("cost", pl.col("cost")), ("cost_at_list", pl.col("cost_at_list"))):
        checks.append((not_finite(value, _TEXT).fill_null(False), name, f"{name} is {NOT_FINITE}"))
        checks.append(
            (
                beyond_amount_range(value, _TEXT, money(name, _TEXT)),
                name,
                f"{name} is beyond the range of an amount (±{AMOUNT_LIMIT})",
            )
        )
    usage = pl.col("usage")
    for name, value in (
        ("usage.amount", usage.struct.field("amount")),
        ("usage.amount_in_pricing_units", usage.struct.field("amount_in_pricing_units")),
        ("currency_conversion_rate", pl.col("currency_conversion_rate")),
    ):
        checks.append((not_finite(value, _TEXT).fill_null(False), name, f"{name} is {NOT_FINITE}"))
    return checks


def _blank(text: pl.Expr) -> pl.Expr:
    return text.is_null() | (text.str.strip_chars() == "")


def gcp_to_cost(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Sound export rows (``raw`` in ``EXPORT_SCHEMA``) as ``cost`` rows."""
    checked = check_export(raw).filter(pl.col(REASON).is_null())
    return lines_to_cost(export_lines(checked))


def lines_to_cost(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Cost and credit lines (``LINES_SCHEMA``) as ``cost`` rows; see the module docstring."""
    label_sets = pl.struct(Line.labels, Line.system_labels, Line.project_labels).hash()
    lines = lines.with_columns(label_sets.alias("_label_set"))
    mapped = lines.select(
        pl.col("_label_set"),
        *_account_and_period(),
        *_charge(),
        *_money(),
        *_resource(),
        *_usage(),
        label_value(pl.col(Line.system_labels), MACHINE_SPEC_LABEL).alias(Cost.x_InstanceType),
        _gpu_sku().alias("_gpu_sku"),
        pl.col(Line.cost_type).alias(Cost.x_LineItemType),
        pl.col(Line.credit_type).alias(Cost.x_CreditType),
        pl.col(Line.currency_conversion_rate).alias(Cost.x_CurrencyConversionRate),
        pl.col(Line.source_row).alias(Cost.x_SourceRow),
        pl.col(Line.usage_unit).alias("_usage_unit"),
    )
    return _gpu_facts(_with_tags(mapped, lines))


def _with_tags(mapped: pl.LazyFrame, lines: pl.LazyFrame) -> pl.LazyFrame:
    """Tags built once per distinct label set (an export repeats a few hundred sets)."""
    tag_sets = lines.unique("_label_set").select("_label_set", _tags().alias(Cost.Tags))
    return mapped.join(tag_sets, on="_label_set", how="left", maintain_order="left").drop(
        "_label_set"
    )


def _account_and_period() -> list[pl.Expr]:
    invoice = (pl.col(Line.invoice_month) + "01").str.to_date("%Y%m%d").cast(pl.Datetime("us"))
    start = invoice.dt.replace_time_zone("UTC")
    return [
        pl.col(Line.billing_account_id).alias(Cost.BillingAccountId),
        pl.col(Line.project_id).alias(Cost.SubAccountId),
        pl.col(Line.project_name).alias(Cost.SubAccountName),
        start.alias(Cost.BillingPeriodStart),
        start.dt.offset_by("1mo").alias(Cost.BillingPeriodEnd),
        pl.col(Line.usage_start_time).alias(Cost.ChargePeriodStart),
        pl.col(Line.usage_end_time).alias(Cost.ChargePeriodEnd),
        pl.lit(PROVIDER).alias(Cost.ProviderName),
    ]


def _charge() -> list[pl.Expr]:
    is_credit = pl.col(Line.line) == "credit"
    sku = pl.col(Line.sku_description)
    category = pl.col(Line.cost_type).replace_strict(
        {k: v[0] for k, v in COST_TYPES.items()}, default=None, return_dtype=pl.String
    )
    category = (
        pl.when(is_credit)
        .then(pl.lit("Credit"))
        .when((category == "Usage") & sku.str.contains(COMMITMENT_SKU).fill_null(False))
        .then(pl.lit("Purchase"))
        .otherwise(category)
    )
    charge_class = pl.col(Line.cost_type).replace_strict(
        {k: v[1] for k, v in COST_TYPES.items()}, default=None, return_dtype=pl.String
    )
    commitment_type = pl.coalesce(
        pl.col(Line.credit_type), pl.col(Line.commitment_credit_type)
    ).replace_strict(COMMITMENT_TYPES, default=None, return_dtype=pl.String)
    commitment_id = pl.coalesce(pl.col(Line.credit_id), pl.col(Line.commitment_credit_id))
    pricing = (
        pl.when(is_credit | (pl.col(Line.cost_type) != "regular"))
        .then(None)
        .when(sku.str.contains(DYNAMIC_SKU).fill_null(False))
        .then(pl.lit("Dynamic"))
        .when(pl.col(Line.commitment_credit_type).is_not_null())
        .then(pl.lit("Committed"))
        .otherwise(pl.lit("Standard"))
    )
    return [
        category.alias(Cost.ChargeCategory),
        pl.when(is_credit).then(None).otherwise(charge_class).alias(Cost.ChargeClass),
        pl.when(is_credit)
        .then(pl.col(Line.credit_name))
        .otherwise(sku)
        .alias(Cost.ChargeDescription),
        pl.col(Line.service_description).alias(Cost.ServiceName),
        service_category(pl.col(Line.service_description)).alias(Cost.ServiceCategory),
        pl.col(Line.sku_id).alias(Cost.SkuId),
        pricing.alias(Cost.PricingCategory),
        pl.when(commitment_type.is_not_null()).then(commitment_id).alias(Cost.CommitmentDiscountId),
        commitment_type.alias(Cost.CommitmentDiscountType),
    ]


def _money() -> list[pl.Expr]:
    is_credit = pl.col(Line.line) == "credit"
    amount = pl.col(Line.amount).cast(MONEY)
    zero = pl.lit(0, dtype=MONEY)
    net = amount + pl.col(Line.credits_total).cast(MONEY).fill_null(zero)
    return [
        amount.alias(Cost.BilledCost),
        pl.when(is_credit).then(zero).otherwise(net).alias(Cost.EffectiveCost),
        pl.when(is_credit)
        .then(zero)
        .otherwise(pl.col(Line.cost_at_list).cast(MONEY))
        .alias(Cost.ListCost),
        pl.col(Line.currency).alias(Cost.BillingCurrency),
    ]


def _resource() -> list[pl.Expr]:
    """The instance a line belongs to: GPU, vCPU and RAM SKUs of one VM share one ResourceId."""
    named = pl.coalesce(pl.col(Line.resource_global_name), pl.col(Line.resource_name))
    instance = named.str.extract(_INSTANCE, 1)
    return [
        pl.coalesce(instance, named).alias(Cost.ResourceId),
        pl.col(Line.resource_name).alias(Cost.ResourceName),
        pl.when(instance.is_not_null())
        .then(pl.lit("Compute Engine instance"))
        .alias(Cost.ResourceType),
        pl.coalesce(pl.col(Line.location_region), pl.col(Line.location_zone)).alias(Cost.RegionId),
    ]


def _usage() -> list[pl.Expr]:
    return [
        pl.col(Line.usage_amount_in_pricing_units).alias(Cost.PricingQuantity),
        pl.col(Line.usage_pricing_unit).alias(Cost.PricingUnit),
        pl.col(Line.usage_amount).alias(Cost.ConsumedQuantity),
        pl.col(Line.usage_unit).alias(Cost.ConsumedUnit),
    ]


def _tags() -> pl.Expr:
    """Labels, system labels and project labels as one tag list, each with its origin."""
    parts = []
    for column, origin in (
        (Line.labels, "resource"),
        (Line.system_labels, "system"),
        (Line.project_labels, "project"),
    ):
        parts.append(
            pl.col(column)
            .fill_null([])
            .list.eval(
                pl.struct(
                    pl.element().struct.field("key").alias("key"),
                    pl.element().struct.field("value").fill_null("").alias("value"),
                    pl.lit(origin).alias("origin"),
                )
            )
            .cast(TAGS)
        )
    return pl.concat_list(parts)


def _gpu_sku() -> pl.Expr:
    usable = (pl.col(Line.line) == "cost") & (pl.col(Line.cost_type) == "regular")
    return pl.when(usable).then(gpu_sku_key(pl.col(Line.sku_description)))


def _gpu_facts(mapped: pl.LazyFrame) -> pl.LazyFrame:
    """GPU facts from GPU SKUs (model; count = GPU-seconds / seconds) and from the machine type,
    shared by every usage row of the same instance-hour."""
    instance_hour = [Cost.ResourceId, Cost.ChargePeriodStart, "_on_instance"]
    shared = _with_sku_facts(mapped).with_columns(
        pl.when("_on_instance")
        .then(pl.col(Cost.x_InstanceType).max().over(instance_hour))
        .otherwise(pl.col(Cost.x_InstanceType))
        .alias(Cost.x_InstanceType),
        *[
            pl.when("_on_instance").then(pl.col(src).max().over(instance_hour)).alias(dst)
            for src, dst in (
                ("_sku_model", Cost.x_GpuModel),
                ("_sku_count", Cost.x_GpuCount),
                ("_sku_kind", Cost.x_AcceleratorKind),
            )
        ],
        pl.when(pl.col("_gpu_sku").is_not_null())
        .then(pl.col(Cost.ResourceId))
        .alias(Cost.x_ParentResourceId),
    )
    facts = (Cost.x_GpuModel, Cost.x_GpuCount, Cost.x_AcceleratorKind)
    return (
        attach_gpu_facts(shared)
        .with_columns(pl.when(pl.col("_on_instance")).then(pl.col(f)).alias(f) for f in facts)
        .drop("_gpu_sku", "_sku_model", "_sku_kind", "_sku_count", "_usage_unit", "_on_instance")
    )


def _with_sku_facts(mapped: pl.LazyFrame) -> pl.LazyFrame:
    """Each GPU/TPU SKU row's model and count, and whether a row is the instance's own usage
    (GPU, vCPU, RAM SKUs), as opposed to its disks, egress or credits."""
    per_gpu = (
        gpu_catalog()
        .lazy()
        .filter(pl.col("provider") == PROVIDER)
        .select(
            pl.col("instance_type").alias("_gpu_sku"),
            pl.col("gpu_model").alias("_sku_model"),
            pl.col("accelerator_kind").alias("_sku_kind"),
        )
    )
    seconds = (pl.col(Cost.ChargePeriodEnd) - pl.col(Cost.ChargePeriodStart)).dt.total_seconds()
    count = (
        pl.when(pl.col("_usage_unit") == "seconds")
        .then((pl.col(Cost.ConsumedQuantity) / seconds).round(0))
        .cast(pl.Int32, strict=False)
    )
    on_instance = (
        pl.col(Cost.ResourceId).is_not_null()
        & (pl.col(Cost.ChargeCategory) == "Usage")
        & (pl.col(Cost.ResourceType) == "Compute Engine instance")
        & (pl.col(Cost.ServiceName) == "Compute Engine")
    )
    return mapped.join(per_gpu, on="_gpu_sku", how="left").with_columns(
        pl.when(pl.col("_sku_model").is_not_null()).then(count).alias("_sku_count"),
        on_instance.fill_null(False).alias("_on_instance"),
    )
