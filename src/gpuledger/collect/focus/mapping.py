"""FOCUS 1.0 / 1.1 / 1.2 rows → the ``cost`` table (FOCUS 1.2 columns): a pure mapping.

Part of ``collect/focus`` (and reusable by any collector whose source is a FOCUS export, such as
AWS's FOCUS export). :func:`parse_focus` maps every row and says, per row, why it cannot be
stored (``_reason``, ``_column``); :func:`focus_to_cost` keeps only the rows that can.

Money columns keep the source's exact decimal value, so the stored sums equal the file's sums.
FOCUS columns the ``cost`` table has are copied under their own name; the provider's ``x_``
columns are kept verbatim, as one JSON object, in ``x_ProviderColumns``. GPU facts come from the
row itself where it has them (``x_InstanceType``/``x_GpuCount`` columns, ``SkuPriceDetails``
keys ``InstanceType``/``GpuCount``, Azure's ``x_SkuDetails.ServiceType``), else from the catalog.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.focus.spec import ALLOWED_VALUES, NOT_NULL, PREVIEW_RENAMES
from gpuledger.collect.quarantine import COLUMN, RAW, REASON, quarantine_rows
from gpuledger.collect.values import (
    AMOUNT_LIMIT,
    TIME_FORMS,
    beyond_amount_range,
    canonical_value,
    json_field,
    money,
    not_finite,
    on_distinct,
    on_distinct_rows,
    quantity,
    tags_from_json,
    utc_time,
)
from gpuledger.prices.catalog import gpu_catalog, normalize_instance_type
from gpuledger.schema import QUARANTINE_SCHEMA, TAGS, Cost

_TIMES: Final = (
    Cost.BillingPeriodStart,
    Cost.BillingPeriodEnd,
    Cost.ChargePeriodStart,
    Cost.ChargePeriodEnd,
)
_MONEY: Final = (Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost)
_QUANTITIES: Final = (Cost.PricingQuantity, Cost.ConsumedQuantity)
_TYPED: Final = frozenset({*_TIMES, *_MONEY, *_QUANTITIES})
_TEXT: Final = (
    Cost.BillingAccountId,
    Cost.BillingAccountName,
    Cost.SubAccountId,
    Cost.SubAccountName,
    Cost.ChargeDescription,
    Cost.ProviderName,
    Cost.ServiceName,
    Cost.RegionId,
    Cost.ResourceId,
    Cost.ResourceName,
    Cost.ResourceType,
    Cost.SkuId,
    Cost.PricingUnit,
    Cost.ConsumedUnit,
    Cost.BillingCurrency,
    Cost.CommitmentDiscountId,
    Cost.CommitmentDiscountType,
)
_STORED_ENUMS: Final = (
    Cost.ChargeCategory,
    Cost.ChargeClass,
    Cost.PricingCategory,
    Cost.ServiceCategory,
)

NOT_FINITE: Final = "not a finite number (NaN or infinity)"
_EC2_TYPE_IN_TEXT: Final = r"\b((?:ml\.)?[a-z][a-z0-9-]*\d[a-z0-9-]*\.(?:\d*x?large|metal))\b"

# FOCUS ProviderName spellings → the provider names the GPU catalog uses.
_CATALOG_PROVIDERS: Final = {
    "aws": "AWS",
    "amazon web services": "AWS",
    "microsoft": "Microsoft",
    "microsoft azure": "Microsoft",
    "azure": "Microsoft",
    "gcp": "GCP",
    "google": "GCP",
    "google cloud": "GCP",
}


def parse_focus(raw: pl.LazyFrame, first_row: int = 1) -> pl.LazyFrame:
    """Every row of a FOCUS file in ``cost`` columns, with ``_reason``/``_column`` set on the rows
    that cannot be stored (null on a sound row); ``x_SourceRow`` numbers the rows from
    ``first_row`` (1, or the file row a slice of the file starts at).

    ``raw`` holds the file's own columns, as text (CSV) or typed (Parquet); the header has been
    checked with :func:`~gpuledger.collect.focus.spec.check_header`. Every expression is
    row-wise, so the result streams and slices like the file itself.
    """
    raw = renamed(raw)
    schema = raw.collect_schema()
    src = raw.with_row_index(Cost.x_SourceRow, offset=first_row).with_columns(
        _source_text(name, dtype).alias(f"_text_{name}") for name, dtype in schema.items()
    )
    parsed = src.with_columns(_parsed_columns(schema))
    return parsed.with_columns(_problems(schema)).select(*_output_columns(), REASON, COLUMN)


def renamed(raw: pl.LazyFrame) -> pl.LazyFrame:
    """The file's columns with FOCUS 1.0-preview names renamed to their 1.0 names."""
    schema = raw.collect_schema()
    return raw.rename({old: new for old, new in PREVIEW_RENAMES.items() if old in schema})


def source_rows_as_json(raw: pl.LazyFrame, rows: pl.Series) -> pl.DataFrame:
    """``x_SourceRow`` and ``_raw`` (the source row as JSON) of the given rows of a FOCUS file.

    Only refused rows are encoded: the quarantine shows them as the file had them.
    """
    return (
        numbered(raw)
        .filter(pl.col(Cost.x_SourceRow).is_in(rows.cast(pl.UInt32).implode()))
        .select(
            pl.col(Cost.x_SourceRow).cast(pl.Int64),
            pl.struct(pl.exclude(Cost.x_SourceRow)).struct.json_encode().alias(RAW),
        )
        .collect()
    )


def quarantine_with_source(refused: pl.DataFrame, raw: pl.LazyFrame, uri: str) -> pl.DataFrame:
    """Quarantine rows of one file's refused rows, each with the source row as JSON."""
    if refused.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    rows = refused.get_column(Cost.x_SourceRow)
    with_raw = refused.with_columns(pl.col(Cost.x_SourceRow).cast(pl.Int64)).join(
        source_rows_as_json(raw, rows), on=Cost.x_SourceRow, how="left", maintain_order="left"
    )
    return quarantine_rows(with_raw, uri)


def numbered(raw: pl.LazyFrame) -> pl.LazyFrame:
    """The file's rows with ``x_SourceRow``, their 1-based position in the file."""
    return renamed(raw).with_row_index(Cost.x_SourceRow, offset=1)


def focus_to_cost(raw: pl.LazyFrame) -> pl.LazyFrame:
    """The storable rows of a FOCUS file as ``cost`` rows (see :func:`parse_focus`)."""
    return with_gpu_facts(parse_focus(raw).filter(pl.col(REASON).is_null()).drop(REASON, COLUMN))


def _source_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A cell as the file has it: stripped text, or the typed value itself for a typed time,
    money or quantity column (turning millions of those into text would only be thrown away)."""
    if dtype == pl.String:
        return pl.col(name).str.strip_chars()
    if name in _TYPED and dtype != pl.Null:
        return pl.col(name)
    return pl.col(name).cast(pl.String).str.strip_chars()


def _present(schema: pl.Schema, name: str) -> pl.Expr:
    return pl.col(name) if name in schema else pl.lit(None, dtype=pl.String)


def _text(schema: pl.Schema, name: str) -> pl.Expr:
    """A text column with blank cells as null; null when the file lacks the column."""
    if name not in schema:
        return pl.lit(None, dtype=pl.String)
    return pl.col(f"_text_{name}").replace("", None)


def _parsed_columns(schema: pl.Schema) -> list[pl.Expr]:
    exprs = [_text(schema, name).alias(name) for name in _TEXT]
    exprs += [
        utc_time(name, schema[name]).alias(name) if name in schema else _null_time(name)
        for name in _TIMES
    ]
    exprs += [
        money(name, schema[name]).alias(name)
        if name in schema
        else pl.lit(None, dtype=pl.Decimal(38, 18)).alias(name)
        for name in _MONEY
    ]
    exprs += [
        quantity(name, schema[name]).alias(name)
        if name in schema
        else pl.lit(None, dtype=pl.Float64).alias(name)
        for name in _QUANTITIES
    ]
    exprs += [
        canonical_value(name, ALLOWED_VALUES[name]).alias(name)
        if name in schema
        else pl.lit(None, dtype=pl.String).alias(name)
        for name in _STORED_ENUMS
    ]
    exprs += [
        pl.coalesce(_text(schema, "InvoiceId"), _text(schema, "x_InvoiceId")).alias(
            Cost.x_InvoiceId
        ),
        _instance_type(schema).alias(Cost.x_InstanceType),
        _gpu_count(schema).alias(Cost.x_GpuCount),
        _text(schema, Cost.x_GpuModel).alias(Cost.x_GpuModel),
        _provider_columns(schema).alias(Cost.x_ProviderColumns),
        tags_from_json("_text_Tags", "resource").alias(Cost.Tags)
        if "Tags" in schema
        else pl.lit([], dtype=TAGS).alias(Cost.Tags),
    ]
    return exprs


def _null_time(name: str) -> pl.Expr:
    return pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias(name)


def _instance_type(schema: pl.Schema) -> pl.Expr:
    candidates = [_text(schema, Cost.x_InstanceType)]
    if "SkuPriceDetails" in schema:
        candidates.append(json_field("_text_SkuPriceDetails", "InstanceType"))
    if "x_SkuDetails" in schema:
        candidates.append(json_field("_text_x_SkuDetails", "ServiceType"))
    # FOCUS 1.0 has no instance-type column; AWS names the type in the charge description
    # ("$1.624 per On Demand Linux g5.4xlarge Instance Hour").
    if Cost.ChargeDescription in schema:
        candidates.append(
            on_distinct(
                f"_text_{Cost.ChargeDescription}",
                lambda text: text.str.extract(_EC2_TYPE_IN_TEXT, 1),
                pl.String(),
            )
        )
    return pl.coalesce(candidates)


def _gpu_count(schema: pl.Schema) -> pl.Expr:
    candidates = [_text(schema, Cost.x_GpuCount)]
    if "SkuPriceDetails" in schema:
        candidates.append(json_field("_text_SkuPriceDetails", "GpuCount"))
    return pl.coalesce(candidates).cast(pl.Float64, strict=False).cast(pl.Int32, strict=False)


def _provider_columns(schema: pl.Schema) -> pl.Expr:
    """The file's own ``x_`` columns as one JSON object, encoded once per distinct set of them."""
    own = [n for n in schema.names() if n.startswith("x_")]
    if not own:
        return pl.lit(None, dtype=pl.String)
    return on_distinct_rows(
        [f"_text_{name}" for name in own],
        pl.struct([_text(schema, name).alias(name) for name in own]).struct.json_encode(),
        pl.String(),
    )


def _problems(schema: pl.Schema) -> list[pl.Expr]:
    """``_reason`` and ``_column`` of the first problem of each row, null on a sound row."""
    # A value that is there but unreadable is named before a value that is missing.
    checks: list[tuple[pl.Expr, str, str]] = []
    for name in _MONEY:
        if name in schema:
            source = pl.col(f"_text_{name}")
            checks.append((not_finite(source, schema[name]), name, f"{name} is {NOT_FINITE}"))
            checks.append(
                (
                    beyond_amount_range(source, schema[name], pl.col(name)),
                    name,
                    f"{name} is beyond the range of an amount (±{AMOUNT_LIMIT})",
                )
            )
    for name in _QUANTITIES:
        if name in schema:
            value = pl.col(name)
            checks.append((~value.is_finite(), name, f"{name} is {NOT_FINITE}"))
            if schema[name] in (pl.String, pl.Null):
                checks.append(
                    (_unread(pl.col(f"_text_{name}"), value), name, f"{name} is not a number")
                )
    for name in (*_TIMES, *_MONEY):
        if name in schema:
            what = f"a timestamp (expected {TIME_FORMS})" if name in _TIMES else "a decimal number"
            source = pl.col(f"_text_{name}")
            bad = (
                _unread(source, pl.col(name))
                if schema[name] in (pl.String, pl.Null)
                else source.is_not_null() & pl.col(name).is_null()
            )
            checks.append((bad, name, f"{name} is not {what}"))
    for name, allowed in ALLOWED_VALUES.items():
        if name in schema:
            # A stored enumeration is already parsed under its own name; the others only here.
            value = pl.col(name) if name in _STORED_ENUMS else canonical_value(name, allowed)
            bad = _unread(pl.col(f"_text_{name}"), value)
            checks.append((bad, name, f"{name} is not one of {', '.join(allowed)}"))
    for name in NOT_NULL:
        checks.append((pl.col(name).is_null(), name, f"{name} is empty"))
    checks += [
        (
            ~pl.col(Cost.BillingCurrency).str.contains(r"^[A-Z]{3}$"),
            Cost.BillingCurrency,
            "BillingCurrency is not an ISO 4217 code",
        ),
        (
            pl.col(Cost.ChargePeriodEnd) < pl.col(Cost.ChargePeriodStart),
            Cost.ChargePeriodEnd,
            "ChargePeriodEnd is before ChargePeriodStart",
        ),
        (
            pl.col(Cost.BillingPeriodEnd) < pl.col(Cost.BillingPeriodStart),
            Cost.BillingPeriodEnd,
            "BillingPeriodEnd is before BillingPeriodStart",
        ),
    ]
    if "Tags" in schema:
        checks.append((pl.col(Cost.Tags).is_null(), Cost.Tags, "Tags is not a JSON object"))
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    column: pl.Expr = pl.lit(None, dtype=pl.String)
    for condition, name, text in reversed(checks):
        hit = condition.fill_null(False)
        reason = pl.when(hit).then(pl.lit(text)).otherwise(reason)
        column = pl.when(hit).then(pl.lit(name)).otherwise(column)
    return [reason.alias(REASON), column.alias(COLUMN)]


def _unread(text: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    """True where a ``_text_`` cell (text, already stripped) had a value parsing made null."""
    return text.is_not_null() & (text != "") & parsed.is_null()


def _output_columns() -> list[str]:
    return [
        *_TEXT,
        *_TIMES,
        *_MONEY,
        *_QUANTITIES,
        *_STORED_ENUMS,
        Cost.Tags,
        Cost.x_InvoiceId,
        Cost.x_InstanceType,
        Cost.x_GpuCount,
        Cost.x_GpuModel,
        Cost.x_ProviderColumns,
        Cost.x_SourceRow,
    ]


def with_gpu_facts(costs: pl.LazyFrame) -> pl.LazyFrame:
    """Fill ``x_GpuModel``, ``x_GpuCount``, ``x_AcceleratorKind`` from the GPU catalog.

    Matches on (``ProviderName`` as the catalog spells it, ``x_InstanceType`` without SageMaker's
    ``ml.`` prefix); values the row already has win. Looked up once per distinct pair of each
    batch and mapped back row-wise, so the rows keep their order and stream.
    """
    facts = pl.col(_FACTS)
    return (
        costs.with_columns(
            on_distinct_rows(
                [Cost.ProviderName, Cost.x_InstanceType], _catalog_lookup(), _FACTS_TYPE
            ).alias(_FACTS)
        )
        .with_columns(
            pl.coalesce(Cost.x_GpuModel, facts.struct.field("gpu_model")).alias(Cost.x_GpuModel),
            pl.coalesce(
                pl.col(Cost.x_GpuCount).cast(pl.Int32), facts.struct.field("gpu_count")
            ).alias(Cost.x_GpuCount),
            facts.struct.field("accelerator_kind").alias(Cost.x_AcceleratorKind),
        )
        .drop(_FACTS)
    )


_FACTS: Final = "_catalog_facts"
_FACTS_TYPE: Final = pl.Struct(
    {"gpu_model": pl.String, "gpu_count": pl.Int32, "accelerator_kind": pl.String}
)


def _catalog_lookup() -> pl.Expr:
    """GPU facts of the catalog entry keyed by (provider, instance type); null fields if none."""
    provider = (
        pl.col(Cost.ProviderName)
        .str.to_lowercase()
        .replace_strict(_CATALOG_PROVIDERS, default=pl.col(Cost.ProviderName))
    )
    key = pl.concat_str(
        provider, normalize_instance_type(pl.col(Cost.x_InstanceType)), separator="|"
    )
    catalog = gpu_catalog().select(
        pl.concat_str("provider", "instance_type", separator="|").alias("key"),
        "gpu_model",
        "gpu_count",
        "accelerator_kind",
    )
    keys = catalog.get_column("key")

    def looked_up(column: str) -> pl.Expr:
        dtype = _FACTS_TYPE.to_schema()[column]
        return key.replace_strict(
            keys, catalog.get_column(column), default=None, return_dtype=dtype
        ).alias(column)

    return pl.struct(looked_up(name) for name in _FACTS_TYPE.to_schema())
