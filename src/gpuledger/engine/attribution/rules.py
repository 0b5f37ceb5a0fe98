"""Ownership rules as Polars expressions: who owns a cost row when telemetry does not say.

Rules apply in this order of precedence, first match wins (rule 4 of
:mod:`gpuledger.engine.attribution.attribute`): resource tags (the configured ``[tags] team`` keys, in order,
compared case-insensitively) → the account map (``[rules.account_map]`` and each team's
``accounts``, matched on SubAccountId, then SubAccountName, then BillingAccountId) → regex rules
(``[[rules.regex]]`` in order, ``re.search`` on the named field) → ``(unallocated)``. Team names go
through :func:`gpuledger.config.canonical_team`, so aliases and spellings meet in one team.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from gpuledger.config import Settings, SharedPool, canonical_team
from gpuledger.schema import UNALLOCATED, UNLABELLED, Cost

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


_TAG_TEAM: Final = "_tag_team"
_TAG_RULE: Final = "_tag_rule"
_TAG_MODEL: Final = "_tag_model"
_TAG_WORKLOAD: Final = "_tag_workload"
TAG_ANSWERS: Final = (_TAG_TEAM, _TAG_RULE, _TAG_MODEL, _TAG_WORKLOAD)


def tag_owners(frame: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """What the tags of each distinct tag set say: team (canonical), its rule, model, workload.

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
        )
    )


def with_tag_owners(frame: pl.DataFrame, settings: Settings) -> pl.LazyFrame:
    """``frame`` with :data:`TAG_ANSWERS`: what its tags say, read once per distinct tag set."""
    answers = tag_owners(frame.lazy(), settings).collect()
    return frame.lazy().join(answers.lazy(), on=Cost.Tags, how="left", nulls_equal=True)


def with_owners(frame: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """``frame`` (with :data:`TAG_ANSWERS`) with the owner of each row by the precedence above.

    :data:`OWNER_TEAM` (canonical, ``(unallocated)`` when no rule matches), :data:`OWNER_RULE`,
    :data:`OWNER_MODEL` (model tag, else the regex rule's model, else ``(unlabelled)``) and
    :data:`OWNER_WORKLOAD` (workload tag, else null).
    """
    account = account_team(settings)
    regex_team, regex_model, regex_rule = regex_owner(settings)
    team = pl.col(_TAG_TEAM)
    return frame.with_columns(
        pl.coalesce(team, account, regex_team, pl.lit(UNALLOCATED)).alias(OWNER_TEAM),
        pl.when(team.is_not_null())
        .then(pl.col(_TAG_RULE))
        .when(account.is_not_null())
        .then(pl.lit("account-map"))
        .when(regex_team.is_not_null())
        .then(regex_rule)
        .otherwise(pl.lit("unallocated"))
        .alias(OWNER_RULE),
        pl.coalesce(pl.col(_TAG_MODEL), regex_model, pl.lit(UNLABELLED)).alias(OWNER_MODEL),
        pl.col(_TAG_WORKLOAD).alias(OWNER_WORKLOAD),
    ).drop(_TAG_TEAM, _TAG_RULE, _TAG_MODEL, _TAG_WORKLOAD)


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
