"""The canonical tables: the contract between collectors, the engine and the outputs.

Column names are spelled once, in :mod:`gpuledger.columns` (re-exported here); this module
gives them types. Every collector's output passes :func:`validate` before it reaches the store.

Money is ``Decimal(38, 18)``: exact for every source seen (OCI reports 18 decimal places) and wide
enough for any invoice (20 integer digits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from gpuledger.columns import (
    ALLOCATION_SOURCE_KEYS,
    IDLE_MODEL,
    NO_TELEMETRY_MODEL,
    UNALLOCATED,
    UNLABELLED,
    Alloc,
    Cost,
    Quarantine,
    Rec,
    Stmt,
    Tokens,
    Usage,
    Waste,
    WasteHour,
)
from gpuledger.errors import SchemaError

# The column names from gpuledger.columns are part of this module's surface.
__all__ = [
    "ALLOCATION_SCHEMA",
    "ALLOCATION_SOURCE_KEYS",
    "CHARGE_CATEGORIES",
    "COST_SCHEMA",
    "COST_TYPES",
    "DAILY_SPEND_SCHEMA",
    "GPU_USAGE_SCHEMA",
    "IDLE_MODEL",
    "MODEL_TOKENS_SCHEMA",
    "MONEY",
    "NO_TELEMETRY_MODEL",
    "PRICING_CATEGORIES",
    "QUARANTINE_SCHEMA",
    "RECOMMENDATION_SCHEMA",
    "STATEMENT_SCHEMA",
    "STORED_WASTE_SCHEMA",
    "TABLES",
    "TAG",
    "TAGS",
    "UNALLOCATED",
    "UNLABELLED",
    "UTC_TIME",
    "WASTE_HOURLY_SCHEMA",
    "WASTE_MONEY",
    "WASTE_SCHEMA",
    "Alloc",
    "Cost",
    "Daily",
    "Quarantine",
    "Rec",
    "Stmt",
    "TableSpec",
    "Tokens",
    "Usage",
    "Waste",
    "WasteHour",
    "conform",
    "empty",
    "make_schema",
    "validate",
]

MONEY: Final = pl.Decimal(38, 18)
UTC_TIME: Final = pl.Datetime("us", "UTC")
TAG: Final = pl.Struct({"key": pl.String, "value": pl.String, "origin": pl.String})
TAGS: Final = pl.List(TAG)


def make_schema(columns: Mapping[str, Any]) -> pl.Schema:
    """A Polars schema from a column → dtype mapping (dtype classes and instances mixed)."""
    return pl.Schema(columns)


COST_SCHEMA: Final = make_schema(
    {
        Cost.BillingAccountId: pl.String,
        Cost.BillingAccountName: pl.String,
        Cost.SubAccountId: pl.String,
        Cost.SubAccountName: pl.String,
        Cost.BillingPeriodStart: UTC_TIME,
        Cost.BillingPeriodEnd: UTC_TIME,
        Cost.ChargePeriodStart: UTC_TIME,
        Cost.ChargePeriodEnd: UTC_TIME,
        Cost.ChargeCategory: pl.String,
        Cost.ChargeClass: pl.String,
        Cost.ChargeDescription: pl.String,
        Cost.ProviderName: pl.String,
        Cost.ServiceName: pl.String,
        Cost.ServiceCategory: pl.String,
        Cost.RegionId: pl.String,
        Cost.ResourceId: pl.String,
        Cost.ResourceName: pl.String,
        Cost.ResourceType: pl.String,
        Cost.SkuId: pl.String,
        Cost.PricingCategory: pl.String,
        Cost.PricingQuantity: pl.Float64,
        Cost.PricingUnit: pl.String,
        Cost.ConsumedQuantity: pl.Float64,
        Cost.ConsumedUnit: pl.String,
        Cost.BilledCost: MONEY,
        Cost.EffectiveCost: MONEY,
        Cost.ListCost: MONEY,
        Cost.ContractedCost: MONEY,
        Cost.BillingCurrency: pl.String,
        Cost.CommitmentDiscountId: pl.String,
        Cost.CommitmentDiscountType: pl.String,
        Cost.Tags: TAGS,
        Cost.x_BillingPeriod: pl.String,
        Cost.x_InstanceType: pl.String,
        Cost.x_GpuModel: pl.String,
        Cost.x_GpuCount: pl.Int32,
        Cost.x_AcceleratorKind: pl.String,
        Cost.x_ParentResourceId: pl.String,
        Cost.x_K8sNamespace: pl.String,
        Cost.x_K8sPod: pl.String,
        Cost.x_SplitCost: MONEY,
        Cost.x_SplitUnusedCost: MONEY,
        Cost.x_LineItemType: pl.String,
        Cost.x_LineItemId: pl.String,
        Cost.x_CreditType: pl.String,
        Cost.x_InvoiceId: pl.String,
        Cost.x_CurrencyConversionRate: pl.Float64,
        Cost.x_ProviderColumns: pl.String,
        Cost.x_Source: pl.String,
        Cost.x_SourceFile: pl.String,
        Cost.x_SourceRow: pl.Int64,
        Cost.x_IngestId: pl.String,
    }
)

CHARGE_CATEGORIES: Final = frozenset({"Usage", "Purchase", "Tax", "Credit", "Adjustment"})
PRICING_CATEGORIES: Final = frozenset({"Standard", "Dynamic", "Committed", "Other"})


GPU_USAGE_SCHEMA: Final = make_schema(
    {
        Usage.bucket_start: UTC_TIME,
        Usage.bucket_seconds: pl.Int32,
        Usage.host: pl.String,
        Usage.ResourceId: pl.String,
        Usage.gpu_uuid: pl.String,
        Usage.gpu_index: pl.Int32,
        Usage.gpu_model: pl.String,
        Usage.mig_profile: pl.String,
        Usage.parent_gpu_uuid: pl.String,
        Usage.namespace: pl.String,
        Usage.pod: pl.String,
        Usage.container: pl.String,
        Usage.job: pl.String,
        Usage.pid_command: pl.String,
        Usage.team: pl.String,
        Usage.model: pl.String,
        Usage.active_seconds: pl.Float64,
        Usage.sm_util: pl.Float64,
        Usage.mem_used_bytes: pl.Int64,
        Usage.mem_total_bytes: pl.Int64,
        Usage.power_w: pl.Float64,
        Usage.samples: pl.Int32,
        Usage.util_method: pl.String,
        Usage.source: pl.String,
        Usage.x_BillingPeriod: pl.String,
    }
)


MODEL_TOKENS_SCHEMA: Final = make_schema(
    {
        Tokens.bucket_start: UTC_TIME,
        Tokens.bucket_seconds: pl.Int32,
        Tokens.host: pl.String,
        Tokens.namespace: pl.String,
        Tokens.pod: pl.String,
        Tokens.model: pl.String,
        Tokens.team: pl.String,
        Tokens.prompt_tokens: pl.Int64,
        Tokens.generation_tokens: pl.Int64,
        Tokens.source: pl.String,
    }
)


ALLOCATION_SCHEMA: Final = make_schema(
    {
        Alloc.x_BillingPeriod: pl.String,
        Alloc.BillingPeriodStart: UTC_TIME,
        Alloc.day: pl.Date,
        Alloc.ProviderName: pl.String,
        Alloc.BillingAccountId: pl.String,
        Alloc.SubAccountId: pl.String,
        Alloc.ResourceId: pl.String,
        Alloc.x_GpuModel: pl.String,
        Alloc.ServiceName: pl.String,
        Alloc.ChargeCategory: pl.String,
        Alloc.PricingCategory: pl.String,
        Alloc.team: pl.String,
        Alloc.model: pl.String,
        Alloc.workload: pl.String,
        Alloc.cost_type: pl.String,
        Alloc.gpu_hours: pl.Float64,
        Alloc.cost: MONEY,
        Alloc.currency: pl.String,
        Alloc.rule: pl.String,
    }
)

COST_TYPES: Final = frozenset(
    {
        "usage",
        "idle",
        "no_telemetry",
        "shared",
        "unallocated",
        "credit",
        "tax",
        "commitment",
        "adjustment",
    }
)


STATEMENT_SCHEMA: Final = make_schema(
    {
        Stmt.period: pl.String,
        Stmt.team: pl.String,
        Stmt.model: pl.String,
        Stmt.gpu_model: pl.String,
        Stmt.cost_type: pl.String,
        Stmt.corrects_period: pl.String,
        Stmt.gpu_hours: pl.Float64,
        Stmt.cost: pl.Decimal(38, 2),
        Stmt.currency: pl.String,
        Stmt.closed_at: UTC_TIME,
        Stmt.content_hash: pl.String,
    }
)


RECOMMENDATION_SCHEMA: Final = make_schema(
    {
        Rec.period: pl.String,
        Rec.id: pl.String,
        Rec.kind: pl.String,
        Rec.team: pl.String,
        Rec.model: pl.String,
        Rec.resource_ids: pl.List(pl.String),
        Rec.evidence: pl.String,
        Rec.monthly_cost: pl.Decimal(38, 2),
        Rec.monthly_saving: pl.Decimal(38, 2),
        Rec.currency: pl.String,
        Rec.confidence: pl.String,
        Rec.action: pl.String,
    }
)


WASTE_MONEY: Final = pl.Decimal(38, 2)
WASTE_SCHEMA: Final = pl.Schema(
    {  # the engine's waste frame; dtype instances throughout, so the mapping has one value type
        Waste.team: pl.String(),
        Waste.model: pl.String(),
        Waste.workload: pl.String(),
        Waste.ResourceId: pl.String(),
        Waste.gpu_model: pl.String(),
        Waste.gpu_hours: pl.Float64(),
        Waste.idle_gpu_hours: pl.Float64(),
        Waste.used_gpu_hours: pl.Float64(),
        Waste.unused_gpu_hours: pl.Float64(),
        Waste.mem_peak_gib: pl.Float64(),
        Waste.mem_p95_gib: pl.Float64(),
        Waste.mem_capacity_gib: pl.Float64(),
        Waste.gpu_hour_price: pl.Decimal(38, 6),
        Waste.cost: WASTE_MONEY,
        Waste.idle_cost: WASTE_MONEY,
        Waste.unused_cost: WASTE_MONEY,
        Waste.waste_cost: WASTE_MONEY,
        Waste.currency: pl.String(),
    }
)
STORED_WASTE_SCHEMA: Final = make_schema(
    {Waste.period: pl.String, **WASTE_SCHEMA, Waste.inputs: pl.String}
)


WASTE_HOURLY_SCHEMA: Final = make_schema(
    {
        WasteHour.period: pl.String,
        WasteHour.team: pl.String,
        WasteHour.gpu: pl.String,
        WasteHour.gpu_model: pl.String,
        WasteHour.hour: UTC_TIME,
        WasteHour.held_hours: pl.Float64,
        WasteHour.busy_hours: pl.Float64,
        WasteHour.inputs: pl.String,
    }
)


QUARANTINE_SCHEMA: Final = make_schema(
    {
        Quarantine.x_Source: pl.String,
        Quarantine.x_BillingPeriod: pl.String,
        Quarantine.BillingAccountId: pl.String,
        Quarantine.file: pl.String,
        Quarantine.row: pl.Int64,
        Quarantine.column: pl.String,
        Quarantine.reason: pl.String,
        Quarantine.raw: pl.String,
        Quarantine.cost: MONEY,
        Quarantine.currency: pl.String,
        Quarantine.x_IngestId: pl.String,
    }
)


class Daily:
    """Columns of ``daily_spend``: one day's spend of one series (team, model, GPU model or
    instance) in the reporting currency, from the allocation."""

    period = "period"  # "YYYY-MM" of the allocation the day belongs to: the partition key
    day = "day"
    dimension = "dimension"  # team | model | gpu | instance
    key = "key"  # the series' value on its dimension
    team = "team"  # the team of a team, model or instance series; null on a GPU series
    cost = "cost"  # every charge of the day: the series of a month add up to its allocation
    usage_cost = "usage_cost"  # the part that accrues with days of use, what anomalies watch
    currency = "currency"
    inputs = "inputs"  # the allocation version and settings the rows were computed from


DAILY_SPEND_SCHEMA: Final = make_schema(
    {
        Daily.period: pl.String,
        Daily.day: pl.Date,
        Daily.dimension: pl.String,
        Daily.key: pl.String,
        Daily.team: pl.String,
        Daily.cost: pl.Decimal(38, 9),
        Daily.usage_cost: pl.Decimal(38, 9),
        Daily.currency: pl.String,
        Daily.inputs: pl.String,
    }
)


@dataclass(frozen=True)
class TableSpec:
    """A canonical table: its schema, how it is partitioned, and the columns it may not miss."""

    name: str
    schema: pl.Schema
    partition_by: tuple[str, ...]
    required: frozenset[str]


TABLES: Final[Mapping[str, TableSpec]] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "cost",
            COST_SCHEMA,
            (Cost.x_Source, Cost.x_BillingPeriod),
            frozenset(
                {
                    Cost.BillingAccountId,
                    Cost.BillingPeriodStart,
                    Cost.BillingPeriodEnd,
                    Cost.ChargePeriodStart,
                    Cost.ChargePeriodEnd,
                    Cost.ChargeCategory,
                    Cost.ProviderName,
                    Cost.BilledCost,
                    Cost.EffectiveCost,
                    Cost.BillingCurrency,
                    Cost.x_BillingPeriod,
                    Cost.x_Source,
                }
            ),
        ),
        TableSpec(
            "gpu_usage",
            GPU_USAGE_SCHEMA,
            # Not by host: a 5-minute ingest of a fleet would write a file per host. Buckets are
            # replaced by predicate; per-file bucket_start statistics find the files to rewrite.
            (Usage.source, Usage.x_BillingPeriod),
            frozenset(
                {
                    Usage.bucket_start,
                    Usage.bucket_seconds,
                    Usage.gpu_uuid,
                    Usage.active_seconds,
                    Usage.samples,
                }
            ),
        ),
        TableSpec("model_tokens", MODEL_TOKENS_SCHEMA, (), frozenset({Tokens.bucket_start})),
        TableSpec(
            "allocation",
            ALLOCATION_SCHEMA,
            (Alloc.x_BillingPeriod,),
            frozenset({Alloc.x_BillingPeriod, Alloc.team, Alloc.cost, Alloc.currency, Alloc.rule}),
        ),
        TableSpec(
            "statement",
            STATEMENT_SCHEMA,
            (Stmt.period,),
            frozenset({Stmt.period, Stmt.team, Stmt.cost, Stmt.currency}),
        ),
        TableSpec(
            "recommendation",
            RECOMMENDATION_SCHEMA,
            (Rec.period,),
            frozenset({Rec.period, Rec.id, Rec.kind, Rec.monthly_saving}),
        ),
        TableSpec(
            "waste",
            STORED_WASTE_SCHEMA,
            (Waste.period,),
            frozenset({Waste.period, Waste.inputs}),
        ),
        TableSpec(
            "waste_hourly",
            WASTE_HOURLY_SCHEMA,
            (WasteHour.period,),
            frozenset({WasteHour.period, WasteHour.inputs}),
        ),
        TableSpec(
            "daily_spend",
            DAILY_SPEND_SCHEMA,
            (Daily.period,),
            frozenset({Daily.period, Daily.day, Daily.dimension, Daily.key, Daily.inputs}),
        ),
        TableSpec(
            "quarantine",
            QUARANTINE_SCHEMA,
            (Quarantine.x_Source,),
            frozenset({Quarantine.x_Source, Quarantine.reason}),
        ),
    )
}


def empty(table: str) -> pl.DataFrame:
    """An empty frame of a canonical table, for reads of a table that does not exist yet."""
    return pl.DataFrame(schema=TABLES[table].schema)


def conform(frame: pl.LazyFrame, table: str, *, source: str = "") -> pl.LazyFrame:
    """Add the table's missing optional columns as nulls and order columns as the schema does.

    Required columns are never invented: :func:`validate` reports them missing instead.
    """
    spec = TABLES[table]
    present = set(frame.collect_schema().names())
    missing_required = sorted(spec.required - present)
    if missing_required:
        where = f"{source}: " if source else ""
        raise SchemaError(
            f"{where}{table}: missing required column(s) {', '.join(missing_required)}",
            expected=f"the columns of the {table} table",
        )
    return frame.select(
        [
            pl.col(name) if name in present else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in spec.schema.items()
        ]
    )


def validate(
    frame: pl.DataFrame, table: str, *, source: str = "", row_offset: int = 0
) -> pl.DataFrame:
    """Check a frame against a canonical table and return it with the schema's exact dtypes.

    Raises :class:`SchemaError` naming the column and what was expected for a missing required
    column, an unknown column, a dtype that cannot be cast losslessly, a null in a required
    column, a negative duration, or a category outside the allowed values.
    """
    spec = TABLES[table]
    where = f"{source}: " if source else ""
    unknown = sorted(set(frame.columns) - set(spec.schema.names()))
    if unknown:
        raise SchemaError(
            f"{where}{table}: unknown column(s) {', '.join(unknown)}",
            expected=f"only the columns of the {table} table",
        )
    frame = conform(frame.lazy(), table, source=source).collect()
    for name, dtype in spec.schema.items():
        actual = frame.schema[name]
        if actual == dtype:
            continue
        try:
            frame = frame.with_columns(pl.col(name).cast(dtype, strict=True))
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            raise SchemaError(
                f"{where}{table}: column {name!r} has type {actual}",
                column=name,
                expected=str(dtype),
            ) from exc
    for name in sorted(spec.required):
        nulls = frame.get_column(name).null_count()
        if nulls:
            first = frame.with_row_index("_row", offset=row_offset).filter(pl.col(name).is_null())[
                "_row"
            ][0]
            raise SchemaError(
                f"{where}{table}: {nulls} null value(s) in required column {name!r}",
                row=int(first),
                column=name,
                expected="a value in every row",
            )
    _check_domain(frame, table, where, row_offset)
    return frame


def _check_domain(frame: pl.DataFrame, table: str, where: str, row_offset: int) -> None:
    """Value rules that types cannot express."""
    if table == "cost":
        _check_allowed(frame, Cost.ChargeCategory, CHARGE_CATEGORIES, table, where, row_offset)
        _check_allowed(frame, Cost.PricingCategory, PRICING_CATEGORIES, table, where, row_offset)
        _check_not_before(
            frame, Cost.ChargePeriodEnd, Cost.ChargePeriodStart, table, where, row_offset
        )
        _check_not_before(
            frame, Cost.BillingPeriodEnd, Cost.BillingPeriodStart, table, where, row_offset
        )
    elif table == "gpu_usage":
        bad = frame.with_row_index("_row", offset=row_offset).filter(
            (pl.col(Usage.bucket_seconds) <= 0)
            | (pl.col(Usage.active_seconds) < 0)
            | (pl.col(Usage.active_seconds) > pl.col(Usage.bucket_seconds))
            | ~pl.col(Usage.sm_util).is_between(0, 100).fill_null(True)
        )
        if bad.height:
            raise SchemaError(
                f"{where}{table}: {bad.height} row(s) with impossible durations or utilization",
                row=int(bad["_row"][0]),
                expected="0 < bucket_seconds, 0 <= active_seconds <= bucket_seconds, "
                "0 <= sm_util <= 100",
            )
    elif table == "allocation":
        _check_allowed(frame, Alloc.cost_type, COST_TYPES, table, where, row_offset)


def _check_allowed(
    frame: pl.DataFrame,
    column: str,
    allowed: frozenset[str],
    table: str,
    where: str,
    row_offset: int,
) -> None:
    bad = frame.with_row_index("_row", offset=row_offset).filter(
        pl.col(column).is_not_null() & ~pl.col(column).is_in(sorted(allowed))
    )
    if bad.height:
        raise SchemaError(
            f"{where}{table}: value {bad[column][0]!r} in column {column!r}",
            row=int(bad["_row"][0]),
            column=column,
            expected="one of " + ", ".join(sorted(allowed)),
        )


def _check_not_before(
    frame: pl.DataFrame, end: str, start: str, table: str, where: str, row_offset: int
) -> None:
    bad = frame.with_row_index("_row", offset=row_offset).filter(pl.col(end) < pl.col(start))
    if bad.height:
        raise SchemaError(
            f"{where}{table}: {end} before {start} (negative duration)",
            row=int(bad["_row"][0]),
            column=end,
            expected=f"{end} >= {start}",
        )
