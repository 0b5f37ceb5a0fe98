"""Column names of the canonical tables, spelled once: FOCUS 1.2 names verbatim, ``x_`` for ours.

Names only, no types and no dataframe library, so that the GPU agent can use them; the types and
validation live in :mod:`gpuledger.schema`, which re-exports these names.
"""

from __future__ import annotations

from typing import Final

UNLABELLED: Final = "(unlabelled)"
IDLE_MODEL: Final = "(idle)"
NO_TELEMETRY_MODEL: Final = "(no telemetry)"  # hours a reporting instance sent no telemetry
UNALLOCATED: Final = "(unallocated)"


class Cost:
    """Columns of ``cost``: one row per billing line item (FOCUS 1.2 names, ``x_`` extensions)."""

    BillingAccountId = "BillingAccountId"
    BillingAccountName = "BillingAccountName"
    SubAccountId = "SubAccountId"
    SubAccountName = "SubAccountName"
    BillingPeriodStart = "BillingPeriodStart"
    BillingPeriodEnd = "BillingPeriodEnd"
    ChargePeriodStart = "ChargePeriodStart"
    ChargePeriodEnd = "ChargePeriodEnd"
    ChargeCategory = "ChargeCategory"
    ChargeClass = "ChargeClass"
    ChargeDescription = "ChargeDescription"
    ProviderName = "ProviderName"
    ServiceName = "ServiceName"
    ServiceCategory = "ServiceCategory"
    RegionId = "RegionId"
    ResourceId = "ResourceId"
    ResourceName = "ResourceName"
    ResourceType = "ResourceType"
    SkuId = "SkuId"
    PricingCategory = "PricingCategory"
    PricingQuantity = "PricingQuantity"
    PricingUnit = "PricingUnit"
    ConsumedQuantity = "ConsumedQuantity"
    ConsumedUnit = "ConsumedUnit"
    BilledCost = "BilledCost"
    EffectiveCost = "EffectiveCost"
    ListCost = "ListCost"
    ContractedCost = "ContractedCost"
    BillingCurrency = "BillingCurrency"
    CommitmentDiscountId = "CommitmentDiscountId"
    CommitmentDiscountType = "CommitmentDiscountType"
    Tags = "Tags"
    # extensions
    x_BillingPeriod = "x_BillingPeriod"  # "YYYY-MM" of BillingPeriodStart: the partition key
    x_InstanceType = "x_InstanceType"
    x_GpuModel = "x_GpuModel"
    x_GpuCount = "x_GpuCount"
    x_AcceleratorKind = "x_AcceleratorKind"  # gpu | trainium | inferentia | tpu
    x_ParentResourceId = "x_ParentResourceId"  # the instance a split line (pod, GPU SKU) belongs to
    x_K8sNamespace = "x_K8sNamespace"
    x_K8sPod = "x_K8sPod"
    x_SplitCost = "x_SplitCost"  # EKS split cost allocation: the pod's share of its parent
    x_SplitUnusedCost = "x_SplitUnusedCost"  # and its share of the parent's unused capacity
    x_LineItemType = "x_LineItemType"  # the provider's own charge type, kept for audit
    x_LineItemId = "x_LineItemId"  # the provider's own line id, where it has one
    x_CreditType = "x_CreditType"
    x_InvoiceId = "x_InvoiceId"  # set once the provider has invoiced the period
    x_CurrencyConversionRate = "x_CurrencyConversionRate"
    x_ProviderColumns = "x_ProviderColumns"  # the source's own x_ columns, as a JSON object
    x_Source = "x_Source"  # collector: aws | gcp | focus
    x_SourceFile = "x_SourceFile"
    x_SourceRow = "x_SourceRow"
    x_IngestId = "x_IngestId"


class Usage:
    """Columns of ``gpu_usage``: one row per (bucket, GPU, workload); a null workload is idle."""

    bucket_start = "bucket_start"
    bucket_seconds = "bucket_seconds"
    host = "host"
    ResourceId = "ResourceId"
    gpu_uuid = "gpu_uuid"
    gpu_index = "gpu_index"
    gpu_model = "gpu_model"
    mig_profile = "mig_profile"  # e.g. "3g.40gb"; null on a whole GPU
    parent_gpu_uuid = "parent_gpu_uuid"  # the physical GPU of a MIG instance
    namespace = "namespace"
    pod = "pod"
    container = "container"
    job = "job"
    pid_command = "pid_command"
    team = "team"
    model = "model"
    # Rows of one (bucket, GPU, workload) combine by adding activity: active_seconds summed
    # (capped at bucket_seconds); sm_util so that active_seconds x sm_util is the sum of the
    # parts' products (capped at bucket_seconds x 100). See collect.gpu.combine.
    active_seconds = "active_seconds"
    sm_util = "sm_util"  # 0-100, mean over the active seconds
    mem_used_bytes = "mem_used_bytes"  # peak in the bucket
    mem_total_bytes = "mem_total_bytes"
    power_w = "power_w"
    samples = "samples"
    util_method = "util_method"  # process | memory_share | device: how sm_util was split
    source = "source"  # agent | dcgm | file
    x_BillingPeriod = "x_BillingPeriod"  # "YYYY-MM" of bucket_start: the partition key


class Tokens:
    """Columns of ``model_tokens``: inference token counts per bucket and model."""

    bucket_start = "bucket_start"
    bucket_seconds = "bucket_seconds"
    host = "host"
    namespace = "namespace"
    pod = "pod"
    model = "model"
    team = "team"
    prompt_tokens = "prompt_tokens"
    generation_tokens = "generation_tokens"
    source = "source"


class Alloc:
    """Columns of ``allocation``: who pays for each dollar, and the rule that put it there."""

    x_BillingPeriod = "x_BillingPeriod"
    BillingPeriodStart = "BillingPeriodStart"
    day = "day"
    ProviderName = "ProviderName"
    BillingAccountId = "BillingAccountId"
    SubAccountId = "SubAccountId"
    ResourceId = "ResourceId"
    x_GpuModel = "x_GpuModel"
    ServiceName = "ServiceName"
    ChargeCategory = "ChargeCategory"
    PricingCategory = "PricingCategory"
    team = "team"
    model = "model"
    workload = "workload"
    # usage | idle | no_telemetry | shared | unallocated | credit | tax | commitment | adjustment
    cost_type = "cost_type"
    gpu_hours = "gpu_hours"
    cost = "cost"
    currency = "currency"
    rule = "rule"


# What names the cost rows an allocation row came from, within its period.
ALLOCATION_SOURCE_KEYS: Final = (
    Alloc.day,
    Alloc.ProviderName,
    Alloc.BillingAccountId,
    Alloc.SubAccountId,
    Alloc.ResourceId,
    Alloc.x_GpuModel,
    Alloc.ServiceName,
    Alloc.ChargeCategory,
    Alloc.PricingCategory,
    Alloc.currency,
)


class Stmt:
    """Columns of ``statement``: the stored lines of a closed month, per team."""

    period = "period"
    team = "team"
    model = "model"
    gpu_model = "gpu_model"
    cost_type = "cost_type"
    corrects_period = "corrects_period"  # set on adjustment lines: the closed month they correct
    gpu_hours = "gpu_hours"
    cost = "cost"
    currency = "currency"
    closed_at = "closed_at"
    content_hash = "content_hash"


class Rec:
    """Columns of ``recommendation``: one finding with its evidence and saving."""

    period = "period"
    id = "id"
    kind = "kind"  # spot | rightsize | distill | idle | commit
    team = "team"
    model = "model"
    resource_ids = "resource_ids"
    evidence = "evidence"  # JSON text
    monthly_cost = "monthly_cost"
    monthly_saving = "monthly_saving"
    currency = "currency"
    confidence = "confidence"  # low | medium | high
    action = "action"


class Waste:
    """Columns of the waste frame (``engine.waste``) and of the ``waste`` table that stores it.

    The stored table is the frame plus ``period`` (its partition) and ``inputs``, the stamp of the
    ledger it was computed from (:func:`gpuledger.engine.waste.compute.inputs_stamp`), so a reader can
    tell a current precompute from a stale one without recomputing anything.
    """

    period = "period"
    team = "team"
    model = "model"
    workload = "workload"
    ResourceId = "ResourceId"
    gpu_model = "gpu_model"
    gpu_hours = "gpu_hours"
    idle_gpu_hours = "idle_gpu_hours"
    used_gpu_hours = "used_gpu_hours"
    unused_gpu_hours = "unused_gpu_hours"
    mem_peak_gib = "mem_peak_gib"
    mem_p95_gib = "mem_p95_gib"
    mem_capacity_gib = "mem_capacity_gib"
    gpu_hour_price = "gpu_hour_price"
    cost = "cost"
    idle_cost = "idle_cost"
    unused_cost = "unused_cost"
    waste_cost = "waste_cost"
    currency = "currency"
    inputs = "inputs"


class WasteHour:
    """Columns of ``waste_hourly``: held and busy GPU-hours per team × GPU × hour of a period.

    What the waste page's heatmaps start from, already reduced from raw telemetry (one row per
    team, GPU and clock hour), kept per team so a team lead's cut stays a filter on the server.
    """

    period = "period"
    team = "team"
    gpu = "gpu"  # host/index, or the GPU uuid where the host is unknown
    gpu_model = "gpu_model"
    hour = "hour"
    held_hours = "held_hours"
    busy_hours = "busy_hours"  # held hours × SM activity / 100: the hours that computed
    inputs = "inputs"  # as ``Waste.inputs``


class Quarantine:
    """Columns of ``quarantine``: rows a collector refused, kept where the user can see them."""

    x_Source = "x_Source"
    x_BillingPeriod = "x_BillingPeriod"
    BillingAccountId = "BillingAccountId"
    file = "file"
    row = "row"
    column = "column"
    reason = "reason"
    raw = "raw"  # the original row as JSON text
    cost = "cost"  # best-effort amount of the row, so its weight is visible
    currency = "currency"
    x_IngestId = "x_IngestId"
