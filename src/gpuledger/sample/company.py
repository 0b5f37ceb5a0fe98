"""The fictional company behind the sample data, independent of any billing format.

One model of teams, models and GPU fleets drives every format writer (CUR 2.0, the GCP billing
export, an Azure FOCUS export, agent spool files), so the files agree with each other the way real
exports of one company do: the same instance ids on the bill and in the telemetry, the same tags.

Scale 1 is a small company (about twenty GPU instances across AWS, GCP and Azure) built so that
every kind of finding shows up: idle dev boxes, on-demand training that could run on spot,
underused H100s, a large model served steadily, a steady on-demand baseline, untagged spend,
instances without telemetry. Larger scales add a bulk fleet of mostly single-GPU instances,
about sixteen per unit of scale, for benchmarks (scale 62 ≈ 1,000 GPU instances).
"""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl

from gpuledger.catalog import gpu_catalog
from gpuledger.schema import MONEY, UTC_TIME

GIB = 1024**3

TEAMS: list[tuple[str, str, list[str], int]] = [
    ("nlp", "NLP Research", ["NLP", "nlp-research"], 180_000),
    ("vision", "Computer Vision", ["Vision", "cv"], 60_000),
    ("search-ranking", "Search & Ranking", ["Search Ranking", "ranking"], 45_000),
    ("ml-platform", "ML Platform", ["ML Platform", "mlplatform"], 15_000),
    ("recsys", "Recommendations", ["RecSys"], 40_000),
    ("speech", "Speech", ["Speech"], 20_000),
]

ACCOUNTS = {
    "AWS": [
        ("999999999999", "acme-payer", "111111111111", "ml-prod"),
        ("999999999999", "acme-payer", "222222222222", "ml-dev"),
    ],
    "GCP": [
        ("01A2B3-C4D5E6-F7A8B9", "Acme GCP billing", "acme-vision-prod", "Acme Vision Prod"),
        ("01A2B3-C4D5E6-F7A8B9", "Acme GCP billing", "acme-ml-research", "Acme ML Research"),
    ],
    "Microsoft": [
        ("8611537", "Acme EA", "5a7c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4", "acme-azure-ml"),
    ],
}

REGIONS = {"AWS": ("us-east-1", "us-east-1a"), "GCP": ("us-central1", "us-central1-a")}
REGIONS["Microsoft"] = ("eastus", "eastus-1")

# On-demand $/instance-hour (see the price notes: AWS after the June-2025 cut, GCP March 2025).
ON_DEMAND = {
    "p5.48xlarge": "55.04",
    "p5.4xlarge": "6.88",
    "p4d.24xlarge": "21.957642",
    "g5.xlarge": "1.006",
    "g5.12xlarge": "5.672",
    "g6.xlarge": "0.8048",
    "g6e.xlarge": "1.861",
    "g6e.12xlarge": "10.49264",
    "a3-highgpu-8g": "88.49",
    "a2-highgpu-1g": "3.673385",
    "a2-highgpu-8g": "29.387",
    "g2-standard-8": "0.85355",
    "Standard_NC24ads_A100_v4": "3.67",
    "Standard_ND96isr_H100_v5": "98.32",
}

# Share of on-demand actually paid, by pricing kind.
EFFECTIVE_SHARE = {
    "on_demand": Decimal("1"),
    "spot": Decimal("0.38"),
    "savings_plan": Decimal("0.72"),
    "reserved": Decimal("0.62"),
    "cud": Decimal("0.55"),
}


@dataclass(frozen=True)
class Template:
    """A kind of instance in the fleet and how it is used."""

    provider: str
    account: int  # index into ACCOUNTS[provider]
    instance_type: str
    pricing: str
    owner_team: str
    owner_model: str
    workload_kind: str
    schedule: str  # always | bursty | office | half_month
    sm_util: float  # mean SM activity when busy
    mem_fill: float  # share of GPU memory used when busy
    gpus_used: float = 1.0  # share of the instance's GPUs that ever work
    team_tag: str | None = "="  # "=" means: tag with the owner team's id
    model_tag: str | None = "="
    telemetry: bool = True
    count: int = 1


BASE_FLEET: list[Template] = [
    Template(
        "AWS",
        0,
        "p5.48xlarge",
        "savings_plan",
        "nlp",
        "llama-pretrain-70b",
        "pretrain",
        "always",
        88,
        0.85,
    ),
    Template(
        "AWS",
        0,
        "p5.48xlarge",
        "on_demand",
        "nlp",
        "nlp-finetune-8b",
        "finetune",
        "bursty",
        72,
        0.6,
        team_tag="NLP",
    ),
    Template(
        "AWS",
        0,
        "g6e.12xlarge",
        "on_demand",
        "nlp",
        "chat-70b-serving",
        "inference",
        "always",
        66,
        0.9,
        count=2,
    ),
    Template(
        "AWS",
        0,
        "p4d.24xlarge",
        "reserved",
        "search-ranking",
        "ranker-xl",
        "ranking",
        "always",
        61,
        0.7,
        team_tag="Search Ranking",
    ),
    Template(
        "AWS",
        0,
        "p5.4xlarge",
        "on_demand",
        "search-ranking",
        "embed-v3",
        "embedding",
        "always",
        11,
        0.12,
    ),
    Template(
        "AWS",
        1,
        "g5.xlarge",
        "on_demand",
        "ml-platform",
        "notebooks",
        "dev",
        "office",
        35,
        0.4,
        count=2,
        model_tag=None,
    ),
    Template(
        "AWS",
        1,
        "g6.xlarge",
        "spot",
        "ml-platform",
        "batch-eval",
        "batch",
        "bursty",
        80,
        0.5,
        team_tag="ML Platform",
    ),
    Template(
        "AWS",
        1,
        "g5.12xlarge",
        "on_demand",
        "speech",
        "speech-asr",
        "inference",
        "always",
        40,
        0.5,
        team_tag=None,
        model_tag=None,
        telemetry=False,
    ),
    Template(
        "GCP",
        0,
        "a3-highgpu-8g",
        "cud",
        "vision",
        "vision-diffusion",
        "pretrain",
        "always",
        82,
        0.8,
    ),
    Template(
        "GCP",
        0,
        "a2-highgpu-1g",
        "on_demand",
        "vision",
        "vision-detector",
        "inference",
        "always",
        45,
        0.5,
        team_tag="cv",
    ),
    Template(
        "GCP",
        1,
        "g2-standard-8",
        "spot",
        "speech",
        "speech-tts",
        "finetune",
        "bursty",
        75,
        0.6,
        count=2,
        team_tag="Speech",
    ),
    Template(
        "GCP",
        1,
        "a2-highgpu-8g",
        "on_demand",
        "recsys",
        "recsys-dlrm",
        "pretrain",
        "always",
        70,
        0.6,
        gpus_used=0.5,
        team_tag="RecSys",
    ),
    Template(
        "Microsoft",
        0,
        "Standard_NC24ads_A100_v4",
        "on_demand",
        "recsys",
        "recsys-serving",
        "inference",
        "always",
        38,
        0.45,
        telemetry=False,
    ),
    Template(
        "Microsoft",
        0,
        "Standard_ND96isr_H100_v5",
        "on_demand",
        "nlp",
        "llama-pretrain-70b",
        "pretrain",
        "half_month",
        85,
        0.8,
        team_tag="NLP",
        telemetry=False,
    ),
]

# Added once per unit of scale above 1: mostly single-GPU instances, as a large fleet has.
BULK_FLEET: list[Template] = [
    Template(
        "AWS",
        0,
        "g5.xlarge",
        "on_demand",
        "search-ranking",
        "embed-v3",
        "embedding",
        "always",
        45,
        0.5,
        count=3,
    ),
    Template(
        "AWS",
        0,
        "g6.xlarge",
        "spot",
        "ml-platform",
        "batch-eval",
        "batch",
        "bursty",
        70,
        0.5,
        count=3,
    ),
    Template(
        "AWS",
        0,
        "g6e.xlarge",
        "on_demand",
        "nlp",
        "chat-8b-serving",
        "inference",
        "always",
        55,
        0.7,
        count=3,
    ),
    Template(
        "AWS",
        1,
        "g5.xlarge",
        "on_demand",
        "ml-platform",
        "notebooks",
        "dev",
        "office",
        30,
        0.3,
        count=2,
    ),
    Template(
        "AWS",
        0,
        "p5.4xlarge",
        "savings_plan",
        "nlp",
        "nlp-finetune-8b",
        "finetune",
        "bursty",
        75,
        0.6,
    ),
    Template(
        "GCP",
        0,
        "a2-highgpu-1g",
        "on_demand",
        "vision",
        "vision-detector",
        "inference",
        "always",
        45,
        0.5,
        count=2,
    ),
    Template(
        "GCP",
        1,
        "g2-standard-8",
        "spot",
        "speech",
        "speech-tts",
        "finetune",
        "bursty",
        70,
        0.6,
        count=1,
    ),
    Template(
        "AWS",
        0,
        "g6.xlarge",
        "on_demand",
        "recsys",
        "recsys-serving",
        "inference",
        "always",
        35,
        0.4,
        team_tag=None,
    ),
]


@dataclass(frozen=True)
class Company:
    """Format-independent frames of one fictional company; see the module docstring."""

    months: list[str]
    teams: pl.DataFrame
    instances: pl.DataFrame
    instance_hours: pl.DataFrame
    gpu_hours: pl.DataFrame
    other_charges: pl.DataFrame
    seed: int


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """First instant of the month and of the next, UTC."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=UTC)
    days = calendar.monthrange(year, number)[1]
    return start, start + timedelta(days=days)


def build_company(scale: float = 1, seed: int = 7, months: list[str] | None = None) -> Company:
    """Build the company at ``scale`` for ``months`` (default 2026-09 and 2026-10)."""
    months = months or ["2026-09", "2026-10"]
    rng = np.random.default_rng(seed)
    templates = _fleet(scale)
    instances = _instances(templates, seed)
    instance_hours = _instance_hours(instances, months, rng)
    return Company(
        months=months,
        teams=_teams(),
        instances=instances.drop("schedule", "sm_util", "mem_fill", "gpus_used", "telemetry"),
        instance_hours=instance_hours,
        gpu_hours=_gpu_hours(instances, instance_hours, months[-1], rng),
        other_charges=_other_charges(instances, instance_hours, months, rng),
        seed=seed,
    )


def _teams() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "team": [t[0] for t in TEAMS],
            "display_name": [t[1] for t in TEAMS],
            "lead": [f"lead-{t[0]}@acme.example" for t in TEAMS],
            "aliases": [t[2] for t in TEAMS],
            "budget": [Decimal(t[3]) for t in TEAMS],
        },
        schema_overrides={"budget": MONEY},
    )


def _fleet(scale: float) -> list[Template]:
    extra_units = max(0.0, scale - 1)
    fleet = list(BASE_FLEET)
    whole = int(extra_units)
    fraction = extra_units - whole
    fleet += [t for _ in range(whole) for t in BULK_FLEET]
    fleet += BULK_FLEET[: round(fraction * len(BULK_FLEET))]
    return [t for t in fleet for _ in range(t.count)]


def _stable_hex(*parts: object, length: int = 17) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def _instances(templates: list[Template], seed: int) -> pl.DataFrame:
    catalog = {
        (row["provider"], row["instance_type"]): row for row in gpu_catalog().iter_rows(named=True)
    }
    rows = []
    for number, t in enumerate(templates):
        billing_id, billing_name, sub_id, sub_name = ACCOUNTS[t.provider][t.account]
        region, zone = REGIONS[t.provider]
        facts = catalog[(t.provider, t.instance_type)]
        name = f"{t.owner_model}-{number:04d}"
        resource_id, host = _identity(t.provider, sub_id, zone, name, seed, number)
        on_demand = Decimal(ON_DEMAND[t.instance_type])
        rows.append(
            {
                "provider": t.provider,
                "billing_account_id": billing_id,
                "billing_account_name": billing_name,
                "sub_account_id": sub_id,
                "sub_account_name": sub_name,
                "region": region,
                "zone": zone,
                "resource_id": resource_id,
                "resource_name": name,
                "host": host,
                "instance_type": t.instance_type,
                "gpu_model": facts["gpu_model"],
                "gpu_count": facts["gpu_count"],
                "gpu_memory_gib": facts["gpu_memory_gib"],
                "pricing": t.pricing,
                "on_demand_rate": on_demand,
                "effective_rate": on_demand * EFFECTIVE_SHARE[t.pricing],
                "team_tag": t.owner_team if t.team_tag == "=" else t.team_tag,
                "model_tag": t.owner_model if t.model_tag == "=" else t.model_tag,
                "workload": f"{t.owner_model}-{t.workload_kind}",
                "workload_kind": t.workload_kind,
                "namespace": t.owner_team,
                "owner_team": t.owner_team,
                "owner_model": t.owner_model,
                "schedule": t.schedule,
                "sm_util": t.sm_util,
                "mem_fill": t.mem_fill,
                "gpus_used": t.gpus_used,
                "telemetry": t.telemetry,
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "on_demand_rate": MONEY,
            "effective_rate": MONEY,
            "gpu_count": pl.Int32,
            "gpu_memory_gib": pl.Float64,
        },
        infer_schema_length=None,
    )


def _identity(
    provider: str, sub_id: str, zone: str, name: str, seed: int, number: int
) -> tuple[str, str]:
    """Resource id as the bill spells it, and the hostname the agent reports."""
    if provider == "AWS":
        instance_id = "i-0" + _stable_hex("aws", seed, number, length=16)
        return instance_id, f"ip-10-{number // 250}-{number % 250}-{10 + number % 200}.ec2.internal"
    if provider == "GCP":
        numeric = int(_stable_hex("gcp", seed, number, length=15), 16) % 10**19
        return (
            f"//compute.googleapis.com/projects/{sub_id}/zones/{zone}/instances/{numeric}",
            name,
        )
    return (
        f"/subscriptions/{sub_id}/resourceGroups/ml/providers/Microsoft.Compute/"
        f"virtualMachines/{name}",
        name,
    )


def _hours(months: list[str]) -> pl.DataFrame:
    frames = []
    for month in months:
        start, end = month_bounds(month)
        frames.append(
            pl.DataFrame(
                {"hour_start": pl.datetime_range(start, end, "1h", closed="left", eager=True)}
            ).with_columns(pl.lit(month).alias("month"))
        )
    return pl.concat(frames).with_columns(pl.col("hour_start").cast(UTC_TIME))


def _instance_hours(
    instances: pl.DataFrame, months: list[str], rng: np.random.Generator
) -> pl.DataFrame:
    """Every hour each instance ran: always-on, office boxes left running, bursty jobs by day."""
    grid = instances.select("resource_id", "schedule").join(_hours(months), how="cross")
    day = pl.col("hour_start").dt.truncate("1d")
    days = grid.select("resource_id", day.alias("day")).unique(maintain_order=True)
    days = days.with_columns(pl.Series("day_on", rng.random(days.height) < 0.55))
    grid = grid.with_columns(day.alias("day")).join(days, on=["resource_id", "day"])
    running = ((pl.col("schedule") != "bursty") | pl.col("day_on")) & (
        (pl.col("schedule") != "half_month") | (pl.col("hour_start").dt.day() <= 15)
    )
    return (
        grid.filter(running)
        .select("resource_id", "hour_start", "month")
        .sort("resource_id", "hour_start")
    )


def _gpu_hours(
    instances: pl.DataFrame, instance_hours: pl.DataFrame, month: str, rng: np.random.Generator
) -> pl.DataFrame:
    """Hourly activity per GPU for the month with telemetry (the agent rolled out that month)."""
    fleet = instances.filter(pl.col("telemetry")).with_columns(
        pl.int_ranges(0, pl.col("gpu_count")).alias("gpu_index")
    )
    grid = (
        instance_hours.filter(pl.col("month") == month)
        .join(fleet, on="resource_id")
        .explode("gpu_index")
        .with_columns(pl.col("gpu_index").cast(pl.Int32))
    )
    noise = rng.normal(0, 1, grid.height)
    chance = rng.random(grid.height)
    hour = pl.col("hour_start").dt.hour()
    office = (pl.col("hour_start").dt.weekday() <= 5) & hour.is_between(13, 22)
    used_gpus = (pl.col("gpu_count").cast(pl.Float64) * pl.col("gpus_used")).ceil()
    busy = (
        (pl.col("gpu_index") < used_gpus)
        & pl.when(pl.col("schedule") == "office").then(office).otherwise(pl.lit(True))
        & (pl.Series(chance) < 0.97)
    )
    diurnal = (
        pl.when(pl.col("workload_kind") == "inference")
        .then(0.8 + 0.2 * ((hour.cast(pl.Float64) - 6.0) * np.pi / 12).sin())
        .otherwise(1.0)
    )
    sm = (pl.col("sm_util") * diurnal + pl.Series(noise) * 6).clip(1, 100)
    memory = (
        pl.col("gpu_memory_gib")
        * GIB
        * (pl.col("mem_fill") + pl.Series(noise) * 0.01).clip(0.01, 0.99)
    )
    pod = pl.concat_str(pl.col("workload"), pl.lit("-"), pl.col("resource_name").str.slice(-4))
    job = pl.when(pl.col("workload_kind").is_in(["pretrain", "finetune", "batch"])).then(
        pl.concat_str(
            pl.col("owner_model"), pl.lit("-run-"), pl.col("hour_start").dt.strftime("%m%d")
        )
    )
    return (
        grid.with_columns(busy.alias("busy"))
        .with_columns(
            pl.when("busy").then(pl.col("owner_team")).alias("team"),
            pl.when("busy").then(pl.col("owner_model")).alias("model"),
            pl.when("busy").then(pl.col("namespace")).alias("namespace"),
            pl.when("busy").then(pod).alias("pod"),
            pl.when("busy").then(pl.col("workload_kind")).alias("container"),
            pl.when("busy").then(job).alias("job"),
            pl.when("busy").then(sm).otherwise(0.0).alias("sm_util"),
            pl.when("busy").then(memory).otherwise(0.0).cast(pl.Int64).alias("mem_used_bytes"),
            (70 + pl.when("busy").then(sm).otherwise(0.0) * 5.5).alias("power_w"),
        )
        .select(
            "resource_id",
            "hour_start",
            "gpu_index",
            "busy",
            "team",
            "model",
            "namespace",
            "pod",
            "container",
            "job",
            "sm_util",
            "mem_used_bytes",
            "power_w",
        )
    )


SIDE_SERVICES = {
    # provider: (storage service, network service, compute service, cpu type, cpu $/h, disk $/h)
    "AWS": (
        "Amazon Elastic Block Store",
        "AWS Data Transfer",
        "Amazon Elastic Compute Cloud",
        "m6i.2xlarge",
        "0.384",
        "0.2244",
    ),
    "GCP": (
        "Compute Engine",
        "Networking",
        "Compute Engine",
        "n2-standard-8",
        "0.388472",
        "0.2301",
    ),
    "Microsoft": ("Storage", "Bandwidth", "Virtual Machines", "Standard_D8s_v5", "0.384", "0.2104"),
}

OTHER_CHARGES_SCHEMA = {
    "provider": pl.String,
    "billing_account_id": pl.String,
    "sub_account_id": pl.String,
    "service_name": pl.String,
    "service_category": pl.String,
    "charge_kind": pl.String,
    "resource_id": pl.String,
    "instance_type": pl.String,
    "team_tag": pl.String,
    "hour_start": UTC_TIME,
    "month": pl.String,
    "usage_amount": pl.Float64,
    "usage_unit": pl.String,
    "amount": MONEY,
    "description": pl.String,
}


def _other_charges(
    instances: pl.DataFrame,
    instance_hours: pl.DataFrame,
    months: list[str],
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Disks, network and CPU side-cars of the GPU fleet, plus monthly support, tax, credits."""
    hourly = instance_hours.join(
        instances.select(
            "resource_id",
            "provider",
            "billing_account_id",
            "sub_account_id",
            "resource_name",
            "team_tag",
            "zone",
        ),
        on="resource_id",
    )
    bulk = instances.height > len(BASE_FLEET) + 4
    frames = [_disk_rows(hourly), _network_rows(hourly, rng, hourly_rows=bulk)]
    if bulk:
        frames.append(_cpu_rows(hourly))
    frames.append(_monthly_rows(instances, instance_hours, months))
    return pl.concat(
        [f.select(list(OTHER_CHARGES_SCHEMA)).cast(OTHER_CHARGES_SCHEMA) for f in frames]
    )


def _side(provider_column: str, index: int) -> pl.Expr:
    return pl.col(provider_column).replace_strict(
        {p: v[index] for p, v in SIDE_SERVICES.items()}, return_dtype=pl.String
    )


def _disk_rows(hourly: pl.DataFrame) -> pl.DataFrame:
    disk_id = (
        pl.when(pl.col("provider") == "AWS")
        .then(pl.concat_str(pl.lit("vol-0"), pl.col("resource_id").str.slice(3, 16)))
        .when(pl.col("provider") == "GCP")
        .then(
            pl.concat_str(
                pl.lit("//compute.googleapis.com/projects/"),
                pl.col("sub_account_id"),
                pl.lit("/zones/"),
                pl.col("zone"),
                pl.lit("/disks/"),
                pl.col("resource_name"),
                pl.lit("-data"),
            )
        )
        .otherwise(
            pl.concat_str(
                pl.col("resource_id").str.replace("virtualMachines", "disks"), pl.lit("-data")
            )
        )
    )
    return hourly.with_columns(
        _side("provider", 0).alias("service_name"),
        pl.lit("Storage").alias("service_category"),
        pl.lit("storage").alias("charge_kind"),
        disk_id.alias("resource_id"),
        pl.lit(None, pl.String).alias("instance_type"),
        pl.lit(2048 / 730).alias("usage_amount"),
        pl.lit("GB-Hours").alias("usage_unit"),
        _side("provider", 5).cast(MONEY).alias("amount"),
        pl.lit("2 TiB SSD data volume").alias("description"),
    )


def _network_rows(
    hourly: pl.DataFrame, rng: np.random.Generator, *, hourly_rows: bool
) -> pl.DataFrame:
    """Egress from each instance: hourly at benchmark scales, one row a day in the small sample."""
    rows = (
        hourly
        if hourly_rows
        else hourly.with_columns(pl.col("hour_start").dt.truncate("1d")).unique(
            ["resource_id", "hour_start"], maintain_order=True
        )
    )
    per_row = 1 if hourly_rows else 24
    gigabytes = rng.gamma(2.0, 1.5, rows.height) * per_row
    return rows.with_columns(
        _side("provider", 1).alias("service_name"),
        pl.lit("Networking").alias("service_category"),
        pl.lit("network").alias("charge_kind"),
        pl.lit(None, pl.String).alias("instance_type"),
        pl.Series("usage_amount", gigabytes.round(3)),
        pl.lit("GB").alias("usage_unit"),
        (pl.Series(gigabytes.round(3)) * 0.09)
        .round(6)
        .cast(pl.Decimal(38, 6))
        .cast(MONEY)
        .alias("amount"),
        pl.lit("Data transfer out to the internet").alias("description"),
    )


def _cpu_rows(hourly: pl.DataFrame) -> pl.DataFrame:
    """A CPU side-car instance per GPU instance (data loaders, API gateways)."""
    cpu_id = (
        pl.when(pl.col("provider") == "AWS")
        .then(pl.concat_str(pl.lit("i-1"), pl.col("resource_id").str.slice(3, 16)))
        .otherwise(pl.concat_str(pl.col("resource_id"), pl.lit("-cpu")))
    )
    return hourly.with_columns(
        _side("provider", 2).alias("service_name"),
        pl.lit("Compute").alias("service_category"),
        pl.lit("usage").alias("charge_kind"),
        cpu_id.alias("resource_id"),
        _side("provider", 3).alias("instance_type"),
        pl.lit(1.0).alias("usage_amount"),
        pl.lit("Hrs").alias("usage_unit"),
        _side("provider", 4).cast(MONEY).alias("amount"),
        pl.lit("CPU side-car instance").alias("description"),
    )


def _monthly_rows(
    instances: pl.DataFrame, instance_hours: pl.DataFrame, months: list[str]
) -> pl.DataFrame:
    """Support, tax, credits, a refund and shared networking: lines no instance tag explains."""
    usage = (
        instance_hours.join(
            instances.select(
                "resource_id", "provider", "billing_account_id", "sub_account_id", "effective_rate"
            ),
            on="resource_id",
        )
        .group_by("provider", "billing_account_id", "sub_account_id", "month")
        .agg(pl.col("effective_rate").sum().alias("usage"))
    )
    rows: list[dict[str, object]] = []
    for month in months:
        start, end = month_bounds(month)
        aws = usage.filter((pl.col("provider") == "AWS") & (pl.col("month") == month))
        payer = ACCOUNTS["AWS"][0][0]
        aws_total = sum(aws["usage"].to_list(), Decimal(0))
        rows.append(
            _line(
                "AWS",
                payer,
                payer,
                "AWS Support (Business)",
                "Support",
                "support",
                month,
                (aws_total * Decimal("0.03")).quantize(Decimal("0.01")),
                "AWS Support (Business) 3% of usage",
            )
        )
        for row in aws.filter(pl.col("sub_account_id") == ACCOUNTS["AWS"][1][2]).iter_rows(
            named=True
        ):
            rows.append(
                _line(
                    "AWS",
                    payer,
                    row["sub_account_id"],
                    "Amazon Elastic Compute Cloud",
                    "Compute",
                    "tax",
                    month,
                    (row["usage"] * Decimal("0.0625")).quantize(Decimal("0.01")),
                    "Sales tax 6.25%",
                )
            )
        rows.append(
            _line(
                "AWS",
                payer,
                ACCOUNTS["AWS"][0][2],
                "AWS Transit Gateway",
                "Networking",
                "network",
                month,
                Decimal("1.20") * Decimal((end - start).days * 24),
                "Shared transit gateway attachments",
            )
        )
        if month == months[0]:
            rows.append(
                _line(
                    "AWS",
                    payer,
                    ACCOUNTS["AWS"][1][2],
                    "Amazon Elastic Compute Cloud",
                    "Compute",
                    "credit",
                    month,
                    Decimal("-1500.00"),
                    "AWS Activate promotional credit",
                )
            )
        if month == months[-1]:
            rows.append(
                _line(
                    "AWS",
                    payer,
                    ACCOUNTS["AWS"][0][2],
                    "Amazon Elastic Compute Cloud",
                    "Compute",
                    "refund",
                    month,
                    Decimal("-212.50"),
                    "Refund: capacity reservation not delivered",
                )
            )
            gcp = ACCOUNTS["GCP"][1]
            rows.append(
                _line(
                    "GCP",
                    gcp[0],
                    gcp[2],
                    "Compute Engine",
                    "Compute",
                    "credit",
                    month,
                    Decimal("-750.00"),
                    "Research promotion credit",
                )
            )
    return pl.DataFrame(rows, schema=OTHER_CHARGES_SCHEMA)


def _line(
    provider: str,
    billing: str,
    sub: str,
    service: str,
    category: str,
    kind: str,
    month: str,
    amount: Decimal,
    description: str,
) -> dict[str, object]:
    return {
        "provider": provider,
        "billing_account_id": billing,
        "sub_account_id": sub,
        "service_name": service,
        "service_category": category,
        "charge_kind": kind,
        "resource_id": None,
        "instance_type": None,
        "team_tag": None,
        "hour_start": None,
        "month": month,
        "usage_amount": None,
        "usage_unit": None,
        "amount": amount,
        "description": description,
    }
