"""Ownership rules as Polars expressions: who owns a cost row when telemetry does not say.

Rules apply in this order of precedence, first match wins (rule 4 of
:mod:`gpuledger.engine.attribution.attribute`): resource tags (the configured ``[tags] team`` keys, in order,
compared case-insensitively) → Kubernetes pod labels (``k8s-label/<key>`` for those keys; rule
``k8s:label``) → Kubernetes namespaces (``k8s-namespace`` matched against each team's
``namespaces`` globs, teams in config order; rule ``k8s:namespace``) → the account map
(``[rules.account_map]`` and each team's ``accounts``, matched on SubAccountId, then
SubAccountName, then BillingAccountId) → regex rules (``[[rules.regex]]`` in order, ``re.search``
on the named field) → ``(unallocated)``. Team names go through
:func:`gpuledger.config.canonical_team`, so aliases and spellings meet in one team. Model: the
first ``[tags] model`` tag, else the pod's ``k8s-label/<model key>``, else the regex rule's
model; workload: the first ``[tags] workload`` tag, else the pod's ``k8s-label/<workload key>``,
else the namespace.

A Kubernetes node's unused capacity (GKE's namespace ``kube:unallocated``, EKS's split unused cost
tagged ``k8s-unused`` by :mod:`gpuledger.engine.attribution.k8s`) is idle cost (cost type
``idle``, model ``(idle)``) and follows ``[reporting] idle``: ``owner`` → the owner by the rules
above without the Kubernetes ones (rule ``idle:owner``); ``shared`` → the team of the pod it was
split to (rule ``idle:shared``), else the owner; ``unallocated`` → ``(unallocated)`` (rule
``idle:unallocated``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from gpuledger.config import Settings, SharedPool, canonical_team
from gpuledger.engine.attribution.k8s import (
    LABEL_PREFIX,
    NAMESPACE_TAG,
    UNUSED_NAMESPACES,
    UNUSED_TAG,
    namespace_teams,
)
from gpuledger.schema import IDLE_MODEL, UNALLOCATED, UNLABELLED, Cost

OWNER_TEAM: Final = "_owner_team"
OWNER_RULE: Final = "_owner_rule"
OWNER_MODEL: Final = "_owner_model"
OWNER_WORKLOAD: Final = "_owner_workload"
NATURE: Final = "_nature"  # usage | tax | credit | adjustment | commitment: what the row is

# Provider line types whose amortized cost is the unused part of a commitment.
UNUSED_COMMITMENT_LINE_TYPES: Final = ("RIFee", "SavingsPlanRecurringFee")
_ACCOUNT_COLUMNS: Final = (Cost.SubAccountId, Cost.SubAccountName, Cost.BillingAccountId)


def nature() -> pl.Expr:
    """What a cost row is, from its FOCUS charge category (and the provider's line type)."""
    category = pl.col(Cost.ChargeCategory)
    return (
        pl.when(category == "Tax")
        .then(pl.lit("tax"))
        .when(category == "Credit")
        .then(pl.lit("credit"))
        .when(category == "Adjustment")
        .then(pl.lit("adjustment"))
        .when(
            (category == "Purchase")
            | pl.col(Cost.x_LineItemType).is_in(UNUSED_COMMITMENT_LINE_TYPES).fill_null(False)
        )
        .then(pl.lit("commitment"))
        .otherwise(pl.lit("usage"))
    )


def cost_type(team: pl.Expr, usage_type: str = "usage") -> pl.Expr:
    """Allocation cost type: non-usage rows keep their :data:`NATURE` (tax, credit, …); usage
    rows are ``usage_type`` (``usage`` or ``idle``), and ``unallocated`` usage on no team."""
    unallocated = (team == UNALLOCATED) if usage_type == "usage" else pl.lit(False)
    return (
        pl.when(pl.col(NATURE) != "usage")
        .then(pl.col(NATURE))
        .when(unallocated)
        .then(pl.lit("unallocated"))
        .otherwise(pl.lit(usage_type))
    )


def _distinct_keys(keys: Sequence[str]) -> list[str]:
    """Tag keys in order, without case-insensitive repeats (``team`` and ``Team`` are one key)."""
    seen: dict[str, str] = {}
    for key in keys:
        seen.setdefault(key.casefold(), key)
    return list(seen.values())


def tag_value(key: str) -> pl.Expr:
    """The value of tag ``key`` (case-insensitive) on a row; null when absent or blank."""
    wanted = key.casefold()
    value = (
        pl.col(Cost.Tags)
        .list.eval(
            pl.element()
            .filter(pl.element().struct.field("key").str.to_lowercase() == wanted)
            .struct.field("value")
        )
        .list.first()
    )
    return pl.when(value.str.strip_chars() != "").then(value)


def first_tag(keys: Sequence[str]) -> tuple[pl.Expr, pl.Expr]:
    """The first configured tag key present on a row: (its value, ``tag:<key>``)."""
    distinct = _distinct_keys(keys)
    values = [tag_value(key) for key in distinct]
    if not values:
        return pl.lit(None, dtype=pl.String), pl.lit(None, dtype=pl.String)
    rule: pl.Expr = pl.lit(None, dtype=pl.String)
    for key, value in reversed(list(zip(distinct, values, strict=True))):
        rule = pl.when(value.is_not_null()).then(pl.lit(f"tag:{key}")).otherwise(rule)
    return pl.coalesce(values), rule


def account_map(settings: Settings) -> dict[str, str]:
    """Account id or name → canonical team: each team's ``accounts``, then ``rules.account_map``."""
    mapping: dict[str, str] = {}
    for team, team_config in settings.teams.items():
        for account in team_config.accounts:
            mapping[account] = team
    for account, team in settings.rules.account_map.items():
        mapping[account] = canonical_team(settings, team) or team
    return mapping


def account_team(settings: Settings) -> pl.Expr:
    """The team the account map gives a row (SubAccountId, SubAccountName, BillingAccountId)."""
    mapping = account_map(settings)
    if not mapping:
        return pl.lit(None, dtype=pl.String)
    return pl.coalesce(
        pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.String)
        for column in _ACCOUNT_COLUMNS
    )


def regex_owner(settings: Settings) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(team, model, ``regex:<pattern>``) of the first regex rule matching a row, else nulls."""
    team: pl.Expr = pl.lit(None, dtype=pl.String)
    model: pl.Expr = pl.lit(None, dtype=pl.String)
    rule: pl.Expr = pl.lit(None, dtype=pl.String)
    for regex in reversed(settings.rules.regex):
        hit = pl.col(regex.field).str.contains(regex.pattern).fill_null(False)
        team = pl.when(hit).then(pl.lit(canonical_team(settings, regex.team))).otherwise(team)
        model = pl.when(hit).then(pl.lit(regex.model, dtype=pl.String)).otherwise(model)
        rule = pl.when(hit).then(pl.lit(f"regex:{regex.pattern}")).otherwise(rule)
    return team, model, rule


def canonical_teams(names: pl.Expr, settings: Settings) -> pl.Expr:
    """Map raw team names (tag values, telemetry labels) to canonical teams, value by value.

    The mapping is computed once per distinct value, so it is cheap on any number of rows.
    """

    def _map(series: pl.Series) -> pl.Series:
        distinct = series.drop_nulls().unique().to_list()
        mapping = {name: canonical_team(settings, name) for name in distinct}
        return series.replace_strict(mapping, default=None, return_dtype=pl.String)

    return names.map_batches(_map, return_dtype=pl.String, is_elementwise=True)


def namespace_team(namespace: pl.Expr, settings: Settings) -> pl.Expr:
    """The team whose ``namespaces`` globs match a namespace, computed once per distinct value."""

    def _map(series: pl.Series) -> pl.Series:
        owners = namespace_teams(settings, series.drop_nulls().unique().to_list())
        return series.replace_strict(owners, default=None, return_dtype=pl.String)

    return namespace.map_batches(_map, return_dtype=pl.String, is_elementwise=True)


def _label_keys(keys: Sequence[str]) -> list[str]:
    return [f"{LABEL_PREFIX}{key}" for key in keys]


_TAG_TEAM: Final = "_tag_team"
_TAG_RULE: Final = "_tag_rule"
_TAG_MODEL: Final = "_tag_model"
_TAG_WORKLOAD: Final = "_tag_workload"
_K8S_TEAM: Final = "_k8s_team"
_K8S_RULE: Final = "_k8s_rule"
_K8S_MODEL: Final = "_k8s_model"
_K8S_WORKLOAD: Final = "_k8s_workload"
_K8S_UNUSED: Final = "_k8s_unused"
TAG_ANSWERS: Final = (
    _TAG_TEAM,
    _TAG_RULE,
    _TAG_MODEL,
    _TAG_WORKLOAD,
    _K8S_TEAM,
    _K8S_RULE,
    _K8S_MODEL,
    _K8S_WORKLOAD,
    _K8S_UNUSED,
)


def _k8s_answers(settings: Settings) -> list[pl.Expr]:
    """What a row's Kubernetes labels say: team and rule (pod label, then namespace), model,
    workload, and whether it is a node's unused capacity."""
    label_team, _ = first_tag(_label_keys(settings.tags.team))
    label_team = canonical_teams(label_team, settings)
    namespace = tag_value(NAMESPACE_TAG)
    by_namespace = namespace_team(namespace, settings)
    label_model, _ = first_tag(_label_keys(settings.tags.model))
    label_workload, _ = first_tag(_label_keys(settings.tags.workload))
    unused = (tag_value(UNUSED_TAG) == "true").fill_null(False) | namespace.is_in(
        UNUSED_NAMESPACES
    ).fill_null(False)
    return [
        pl.coalesce(label_team, by_namespace).alias(_K8S_TEAM),
        pl.when(label_team.is_not_null())
        .then(pl.lit("k8s:label"))
        .when(by_namespace.is_not_null())
        .then(pl.lit("k8s:namespace"))
        .alias(_K8S_RULE),
        label_model.alias(_K8S_MODEL),
        pl.coalesce(label_workload, namespace).alias(_K8S_WORKLOAD),
        unused.alias(_K8S_UNUSED),
    ]


def tag_owners(frame: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """What the tags of each distinct tag set say: :data:`TAG_ANSWERS` (teams canonical).

    Rows share a handful of tag sets, so reading tags once per set and joining the answer back
    is much cheaper than reading them on every row.
    """
    team, rule = first_tag(settings.tags.team)
    model, _ = first_tag(settings.tags.model)
    workload, _ = first_tag(settings.tags.workload)
    return (
        frame.select(Cost.Tags)
        .unique()
        .with_columns(
            canonical_teams(team, settings).alias(_TAG_TEAM),
            rule.alias(_TAG_RULE),
            model.alias(_TAG_MODEL),
            workload.alias(_TAG_WORKLOAD),
            *_k8s_answers(settings),
        )
    )


def with_tag_owners(frame: pl.DataFrame, settings: Settings) -> pl.LazyFrame:
    """``frame`` with :data:`TAG_ANSWERS`: what its tags say, read once per distinct tag set."""
    answers = tag_owners(frame.lazy(), settings).collect()
    return frame.lazy().join(answers.lazy(), on=Cost.Tags, how="left", nulls_equal=True)


def with_owners(frame: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """``frame`` (with :data:`TAG_ANSWERS` and :data:`NATURE`) with the owner of each row by the
    precedence above.

    :data:`OWNER_TEAM` (canonical, ``(unallocated)`` when no rule matches), :data:`OWNER_RULE`,
    :data:`OWNER_MODEL` and :data:`OWNER_WORKLOAD`. A node's unused capacity becomes
    :data:`NATURE` ``idle`` (when it was ``usage``) and goes by ``[reporting] idle``.
    """
    account = account_team(settings)
    regex_team, regex_model, regex_rule = regex_owner(settings)
    tag_team, k8s_team = pl.col(_TAG_TEAM), pl.col(_K8S_TEAM)
    owner = pl.coalesce(tag_team, account, regex_team, pl.lit(UNALLOCATED))
    owner_rule = (
        pl.when(tag_team.is_not_null())
        .then(pl.col(_TAG_RULE))
        .when(account.is_not_null())
        .then(pl.lit("account-map"))
        .when(regex_team.is_not_null())
        .then(regex_rule)
        .otherwise(pl.lit("unallocated"))
    )
    team = pl.coalesce(tag_team, k8s_team, owner)
    rule = (
        pl.when(tag_team.is_null() & k8s_team.is_not_null())
        .then(pl.col(_K8S_RULE))
        .otherwise(owner_rule)
    )
    idle_team, idle_rule = _idle_owner(settings, owner, k8s_team)
    unused = pl.col(_K8S_UNUSED).fill_null(False)
    model = pl.coalesce(pl.col(_TAG_MODEL), pl.col(_K8S_MODEL), regex_model, pl.lit(UNLABELLED))
    return frame.with_columns(
        pl.when(unused).then(idle_team).otherwise(team).alias(OWNER_TEAM),
        pl.when(unused).then(idle_rule).otherwise(rule).alias(OWNER_RULE),
        pl.when(unused).then(pl.lit(IDLE_MODEL)).otherwise(model).alias(OWNER_MODEL),
        pl.when(~unused)
        .then(pl.coalesce(pl.col(_TAG_WORKLOAD), pl.col(_K8S_WORKLOAD)))
        .alias(OWNER_WORKLOAD),
        pl.when(unused & (pl.col(NATURE) == "usage"))
        .then(pl.lit("idle"))
        .otherwise(pl.col(NATURE))
        .alias(NATURE),
    ).drop(*TAG_ANSWERS)


def _idle_owner(settings: Settings, owner: pl.Expr, k8s_team: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(team, rule) of a node's unused capacity under ``[reporting] idle``."""
    policy = settings.reporting.idle
    if policy == "unallocated":
        return pl.lit(UNALLOCATED), pl.lit("idle:unallocated")
    if policy == "shared":
        return pl.coalesce(k8s_team, owner), pl.when(k8s_team.is_not_null()).then(
            pl.lit("idle:shared")
        ).otherwise(pl.lit("idle:owner"))
    return owner, pl.lit("idle:owner")


def pool_match(pool: SharedPool) -> pl.Expr:
    """Whether a row belongs to a shared pool: every criterion the pool names must hold.

    A pool that names no criterion matches nothing (it would otherwise swallow the whole bill).
    """
    criteria: list[pl.Expr] = []
    if pool.services:
        criteria.append(pl.col(Cost.ServiceName).is_in(pool.services))
    if pool.charge_categories:
        criteria.append(pl.col(Cost.ChargeCategory).is_in(pool.charge_categories))
    if pool.accounts:
        criteria.append(pl.any_horizontal(pl.col(c).is_in(pool.accounts) for c in _ACCOUNT_COLUMNS))
    if pool.cost_types:
        criteria.append(pl.col(NATURE).is_in(pool.cost_types))
    criteria.extend(tag_value(key) == value for key, value in pool.tag.items())
    if not criteria:
        return pl.lit(False)
    return pl.all_horizontal(criteria).fill_null(False)


def pool_name(settings: Settings) -> pl.Expr:
    """The first configured shared pool a row belongs to, else null (needs :data:`NATURE`)."""
    name: pl.Expr = pl.lit(None, dtype=pl.String)
    for pool in reversed(settings.rules.shared):
        name = pl.when(pool_match(pool)).then(pl.lit(pool.name)).otherwise(name)
    return name
