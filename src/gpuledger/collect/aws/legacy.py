"""Legacy CUR → CUR 2.0 column names, so one mapping serves both report generations.

Collect step, AWS: the legacy Cost and Usage Report spells columns ``category/Name``
(``lineItem/UnblendedCost``) and gives each activated tag a column of its own
(``resourceTags/user:team``); its Parquet flavour writes ``line_item_unblended_cost`` and
``resource_tags_user_team``. CUR 2.0 names the same facts ``line_item_unblended_cost`` and keeps
tags in one ``resource_tags`` map. This module renames the first into the second.
"""

from __future__ import annotations

import re

import polars as pl

from gpuledger.collect.aws.columns import Cur

_TAG_PREFIXES = ("resourceTags/", "resource_tags_")
_CATEGORY_PREFIXES = ("costCategory/", "cost_category_")
_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def is_legacy(columns: list[str]) -> bool:
    """Whether a header is the legacy CUR's ``category/Name`` spelling."""
    return any("/" in name for name in columns) and "lineItem/LineItemType" in columns


def cur2_name(legacy: str) -> str:
    """``lineItem/UnblendedCost`` → ``line_item_unblended_cost``; snake names pass unchanged.

    CUR 2.0 splits every capital, so ``savingsPlan/SavingsPlanARN`` becomes
    ``savings_plan_savings_plan_a_r_n``, as AWS spells it.
    """
    if "/" not in legacy:
        return legacy
    category, name = legacy.split("/", 1)
    return f"{_snake(category)}_{_snake(name)}"


def _snake(camel: str) -> str:
    return _UPPER.sub("_", camel).lower()


def to_cur2_names(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Rename legacy columns to CUR 2.0 and fold per-tag columns into the two map columns."""
    names = frame.collect_schema().names()
    tags = {name: _strip(name, _TAG_PREFIXES) for name in names if name.startswith(_TAG_PREFIXES)}
    categories = {
        name: _strip(name, _CATEGORY_PREFIXES)
        for name in names
        if name.startswith(_CATEGORY_PREFIXES)
    }
    folded = set(tags) | set(categories)
    renamed = {name: cur2_name(name) for name in names if name not in folded}
    return frame.select(
        *(pl.col(old).alias(new) for old, new in renamed.items()),
        *([_entries(tags).alias(Cur.resource_tags)] if tags else []),
        *([_entries(categories).alias(Cur.cost_category)] if categories else []),
    )


def _strip(name: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _entries(columns: dict[str, str]) -> pl.Expr:
    """One ``[{key, value}]`` list per row from per-key columns, keeping only keys with a value."""
    pairs = pl.concat_list(
        pl.struct(
            pl.lit(key, dtype=pl.String).alias("key"),
            pl.col(column).cast(pl.String).alias("value"),
        )
        for column, key in columns.items()
    )
    value = pl.element().struct.field("value")
    return pairs.list.eval(pl.element().filter(value.is_not_null() & (value != "")))
