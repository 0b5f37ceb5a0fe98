"""The sample company's on-prem cluster: two DGX H100 hosts in a colocation cage.

Part of ``sample/``; the cluster's settings are the ``[[clusters]]`` entry of the bundled
``data/gpuledger.toml``, and its hosts are named here the same way. ``dgx-a01`` pretrains NLP's
70B model around the clock; ``dgx-a02`` runs vision's detector training in office hours and
idles otherwise, so the cluster has spare capacity. The agent, with ``--resource-id`` set to the
host name, reports them from the last sample month on, like the cloud fleet; the month before
has no telemetry and its energy is estimated.

Activity has the shape of ``Company.gpu_hours`` and is drawn from a generator of its own, so
the cloud fleet's figures do not move.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gpuledger.period import Period
from gpuledger.schema import UTC_TIME

GIB = 1024**3
CLUSTER = "dgx-onprem"
GPU_MODEL = "H100"
GPU_MEMORY_GIB = 80.0
GPUS_PER_HOST = 8
IDLE_WATTS = 70.0
WATTS_PER_SM = 5.5

# host, owner team, model, workload kind, schedule, mean SM activity when busy, memory fill
HOSTS: tuple[tuple[str, str, str, str, str, float, float], ...] = (
    ("dgx-a01", "nlp", "llama-pretrain-70b", "pretrain", "always", 86.0, 0.85),
    ("dgx-a02", "vision", "detector-train", "finetune", "office", 74.0, 0.6),
)


def onprem_hosts() -> pl.DataFrame:
    """One row per host: ``resource_id`` (the host name, as the agent is told), GPU facts."""
    return pl.DataFrame(
        {
            "resource_id": [host[0] for host in HOSTS],
            "host": [host[0] for host in HOSTS],
            "gpu_model": [GPU_MODEL] * len(HOSTS),
            "gpu_memory_gib": [GPU_MEMORY_GIB] * len(HOSTS),
            "gpu_count": [GPUS_PER_HOST] * len(HOSTS),
        },
        schema_overrides={"gpu_count": pl.Int32},
    )


def onprem_gpu_hours(month: str, seed: int) -> pl.DataFrame:
    """Hourly activity per GPU of the cluster in ``month`` (``Company.gpu_hours`` columns)."""
    rng = np.random.default_rng([seed, 22])
    start, end = Period.parse(month).bounds()
    hosts = pl.DataFrame(
        [
            {
                "resource_id": host,
                "team_of_host": team,
                "model_of_host": model,
                "kind": kind,
                "schedule": schedule,
                "sm_mean": sm,
                "mem_fill": fill,
            }
            for host, team, model, kind, schedule, sm, fill in HOSTS
        ]
    )
    grid = (
        hosts.join(
            pl.DataFrame(
                {"hour_start": pl.datetime_range(start, end, "1h", closed="left", eager=True)}
            ).with_columns(pl.col("hour_start").cast(UTC_TIME)),
            how="cross",
        )
        .with_columns(pl.int_ranges(0, GPUS_PER_HOST, dtype=pl.Int32).alias("gpu_index"))
        .explode("gpu_index")
    )
    noise = pl.Series(rng.normal(0, 1, grid.height))
    chance = pl.Series(rng.random(grid.height))
    hour = pl.col("hour_start").dt.hour()
    office = (pl.col("hour_start").dt.weekday() <= 5) & hour.is_between(13, 22)
    busy = ((pl.col("schedule") == "always") | office) & (chance < 0.97)
    sm = (pl.col("sm_mean") + noise * 6).clip(1, 100)
    memory = GPU_MEMORY_GIB * GIB * (pl.col("mem_fill") + noise * 0.01).clip(0.01, 0.99)
    run = pl.concat_str(
        pl.col("model_of_host"), pl.lit("-run-"), pl.col("hour_start").dt.strftime("%m%d")
    )
    return grid.with_columns(busy.alias("busy")).select(
        "resource_id",
        "hour_start",
        "gpu_index",
        "busy",
        pl.when("busy").then(pl.col("team_of_host")).alias("team"),
        pl.when("busy").then(pl.col("model_of_host")).alias("model"),
        pl.when("busy").then(pl.col("team_of_host")).alias("namespace"),
        pl.when("busy")
        .then(pl.concat_str(pl.col("model_of_host"), pl.lit("-"), pl.col("resource_id")))
        .alias("pod"),
        pl.when("busy").then(pl.col("kind")).alias("container"),
        pl.when("busy").then(run).alias("job"),
        pl.when("busy").then(sm).otherwise(0.0).alias("sm_util"),
        pl.when("busy").then(memory).otherwise(0.0).cast(pl.Int64).alias("mem_used_bytes"),
        (IDLE_WATTS + pl.when("busy").then(sm).otherwise(0.0) * WATTS_PER_SM).alias("power_w"),
    )
