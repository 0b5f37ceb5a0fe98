"""Sample data: the company's GCP bill as the Cloud Billing detailed usage cost export.

Written exactly as ``bq extract --destination_format NEWLINE_DELIMITED_JSON --compression GZIP``
writes the ``gcp_billing_export_resource_v1_<ACCOUNT>`` table: one JSON object per line, nested
``service``, ``sku``, ``project{id, number, name, labels}``, ``labels``, ``system_labels``,
``location``, ``resource{name, global_name}``, ``usage``, ``credits[]``, ``invoice{month}``;
TIMESTAMPs as ``YYYY-MM-DD HH:MM:SS UTC``, FLOAT64 as JSON numbers. One file per invoice month.

Each GPU instance-hour is billed as GCP bills it: a GPU SKU row and vCPU and RAM SKU rows of the
same instance. Spot VMs are billed at Spot SKU prices; CUD-covered VMs at on-demand prices with a
committed-use-discount credit. The last two hours of a month land on the next invoice month (late
usage), when the sample has that month. Disks, egress, the promotion credit and the rest of
``company.other_charges`` follow.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from decimal import Decimal
from pathlib import Path
from typing import Final

import polars as pl

from gpuledger.sample.company import Company
from gpuledger.schema import MONEY

PROVIDER: Final = "GCP"
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S UTC"
_GPU_SKUS: Final = {
    "H100": "Nvidia H100 80GB GPU",
    "H200": "Nvidia H200 141GB GPU",
    "A100 40GB": "Nvidia Tesla A100 GPU",
    "A100 80GB": "Nvidia A100 80GB GPU",
    "L4": "Nvidia L4 GPU",
    "T4": "Nvidia Tesla T4 GPU",
    "V100": "Nvidia Tesla V100 GPU",
}
_VCPUS: Final = {"a3-highgpu-8g": 208, "a2-highgpu-1g": 12, "a2-highgpu-8g": 96}
_MEMORY_GIB: Final = {"a3-highgpu-8g": 1872, "a2-highgpu-1g": 85, "a2-highgpu-8g": 680}
_SERVICE_IDS: Final = {
    "Compute Engine": "6F81-5844-456A",
    "Networking": "E505-1604-58F8",
    "Cloud Storage": "95FF-2EF5-5EA1",
    "Support": "2062-016F-44A2",
}
# Share of an instance-hour's price on the GPU and vCPU SKUs; RAM takes the rest.
_GPU_SHARE: Final = Decimal("0.70")
_CORE_SHARE: Final = Decimal("0.22")
_COST_TYPES: Final = {"tax": "tax", "refund": "adjustment"}


def write_gcp_export(company: Company, out: Path) -> list[Path]:
    """Write the export files under ``out``; returns their paths."""
    months = [m.replace("-", "") for m in company.months]
    flat = pl.concat(
        [_instance_rows(company, months), _charge_rows(company)], how="vertical_relaxed"
    )
    flat = flat.with_columns(
        _stable_ids(flat, "sku_description", "sku_id", {}),
        _stable_ids(flat, "service_description", "service_id", _SERVICE_IDS),
    )
    account = flat.get_column("billing_account_id").first()
    stem = f"gcp_billing_export_resource_v1_{str(account).replace('-', '_')}"
    paths = []
    for month in sorted(flat.get_column("invoice_month").unique().to_list()):
        rows = flat.filter(pl.col("invoice_month") == month).sort(
            "start", "resource_global_name", "sku_description", nulls_last=True
        )
        path = out / f"{stem}-{month}-000000000000.json.gz"
        buffer = io.BytesIO()
        _nested(rows).write_ndjson(buffer)
        path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
        paths.append(path)
    return paths


def _instance_rows(company: Company, months: list[str]) -> pl.DataFrame:
    """GPU, vCPU and RAM SKU rows of every GCP instance-hour."""
    hours = company.instance_hours.join(
        company.instances.filter(pl.col("provider") == PROVIDER), on="resource_id"
    )
    if hours.is_empty():
        return hours
    rate, paid = pl.col("on_demand_rate").cast(MONEY), pl.col("effective_rate").cast(MONEY)
    family = pl.col("instance_type").str.split("-").list.first().str.to_uppercase()
    spot = pl.col("pricing") == "spot"
    gpu_sku = pl.col("gpu_model").replace_strict(_GPU_SKUS, default="Nvidia GPU")
    parts = []
    for part, share in (("gpu", _GPU_SHARE), ("core", _CORE_SHARE), ("ram", None)):
        list_price = _share(rate, share)
        paid_price = _share(paid, share)
        base = {
            "gpu": gpu_sku,
            "core": family + pl.lit(" Instance Core"),
            "ram": family + pl.lit(" Instance Ram"),
        }[part]
        description = pl.when(spot).then(pl.lit("Spot Preemptible ") + base).otherwise(base)
        parts.append(
            hours.with_columns(
                (description + " running in Americas").alias("sku_description"),
                pl.when(spot).then(paid_price).otherwise(list_price).alias("cost"),
                list_price.alias("cost_at_list"),
                _cud_credits(list_price - paid_price).alias("credits"),
                *_usage(part),
            )
        )
    rows = pl.concat(parts)
    start = pl.col("hour_start")
    own = start.dt.strftime("%Y%m")
    late = start.dt.offset_by("2h").dt.strftime("%Y%m")
    return rows.select(
        pl.col("billing_account_id"),
        pl.lit("Compute Engine").alias("service_description"),
        pl.col("sku_description"),
        start.alias("start"),
        start.dt.offset_by("1h").alias("end"),
        pl.col("sub_account_id").alias("project_id"),
        pl.col("sub_account_name").alias("project_name"),
        _labels().alias("labels"),
        _system_labels().alias("system_labels"),
        pl.col("region"),
        pl.col("zone"),
        pl.col("resource_name"),
        pl.col("resource_id").alias("resource_global_name"),
        "cost",
        "cost_at_list",
        "credits",
        "usage_amount",
        "usage_unit",
        "pricing_amount",
        "pricing_unit",
        pl.when(late.is_in(months)).then(late).otherwise(own).alias("invoice_month"),
        pl.lit("regular").alias("cost_type"),
    )


def _share(total: pl.Expr, share: Decimal | None) -> pl.Expr:
    """A SKU's part of an hourly price, rounded to the micro-dollar; RAM gets the remainder."""
    gpu = (total * pl.lit(_GPU_SHARE, dtype=MONEY)).round(6)
    core = (total * pl.lit(_CORE_SHARE, dtype=MONEY)).round(6)
    if share is None:
        return total - gpu - core
    return gpu if share == _GPU_SHARE else core


def _cud_credits(discount: pl.Expr) -> pl.Expr:
    credit = pl.struct(
        pl.lit("Committed use discount").alias("name"),
        (-discount).cast(pl.Float64).alias("amount"),
        pl.lit("Committed use discount: resource-based, 1 year").alias("full_name"),
        pl.lit("commitments/acme-gpu-1y").alias("id"),
        pl.lit("COMMITTED_USAGE_DISCOUNT").alias("type"),
    )
    empty = pl.lit([], dtype=pl.List(_CREDIT))
    return pl.when(pl.col("pricing") == "cud").then(pl.concat_list(credit)).otherwise(empty)


_CREDIT: Final = pl.Struct(
    {
        "name": pl.String,
        "amount": pl.Float64,
        "full_name": pl.String,
        "id": pl.String,
        "type": pl.String,
    }
)
_KV: Final = pl.Struct({"key": pl.String, "value": pl.String})


def _usage(part: str) -> list[pl.Expr]:
    """usage.{amount, unit, amount_in_pricing_units, pricing_unit} of one SKU-hour."""
    vcpus = pl.col("instance_type").replace_strict(_VCPUS, default=8, return_dtype=pl.Int64)
    memory = pl.col("instance_type").replace_strict(_MEMORY_GIB, default=32, return_dtype=pl.Int64)
    amount, unit, pricing, pricing_unit = {
        "gpu": (pl.col("gpu_count") * 3600, "seconds", pl.col("gpu_count"), "hour"),
        "core": (vcpus * 3600, "seconds", vcpus, "hour"),
        "ram": (memory * 3600 * 1024**3, "byte-seconds", memory, "gibibyte hour"),
    }[part]
    return [
        amount.cast(pl.Float64).alias("usage_amount"),
        pl.lit(unit).alias("usage_unit"),
        pricing.cast(pl.Float64).alias("pricing_amount"),
        pl.lit(pricing_unit).alias("pricing_unit"),
    ]


def _labels() -> pl.Expr:
    """User labels as billed: the team and model tags where the instance has them."""
    pairs = [
        pl.when(pl.col(column).is_not_null()).then(
            pl.struct(pl.lit(key).alias("key"), pl.col(column).alias("value"))
        )
        for key, column in (("team", "team_tag"), ("model", "model_tag"))
    ]
    return pl.concat_list(pairs).list.drop_nulls()


def _system_labels() -> pl.Expr:
    vcpus = pl.col("instance_type").replace_strict(_VCPUS, default=8, return_dtype=pl.Int64)
    memory = pl.col("instance_type").replace_strict(_MEMORY_GIB, default=32, return_dtype=pl.Int64)
    return pl.concat_list(
        pl.struct(
            pl.lit("compute.googleapis.com/machine_spec").alias("key"),
            pl.col("instance_type").alias("value"),
        ),
        pl.struct(
            pl.lit("compute.googleapis.com/cores").alias("key"),
            vcpus.cast(pl.String).alias("value"),
        ),
        pl.struct(
            pl.lit("compute.googleapis.com/memory").alias("key"),
            (memory * 1024).cast(pl.String).alias("value"),
        ),
    )


def _charge_rows(company: Company) -> pl.DataFrame:
    """Disks, egress, credits and the other non-instance lines of the GCP bill."""
    charges = company.other_charges.filter(pl.col("provider") == PROVIDER)
    projects = (
        company.instances.filter(pl.col("provider") == PROVIDER)
        .select("sub_account_id", "sub_account_name", "region", "zone")
        .unique("sub_account_id")
    )
    charges = charges.join(projects, on="sub_account_id", how="left")
    month_start = (pl.col("month") + "-01").str.to_datetime("%Y-%m-%d", time_zone="UTC")
    start = pl.coalesce(pl.col("hour_start"), month_start)
    end = pl.when(pl.col("hour_start").is_null()).then(month_start.dt.offset_by("1mo"))
    is_credit = pl.col("charge_kind") == "credit"
    amount = pl.col("amount").cast(MONEY)
    promotion = pl.struct(
        pl.col("description").alias("name"),
        amount.cast(pl.Float64).alias("amount"),
        pl.col("description").alias("full_name"),
        pl.lit("promotions/research-2026").alias("id"),
        pl.lit("PROMOTION").alias("type"),
    )
    no_credits = pl.lit([], dtype=pl.List(_CREDIT))
    team = pl.when(pl.col("team_tag").is_not_null()).then(
        pl.struct(pl.lit("team").alias("key"), pl.col("team_tag").alias("value"))
    )
    return charges.select(
        pl.col("billing_account_id"),
        pl.col("service_name").alias("service_description"),
        pl.col("description").alias("sku_description"),
        start.alias("start"),
        end.otherwise(pl.col("hour_start").dt.offset_by("1h")).alias("end"),
        pl.col("sub_account_id").alias("project_id"),
        pl.col("sub_account_name").alias("project_name"),
        pl.concat_list(team).list.drop_nulls().alias("labels"),
        pl.lit([], dtype=pl.List(_KV)).alias("system_labels"),
        pl.col("region"),
        pl.col("zone"),
        pl.col("resource_id").str.split("/").list.last().alias("resource_name"),
        pl.col("resource_id").alias("resource_global_name"),
        pl.when(is_credit).then(pl.lit(0, dtype=MONEY)).otherwise(amount).alias("cost"),
        pl.when(is_credit).then(pl.lit(0, dtype=MONEY)).otherwise(amount).alias("cost_at_list"),
        pl.when(is_credit).then(pl.concat_list(promotion)).otherwise(no_credits).alias("credits"),
        pl.col("usage_amount"),
        pl.col("usage_unit"),
        pl.col("usage_amount").alias("pricing_amount"),
        pl.col("usage_unit").alias("pricing_unit"),
        pl.col("month").str.replace("-", "").alias("invoice_month"),
        pl.col("charge_kind")
        .replace_strict(_COST_TYPES, default="regular", return_dtype=pl.String)
        .alias("cost_type"),
    )


def _stable_id(text: str) -> str:
    digest = hashlib.sha256(text.encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def _stable_ids(frame: pl.DataFrame, column: str, alias: str, known: dict[str, str]) -> pl.Expr:
    """A GCP-style id per distinct text (computed once per distinct value, not per row)."""
    values = frame.get_column(column).drop_nulls().unique().to_list()
    mapping = {value: known.get(value) or _stable_id(value) for value in values}
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.String).alias(alias)


def _nested(rows: pl.DataFrame) -> pl.DataFrame:
    """Flat rows in the export's nested layout and field order."""
    numbers = {
        p: str(int(hashlib.sha256(p.encode()).hexdigest()[:10], 16) % 10**12).zfill(12)
        for p in rows.get_column("project_id").drop_nulls().unique().to_list()
    }
    project_number = pl.col("project_id").replace_strict(
        numbers, default=None, return_dtype=pl.String
    )
    env = pl.when(pl.col("project_id").str.contains("prod")).then(pl.lit("prod"))
    project_labels = pl.concat_list(
        pl.struct(pl.lit("env").alias("key"), env.otherwise(pl.lit("research")).alias("value"))
    )
    return rows.select(
        pl.col("billing_account_id"),
        pl.struct(
            pl.col("service_id").alias("id"), pl.col("service_description").alias("description")
        ).alias("service"),
        pl.struct(
            pl.col("sku_id").alias("id"), pl.col("sku_description").alias("description")
        ).alias("sku"),
        pl.col("start").dt.strftime(_TIME_FORMAT).alias("usage_start_time"),
        pl.col("end").dt.strftime(_TIME_FORMAT).alias("usage_end_time"),
        pl.struct(
            pl.col("project_id").alias("id"),
            project_number.alias("number"),
            pl.col("project_name").alias("name"),
            project_labels.alias("labels"),
        ).alias("project"),
        pl.col("labels"),
        pl.col("system_labels"),
        pl.struct(
            pl.col("region").alias("location"),
            pl.lit("US").alias("country"),
            pl.col("region"),
            pl.col("zone"),
        ).alias("location"),
        pl.struct(
            pl.col("resource_name").alias("name"),
            pl.col("resource_global_name").alias("global_name"),
        ).alias("resource"),
        pl.col("end").dt.offset_by("5h").dt.strftime(_TIME_FORMAT).alias("export_time"),
        pl.col("cost").cast(pl.Float64),
        pl.lit("USD").alias("currency"),
        pl.lit(1.0).alias("currency_conversion_rate"),
        pl.struct(
            pl.col("usage_amount").alias("amount"),
            pl.col("usage_unit").alias("unit"),
            pl.col("pricing_amount").alias("amount_in_pricing_units"),
            pl.col("pricing_unit"),
        ).alias("usage"),
        pl.col("credits"),
        pl.struct(pl.col("invoice_month").alias("month")).alias("invoice"),
        pl.col("cost_type"),
        pl.col("cost_at_list").cast(pl.Float64),
    )
