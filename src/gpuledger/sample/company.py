"""The fictional company behind the sample data, independent of any billing format.

One model of teams, models and GPU fleets drives every format writer (CUR 2.0, the GCP billing
export, an Azure FOCUS export, agent spool files), so the files agree with each other the way real
exports of one company do: the same instance ids on the bill and in the telemetry, the same tags.

Scale 1 is a small company (about twenty GPU instances across AWS, GCP and Azure) built so that
every kind of finding shows up: idle dev boxes, on-demand training that could run on spot,
underused H100s, a large model served steadily, a steady on-demand baseline, untagged spend,
instances without telemetry; beside the clouds, a small on-prem DGX cluster with spare capacity
(:mod:`gpuledger.sample.onprem`). Larger scales add a bulk fleet of mostly single-GPU instances,
about sixteen per unit of scale, for benchmarks (scale 62 ≈ 1,000 GPU instances).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

import numpy as np
import polars as pl

from gpuledger.period import Period
from gpuledger.prices.catalog import gpu_catalog
from gpuledger.sample.accounts import ACCOUNTS, REGIONS
from gpuledger.sample.company_charges import other_charges
from gpuledger.sample.onprem import onprem_gpu_hours, onprem_hosts
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
    """A kind of instance in the fleet and how it is used (a row of ``data/sample_fleet.csv``)."""

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
    gpus_used: float  # share of the instance's GPUs that ever work
    team_tag: str | None  # "=" means: tag with the owner team's id; empty: untagged
    model_tag: str | None
    telemetry: bool
    count: int


def fleet_templates(fleet: str) -> list[Template]:
    """The ``base`` (scale 1) or ``bulk`` (added per unit of scale) instance templates."""
    path = resources.files("gpuledger") / "data" / "sample_fleet.csv"
    with path.open("rb") as handle:
        table = pl.read_csv(
            handle.read(), schema_overrides={"team_tag": pl.String, "model_tag": pl.String}
        )
    rows = table.filter(pl.col("fleet") == fleet).drop("fleet").iter_rows(named=True)
    return [Template(**row) for row in rows]


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
    onprem_hosts: pl.DataFrame  # the on-prem cluster's hosts (sample/onprem.py): no cloud bill
    onprem_gpu_hours: pl.DataFrame  # their hourly activity, in gpu_hours' columns


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
        other_charges=other_charges(
            instances, instance_hours, months, rng, base_fleet_size=len(_fleet(1))
        ),
        seed=seed,
        onprem_hosts=onprem_hosts(),
        onprem_gpu_hours=onprem_gpu_hours(months[-1], seed),
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
    fleet = fleet_templates("base")
    bulk = fleet_templates("bulk")
    whole = int(extra_units)
    fleet += [t for _ in range(whole) for t in bulk]
    fleet += bulk[: round((extra_units - whole) * len(bulk))]
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
        start, end = Period.parse(month).bounds()
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
