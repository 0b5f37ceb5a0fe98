"""A straightforward pandas implementation of the attribution rules, for the benchmark only.

It applies the rules of :mod:`gpuledger.engine.attribution.attribute` the way an analyst would write them in
idiomatic pandas (merges, ``groupby().transform``, ``apply`` for tags), in float64, and returns
team × model totals per currency. The benchmark checks that the engine gives the same totals (to
the cent) and compares speed and memory. It is not used by gpuledger itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from gpuledger.config import Settings, SharedPool, canonical_team
from gpuledger.period import Period
from gpuledger.schema import IDLE_MODEL, NO_TELEMETRY_MODEL, UNALLOCATED, UNLABELLED

WORK_COLUMNS = ["namespace", "pod", "job", "pid_command"]


def _tag(tags: Any, keys: Iterable[str]) -> tuple[str | None, str | None]:
    """(value, key) of the first configured key present in a row's tags, case-insensitive."""
    if tags is None or len(tags) == 0:
        return None, None
    found: dict[str, Any] = {}
    for tag in tags:
        found.setdefault(str(tag["key"]).casefold(), tag["value"])
    for key in dict.fromkeys(keys):
        value = found.get(key.casefold())
        if value is not None and str(value).strip():
            return value, key
    return None, None


def _tag_owner(tags: Any, settings: Settings) -> tuple[str | None, str | None, str | None]:
    """(canonical team, ``tag:<key>``, model) that a row's tags name; Nones when they don't."""
    team, key = _tag(tags, _distinct(settings.tags.team))
    model, _ = _tag(tags, settings.tags.model)
    if team is None:
        return None, None, model
    return canonical_team(settings, team), f"tag:{key}", model


def _owners(cost: pd.DataFrame, settings: Settings, accounts: dict[str, str]) -> pd.DataFrame:
    """Owner team, rule and model of each row: tags → account map → regex → unallocated."""
    tagged = pd.DataFrame(
        [_tag_owner(tags, settings) for tags in cost["Tags"]],
        columns=["owner_team", "owner_rule", "owner_model"],
        index=cost.index,
    )
    for column in ("SubAccountId", "SubAccountName", "BillingAccountId"):
        mapped = cost[column].map(accounts)
        hit = tagged["owner_team"].isna() & mapped.notna()
        tagged.loc[hit, "owner_team"] = mapped[hit]
        tagged.loc[hit, "owner_rule"] = "account-map"
    for rule in settings.rules.regex:
        matches = cost[rule.field].str.contains(rule.pattern, regex=True, na=False)
        hit = tagged["owner_team"].isna() & matches
        tagged.loc[hit, "owner_team"] = canonical_team(settings, rule.team) or rule.team
        tagged.loc[hit, "owner_rule"] = f"regex:{rule.pattern}"
        if rule.model:
            tagged.loc[hit & tagged["owner_model"].isna(), "owner_model"] = rule.model
    tagged["owner_rule"] = tagged["owner_rule"].fillna("unallocated")
    tagged["owner_team"] = tagged["owner_team"].fillna(UNALLOCATED)
    tagged["owner_model"] = tagged["owner_model"].fillna(UNLABELLED)
    return tagged


def _distinct(keys: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for key in keys:
        seen.setdefault(key.casefold(), key)
    return list(seen.values())


def _nature(cost: pd.DataFrame) -> pd.Series:
    category = cost["ChargeCategory"]
    nature = pd.Series("usage", index=cost.index, dtype=object)
    commitment = (category == "Purchase") | cost["x_LineItemType"].isin(
        ["RIFee", "SavingsPlanRecurringFee"]
    )
    nature[commitment] = "commitment"
    for name, label in (("Tax", "tax"), ("Credit", "credit"), ("Adjustment", "adjustment")):
        nature[category == name] = label
    return nature


def _pool_of(cost: pd.DataFrame, pools: list[SharedPool]) -> pd.Series:
    result = pd.Series(None, index=cost.index, dtype=object)
    for pool in reversed(pools):
        hit = pd.Series(True, index=cost.index)
        named = False
        if pool.services:
            hit &= cost["ServiceName"].isin(pool.services)
            named = True
        if pool.charge_categories:
            hit &= cost["ChargeCategory"].isin(pool.charge_categories)
            named = True
        if pool.accounts:
            hit &= (
                cost[["SubAccountId", "SubAccountName", "BillingAccountId"]]
                .isin(pool.accounts)
                .any(axis=1)
            )
            named = True
        if pool.cost_types:
            hit &= cost["_nature"].isin(pool.cost_types)
            named = True
        for key, value in pool.tag.items():
            hit &= cost["Tags"].apply(lambda tags, k=key: _tag(tags, [k])[0]) == value
            named = True
        if named:
            result[hit] = pool.name
    return result


def hourly_usage(usage: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    """GPU-seconds per (resource, hour, workload), idle rows marked, as in gpu_weights."""
    usage = usage[(usage["bucket_start"] >= start) & (usage["bucket_start"] < end)]
    usage = usage[usage["ResourceId"].notna()].copy()
    usage["is_work"] = usage[WORK_COLUMNS].notna().any(axis=1)
    activity = usage["active_seconds"].fillna(0) * usage["sm_util"].fillna(0)
    usage["activity"] = activity.where(usage["is_work"], 0.0)
    slices = usage["mig_profile"].str.extract(r"^(\d+)g\.")[0].astype(float)
    total = np.where(usage["gpu_model"].str.contains("(?i)a30", na=False), 4.0, 7.0)
    slot: pd.Series = (
        (slices / total).clip(0, 1).fillna(1.0).where(usage["mig_profile"].notna(), 1.0)
    )
    bucket = usage.groupby(["ResourceId", "gpu_uuid", "bucket_start"], dropna=False)
    bucket_activity = bucket["activity"].transform("sum")
    workloads = bucket["is_work"].transform("sum")
    rows = bucket["is_work"].transform("size")
    share = np.where(
        usage["is_work"],
        np.where(
            bucket_activity > 0,
            usage["activity"] / bucket_activity.replace(0, 1),
            1 / workloads.clip(lower=1),
        ),
        np.where(workloads == 0, 1 / rows, 0.0),
    )
    usage["gpu_seconds"] = usage["bucket_seconds"] * slot * share
    usage["hour"] = usage["bucket_start"].dt.floor("h")
    pod = (usage["namespace"].fillna("") + "/" + usage["pod"]).str.lstrip("/")
    usage["workload"] = pod.fillna(usage["job"]).fillna(usage["pid_command"])
    keys = ["ResourceId", "hour", "is_work", "team", "model", "workload"]
    return usage.groupby(keys, dropna=False, as_index=False)["gpu_seconds"].sum()


def _fractions(hourly: pd.DataFrame, gpus: pd.Series) -> pd.DataFrame:
    covered = hourly.groupby(["ResourceId", "hour"])["gpu_seconds"].sum()
    seen = np.ceil(covered.groupby("ResourceId").max() / 3600 - 1e-9).clip(lower=1)
    count = gpus[gpus > 0].reindex(seen.index.union(gpus.index)).fillna(seen).fillna(1.0)
    work = hourly[hourly["is_work"]].rename(columns={"team": "team_label", "model": "model_label"})
    work["fraction"] = work["gpu_seconds"] / (work["ResourceId"].map(count) * 3600)
    total = work.groupby(["ResourceId", "hour"])["fraction"].transform("sum")
    work.loc[total > 1, "fraction"] = work["fraction"] / total
    return work


def _hours(cost: pd.DataFrame) -> pd.DataFrame:
    """Telemetry cost rows once per hour of their charge period, with the hour's weight."""
    start, end = cost["ChargePeriodStart"], cost["ChargePeriodEnd"]
    hourly = (end - start == pd.Timedelta(hours=1)) & (start == start.dt.floor("h"))
    simple: pd.DataFrame = cost[hourly].assign(hour=start[hourly], weight=1.0)
    others = cost[~hourly].copy()
    if others.empty:
        return simple
    others["hour"] = [
        list(pd.date_range(s.floor("h"), max(e - pd.Timedelta(microseconds=1), s), freq="h"))
        for s, e in zip(others["ChargePeriodStart"], others["ChargePeriodEnd"], strict=True)
    ]
    others = others.explode("hour")
    others["hour"] = pd.to_datetime(others["hour"], utc=True)
    length = (others["ChargePeriodEnd"] - others["ChargePeriodStart"]).dt.total_seconds()
    overlap = (
        np.minimum(others["ChargePeriodEnd"], others["hour"] + pd.Timedelta(hours=1))
        - np.maximum(others["ChargePeriodStart"], others["hour"])
    ).dt.total_seconds()
    others["weight"] = np.where(length > 0, overlap / length.replace(0, 1), 1.0)
    both: pd.DataFrame = pd.concat([simple, others], ignore_index=True)
    return both


def _telemetry(cost: pd.DataFrame, hourly: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    gpus = cost.groupby("ResourceId")["x_GpuCount"].max()
    fractions = _fractions(hourly, gpus)
    cost = cost.reset_index(drop=True).assign(row=lambda f: f.index)
    hours = _hours(cost)
    reported = hourly[["ResourceId", "hour"]].drop_duplicates().assign(reported=True)
    hours = hours.merge(reported, on=["ResourceId", "hour"], how="left")
    silent = hours[hours["reported"].isna()].assign(model=NO_TELEMETRY_MODEL)
    silent["part"] = silent["amount"] * silent["weight"]
    silent["team"] = silent["owner_team"]
    pieces = hours[hours["reported"].notna()].merge(fractions, on=["ResourceId", "hour"])
    pieces["part"] = pieces["amount"] * pieces["weight"] * pieces["fraction"]
    team = pieces["team_label"].map(
        lambda t: canonical_team(settings, t) if isinstance(t, str) else None
    )
    pieces["team"] = team.fillna(pieces["owner_team"])
    pieces["model"] = pieces["model_label"].fillna(pieces["owner_model"])
    pieces = pd.concat([pieces.assign(labelled=team.notna()), silent.assign(labelled=False)])
    used = pieces.groupby("row")["part"].sum()
    idle = cost.assign(part=cost["amount"] - cost["row"].map(used).fillna(0.0))
    if settings.reporting.idle == "owner":
        idle["team"] = idle["owner_team"]
    elif settings.reporting.idle == "unallocated":
        idle["team"] = UNALLOCATED
    else:
        users = (
            pieces[pieces["labelled"]].groupby(["ResourceId", "team"])["part"].sum().reset_index()
        )
        users = users[users["part"] > 0]
        users["share"] = users["part"] / users.groupby("ResourceId")["part"].transform("sum")
        idle = idle.merge(users[["ResourceId", "team", "share"]], on="ResourceId", how="left")
        idle["part"] = idle["part"] * idle["share"].fillna(1.0)
        idle["team"] = idle["team"].fillna(idle["owner_team"])
    idle["model"] = IDLE_MODEL
    return pd.concat(
        [pieces[["team", "model", "currency", "part"]], idle[["team", "model", "currency", "part"]]]
    ).rename(columns={"part": "amount"})


def _pools(pooled: pd.DataFrame, direct: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    summed = direct[direct["team"] != UNALLOCATED].groupby(["currency", "team"])["amount"].sum()
    totals = summed[summed > 0].reset_index()
    parts = []
    for pool in settings.rules.shared:
        rows = pooled[pooled["_pool"] == pool.name]
        if rows.empty:
            continue
        if pool.split == "fixed":
            weights: dict[str, float] = {}
            for name, weight in pool.weights.items():
                team = canonical_team(settings, name) or name
                weights[team] = weights.get(team, 0.0) + weight
            positive = {t: w for t, w in weights.items() if w > 0}
            shares = pd.DataFrame(
                [
                    (c, t, w / sum(positive.values()))
                    for c in rows["currency"].unique()
                    for t, w in positive.items()
                ],
                columns=["currency", "team", "share"],
            )
        elif pool.split == "proportional":
            shares = totals.assign(
                share=totals["amount"] / totals.groupby("currency")["amount"].transform("sum")
            )
        else:
            shares = totals.assign(share=1 / totals.groupby("currency")["amount"].transform("size"))
        split = rows.merge(shares[["currency", "team", "share"]], on="currency", how="left")
        split["team"] = split["team"].fillna(UNALLOCATED)
        split["amount"] = split["amount"] * split["share"].fillna(1.0)
        split["model"] = UNLABELLED
        parts.append(split[["team", "model", "currency", "amount"]])
    return pd.concat(parts) if parts else direct.iloc[0:0]


def attribute_totals(
    cost: pd.DataFrame, usage: pd.DataFrame, settings: Settings, period: str
) -> pd.DataFrame:
    """Team × model × currency totals of the period by the engine's rules, in float64."""
    start, end = (pd.Timestamp(t) for t in Period.parse(period).bounds())
    cost = cost[cost["x_BillingPeriod"] == period].copy()
    cost["amount"] = cost[settings.reporting.cost_basis].astype(float).fillna(0.0)
    cost["ResourceId"] = cost["x_ParentResourceId"].fillna(cost["ResourceId"])
    cost["currency"] = cost["BillingCurrency"]
    cost["_nature"] = _nature(cost)
    cost["_pool"] = _pool_of(cost, settings.rules.shared)
    hourly = hourly_usage(usage, start, end)
    accounts = {a: t for t, c in settings.teams.items() for a in c.accounts}
    accounts.update(
        {a: canonical_team(settings, t) or t for a, t in settings.rules.account_map.items()}
    )
    cost[["owner_team", "owner_rule", "owner_model"]] = _owners(cost, settings, accounts)
    pooled = cost[cost["_pool"].notna()]
    rest = cost[cost["_pool"].isna()]
    measured = rest["ResourceId"].isin(set(hourly["ResourceId"]))
    owned = rest[~measured].rename(columns={"owner_team": "team", "owner_model": "model"})
    direct = pd.concat(
        [
            owned[["team", "model", "currency", "amount"]],
            _telemetry(rest[measured], hourly, settings),
        ]
    )
    everything = pd.concat([direct, _pools(pooled, direct, settings)])
    totals: pd.DataFrame = everything.groupby(["currency", "team", "model"], as_index=False)[
        ["amount"]
    ].sum()
    return totals
