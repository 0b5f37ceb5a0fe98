"""What GCP's SKU descriptions, services and credit types mean for the ``cost`` table.

Part of ``collect/gcp``. GCP bills a GPU VM as several SKUs of one instance: vCPU and RAM SKUs
("A2 Instance Core running in Americas"), and for most families a GPU SKU ("Nvidia Tesla A100 GPU
running in Americas"). The machine type is in the system label
``compute.googleapis.com/machine_spec``; the GPU model is only in the GPU SKU's description, which
this module matches to the bundled catalog's per-GPU entries (``nvidia-tesla-t4``, …).
"""

from __future__ import annotations

from typing import Final

import polars as pl

# (pattern on sku.description, catalog instance_type). First match wins: specific before generic.
GPU_SKU_PATTERNS: Final = (
    (r"(?i)\bH100\b", "nvidia-h100-80gb"),
    (r"(?i)\bA100 80GB\b", "nvidia-a100-80gb"),
    (r"(?i)\bA100\b", "nvidia-tesla-a100"),
    (r"(?i)\bL4\b", "nvidia-l4"),
    (r"(?i)\bT4\b", "nvidia-tesla-t4"),
    (r"(?i)\bV100\b", "nvidia-tesla-v100"),
    (r"(?i)\bP100\b", "nvidia-tesla-p100"),
    (r"(?i)\bP4\b", "nvidia-tesla-p4"),
    (r"(?i)\bTPU[- ]?v5p\b", "tpu-v5p"),
    (r"(?i)\bTPU[- ]?v5(e|\s*lite)\b", "tpu-v5e"),
    (r"(?i)\bTPU[- ]?v4\b", "tpu-v4"),
)
_ACCELERATOR_WORD: Final = r"(?i)\b(GPU|TPU)\b"

MACHINE_SPEC_LABEL: Final = "compute.googleapis.com/machine_spec"

# Commitment fees ("Commitment v1: A2 Cpu in Americas for 1 Year") are purchases, not usage.
COMMITMENT_SKU: Final = r"(?i)^commitment\b"
DYNAMIC_SKU: Final = r"(?i)\b(spot|preemptible)\b"

SERVICE_CATEGORIES: Final = {
    "Compute Engine": "Compute",
    "Kubernetes Engine": "Compute",
    "Cloud TPU": "Compute",
    "Cloud Run": "Compute",
    "Vertex AI": "AI and Machine Learning",
    "Cloud Storage": "Storage",
    "Filestore": "Storage",
    "Artifact Registry": "Storage",
    "BigQuery": "Analytics",
    "Cloud SQL": "Databases",
    "Networking": "Networking",
    "Cloud Load Balancing": "Networking",
    "Cloud Logging": "Management and Governance",
    "Cloud Monitoring": "Management and Governance",
    "Support": "Other",
}

# GCP cost_type → (ChargeCategory, ChargeClass). Adjustments correct earlier usage.
COST_TYPES: Final = {
    "regular": ("Usage", None),
    "tax": ("Tax", None),
    "adjustment": ("Adjustment", "Correction"),
    "rounding_error": ("Adjustment", None),
}

COMMITMENT_TYPES: Final = {
    "COMMITTED_USAGE_DISCOUNT": "Resource-based CUD",
    "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE": "Spend-based CUD",
}

# Every credit type of the export (for validation and display); each is kept on its own row.
CREDIT_TYPES: Final = (
    "COMMITTED_USAGE_DISCOUNT",
    "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE",
    "SUSTAINED_USAGE_DISCOUNT",
    "FREE_TIER",
    "PROMOTION",
    "DISCOUNT",
    "SUBSCRIPTION_BENEFIT",
    "RESELLER_MARGIN",
    "FEE_UTILIZATION_OFFSET",
)


def gpu_sku_key(description: pl.Expr) -> pl.Expr:
    """The catalog key of a GPU/TPU SKU description, null for any other SKU."""
    result: pl.Expr = pl.lit(None, dtype=pl.String)
    for pattern, key in reversed(GPU_SKU_PATTERNS):
        result = pl.when(description.str.contains(pattern)).then(pl.lit(key)).otherwise(result)
    is_accelerator = description.str.contains(_ACCELERATOR_WORD) & ~description.str.contains(
        COMMITMENT_SKU
    )
    return pl.when(is_accelerator).then(result).otherwise(None)


def label_value(labels: pl.Expr, key: str) -> pl.Expr:
    """The value of one key in a ``[{key, value}]`` label list, or null."""
    return labels.list.eval(
        pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
    ).list.first()


def service_category(service: pl.Expr) -> pl.Expr:
    """FOCUS ServiceCategory of a GCP service description ("Other" when unknown)."""
    return service.replace_strict(SERVICE_CATEGORIES, default="Other", return_dtype=pl.String)
