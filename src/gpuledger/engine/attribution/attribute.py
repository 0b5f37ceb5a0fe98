"""cost + gpu_usage → allocation: every dollar of a period to a team, a model and a workload.

This is the engine's centre (``gpuledger attribute --period YYYY-MM``). It reads the period's cost
rows (``x_BillingPeriod``) and the telemetry buckets that start inside the month, and writes one
allocation row per (day, provider, account, sub-account, resource, GPU model, service, charge
category, pricing category, currency, team, model, workload, cost type, rule), in the billing
currency. The amount split is the configured cost basis (``[reporting] cost_basis``, EffectiveCost
by default); a null amount counts as zero. A split line's resource is its parent
(``x_ParentResourceId``), so a GPU instance's core, RAM and GPU lines meet.

The rules, exactly as applied:

1. **Shared pools first.** A row that matches a ``[[rules.shared]]`` pool (every criterion the
   pool names: ``services`` on ServiceName, ``charge_categories`` on ChargeCategory, ``accounts`` on
   SubAccountId/SubAccountName/BillingAccountId, ``tag`` key=value pairs, ``cost_types`` on what the
   row is — tax, credit, adjustment, commitment, usage) belongs to the first such pool and is split
   over teams by the pool's ``split`` (see :mod:`gpuledger.engine.attribution.shared`): ``proportional`` to
   each team's direct cost in the period and currency (everything rules 2–4 gave it, idle
   included; ``(unallocated)`` and teams whose direct cost is not positive take no part),
   ``even`` over the teams with a positive direct cost, or ``fixed`` weights. Cost type
   ``shared``, model ``(unlabelled)``, rule ``shared:<pool>``; no team to spread over →
   ``(unallocated)``. A row is a *commitment* when its ChargeCategory is Purchase or its provider
   line type is an unused-commitment fee (RIFee, SavingsPlanRecurringFee).
2. **GPU instances with telemetry.** Every other row whose resource has gpu_usage buckets in the
   month is split by telemetry. An instance's GPU count N is the largest ``x_GpuCount`` on its rows
   in the period (else the most GPUs its telemetry covered in any hour). Each hour of the row's own
   charge period [ChargePeriodStart, ChargePeriodEnd) gets the part of the amount its overlap
   covers; within an hour a workload receives ``its GPU-seconds / (N × 3600)`` of that part, where
   its GPU-seconds come from :mod:`gpuledger.engine.attribution.gpu_weights` (a bucket's ``bucket_seconds`` ×
   the slot's share of its GPU — 1, or MIG slices/total — shared by ``active_seconds × sm_util``,
   equally when all are zero; a bucket counts in the hour its ``bucket_start`` falls in). If the
   workloads of an hour add up to more than the instance's GPUs, their shares are scaled down to
   fill it exactly. What no workload used in a *reported* hour — idle buckets, GPUs or minutes
   without buckets — is **idle**. An hour in which the instance sent no bucket at all (agent down:
   the granularity is the instance-hour) is **no telemetry**: it goes whole to the instance's
   owner by rule 4, model ``(no telemetry)``, cost type ``no_telemetry``, rule
   ``no-telemetry:owner``, and is neither a workload's nor idle (waste never counts it).
   Scheduler allocation rows (``source`` ``slurm``) are merged first: where a GPU was measured,
   the measurement wins and takes the job's labels (``gpu_weights.prefer_measured``).
   A workload's team is its telemetry ``team`` label
   (rule ``telemetry``), else the instance's owner by rule 4 (under that rule's name); its model is
   its ``model`` label, else the owner's model; cost type ``usage``.
3. **Idle GPU time** follows ``[reporting] idle``: ``owner`` (default) → the instance's owner by
   rule 4, model ``(idle)``, rule ``idle:owner``; ``shared`` → the teams whose labelled workloads ran
   on the instance in the period, in proportion to their GPU-seconds there (the owner when there
   are none), rule ``idle:shared``; ``unallocated`` → ``(unallocated)``, rule ``idle:unallocated``.
   Cost type ``idle``.
4. **Everything else** (GPU instances without telemetry and all other spend) goes to its owner, by
   the first rule that names one: the first configured ``[tags] team`` key present on the row
   (case-insensitive; rule ``tag:<key>``) → the pod's Kubernetes label ``k8s-label/<key>`` for
   those keys (rule ``k8s:label``) → its namespace ``k8s-namespace`` matched against each team's
   ``namespaces`` globs, teams in config order (rule ``k8s:namespace``) → the account map
   (``[rules.account_map]``, then each team's ``accounts``, on SubAccountId, SubAccountName,
   BillingAccountId; rule ``account-map``) → ``[[rules.regex]]`` in order (rule
   ``regex:<pattern>``) → ``(unallocated)`` (rule ``unallocated``). Model: the first ``[tags]
   model`` tag, else the pod's ``k8s-label/<model key>``, else the regex rule's model, else
   ``(unlabelled)``; workload: the first ``[tags] workload`` tag, else the pod's
   ``k8s-label/<workload key>``, else the namespace. Team names from tags and telemetry go through
   ``[teams]`` aliases (case-insensitive); unknown names are teams of their own. EKS instance rows
   are first split over their pods' split lines (:mod:`gpuledger.engine.attribution.k8s`); a
   Kubernetes node's unused capacity (GKE ``kube:unallocated``, EKS split unused cost) is cost
   type ``idle``, model ``(idle)``, and follows ``[reporting] idle`` as in rule 3.

Cost types: usage rows keep ``usage`` (``unallocated`` when their team is ``(unallocated)``); tax,
credit, adjustment and commitment rows keep their own type wherever rules 2–4 put them (rule 1
makes every pooled row ``shared``).

GPU-hours are conserved like dollars: per period and GPU model, the allocation's GPU-hours equal
the billed GPU instance-hours × GPUs. Each instance's charge period (the instance is
``coalesce(x_ParentResourceId, ResourceId)``; rows billing the same instance-hour share their
[ChargePeriodStart, ChargePeriodEnd) in every export read) counts ``x_GpuCount × hours`` once,
however many rows bill it — a GCP VM's GPU, core and RAM SKUs, Savings Plan covered usage,
reservation-discounted usage. Only usage rows with a GPU count carry hours; negations
(SavingsPlanNegation), credits, taxes and fees carry none. The hours sit on one of the rows, its
*carrier* (:mod:`gpuledger.engine.attribution.gpu_hours`: the most GPU-hours, then the largest
amount), and are split exactly like that row's cost: over the hour's workloads by their
telemetry shares, the rest to the idle line, an unreported hour to the no-telemetry line, a
pooled row over its pool's teams. Rows without a resource id each carry their own. Amounts split
by a share are settled exactly (:mod:`gpuledger.engine.attribution.money`): each part is a whole number of
nano-units (1e-9), never of the opposite sign of its amount, and the parts of each source group
(rows alike in everything the rules read: source columns, line type, rule inputs, tags) add up to
its amount, so the allocation of a period equals its cost basis per currency, to the last of 18
decimal places. Lines whose cost and GPU-hours are both zero are not written.

How it stays fast (``bench/attribution.py``): telemetry is reduced to GPU-seconds per (instance,
hour, workload) before any cost row is read (:mod:`gpuledger.engine.attribution.gpu_weights`); rows are
grouped by 64-bit keys folded from per-column hashes (:mod:`gpuledger.engine.attribution.keys`), checked by a
second key so that a collision falls back to exact grouping; only numbers are held per row, and
the strings of a group are read back from one of its rows; the rules run once per group. GPU-hour
carriers are chosen per 64-bit instance key, checked by a second key the same way.

Two phases, so that the same rules also run on Spark (:mod:`gpuledger.engine.spark`):
:func:`instance_lines` does all that reads one instance's rows at a time — rules 2–4 with their
settling, and the source groups of pooled rows — and
:func:`~gpuledger.engine.attribution.period_wide.period_allocation` what needs the whole period:
rule 1's split by the teams' direct cost, and the final lines. :func:`attribute` runs both in this
process; the Spark engine runs the first once per partition of instances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.attribution import gpu_weights as gw
from gpuledger.engine.attribution.gpu_hours import (
    INSTANCE,
    carried_once,
    carriers,
    keyed_carriers,
    row_gpu_hours,
)
from gpuledger.engine.attribution.gpu_split import GPU_HOURS, GPUS, SOURCE, telemetry_allocation
from gpuledger.engine.attribution.k8s import split_eks_pods
from gpuledger.engine.attribution.keys import disagrees, row_key
from gpuledger.engine.attribution.money import AMOUNT, AMOUNT_F
from gpuledger.engine.attribution.period_wide import (
    INSTANCE_LINES_SCHEMA,
    SOURCE_KEYS,
    period_allocation,
)
from gpuledger.engine.attribution.rules import (
    NATURE,
    OWNER_MODEL,
    OWNER_RULE,
    OWNER_TEAM,
    OWNER_WORKLOAD,
    cost_type,
    nature,
    pool_name,
    with_owners,
    with_tag_owners,
)
from gpuledger.engine.attribution.shared import POOL
from gpuledger.engine.attribution.sums import exact_sum
from gpuledger.period import Period
from gpuledger.progress import progress_bar
from gpuledger.schema import MONEY, UNALLOCATED, Alloc, Cost, Usage
from gpuledger.store.delta import Store

TELEMETRY: Final = "_telemetry"
# An engine: the allocation of a period (ALLOCATION_SCHEMA) from a store and the settings.
Allocator = Callable[[Store, Settings, str], pl.DataFrame]

# A source group: the source columns, what the row is, its pool and its owner (rule 4).
SOURCE_GROUP: Final = (
    *SOURCE_KEYS,
    NATURE,
    POOL,
    TELEMETRY,
    OWNER_TEAM,
    OWNER_RULE,
    OWNER_MODEL,
    OWNER_WORKLOAD,
)
# Two independent seeds: groups are numbered by the first hash and the second checks the numbers.
_GROUP_SEED: Final = 0x736F7572
_CHECK_SEED: Final = 0x63686563
_CHECK: Final = "_check"
_ROW: Final = "_row"
_INSTANCE_CHECK: Final = "_instance_check"
_INSTANCE_CHECK_SEED: Final = 0x696E7374


def _rule_inputs(settings: Settings) -> list[str]:
    """Cost columns the pool, account and regex rules read, beyond the allocation's own."""
    regex_fields = {rule.field for rule in settings.rules.regex}
    return sorted({Cost.SubAccountName, Cost.x_LineItemType, *regex_fields} - set(SOURCE_KEYS))


def source_inputs(settings: Settings) -> list[pl.Expr]:
    """What the rules read of a cost row, tags aside: the source columns and the rule inputs."""
    derived = {
        Alloc.ResourceId: pl.coalesce(Cost.x_ParentResourceId, Cost.ResourceId),
        Alloc.day: pl.col(Cost.ChargePeriodStart).dt.date(),
        Alloc.currency: pl.col(Cost.BillingCurrency),
    }
    columns = [*SOURCE_KEYS, *_rule_inputs(settings)]
    return [derived.get(name, pl.col(name)).alias(name) for name in columns]


def prepare_costs(
    cost: pl.LazyFrame, hourly: pl.DataFrame, settings: Settings, period: str, resource_seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The period's cost rows, read once, as source groups and the rows of measured instances.

    Returns ``(measured, sources)``. ``sources`` has one row per source group — the allocation's
    source columns, :data:`NATURE`, :data:`POOL`, :data:`TELEMETRY` and the owner by rule 4 — with
    its exact :data:`AMOUNT`, its float :data:`AMOUNT_F`, :data:`GPU_HOURS` and :data:`GPUS`
    (largest ``x_GpuCount``). ``measured`` has the rows of telemetry instances one by one — rule 2
    weighs each hour of their charge period — as their group's number (:data:`SOURCE`), their
    instance's key (under ``resource_seed``), charge period and measures.

    Rows are grouped on what the rules read (:func:`source_inputs` and the tags), so the rules
    run once per group instead of once per row, and only numbers are held per row: a group's
    columns and tags are read back from its first row. A group's number is a 64-bit hash of those
    columns; a second hash checks it, and should two groups ever share a number they are
    numbered exactly instead (a dense rank), so a collision costs time, never money.
    """
    period_rows = cost.filter(pl.col(Cost.x_BillingPeriod) == period).with_row_index(_ROW)
    inputs = [*source_inputs(settings), pl.col(Cost.Tags)]
    basis = pl.col(settings.reporting.cost_basis).fill_null(Decimal(0)).cast(MONEY)
    every_row = period_rows.select(
        _ROW,
        row_key(inputs, _GROUP_SEED).alias(SOURCE),
        row_key(inputs, _CHECK_SEED).alias(_CHECK),
        pl.when(INSTANCE.is_not_null())
        .then(gw.resource_key(INSTANCE, resource_seed))
        .alias(gw.RESOURCE),
        row_key([INSTANCE], _INSTANCE_CHECK_SEED).alias(_INSTANCE_CHECK),
        basis.alias(AMOUNT),
        row_gpu_hours().alias(GPU_HOURS),
        pl.col(Cost.x_GpuCount).alias(GPUS),
        Cost.ChargePeriodStart,
        Cost.ChargePeriodEnd,
    ).collect(engine="streaming")
    chosen = keyed_carriers(
        every_row.lazy(),
        row=_ROW,
        instance=gw.RESOURCE,
        check=_INSTANCE_CHECK,
        hours=GPU_HOURS,
        amount=AMOUNT,
    )
    carrier_rows = carriers(period_rows, _ROW, basis) if chosen is None else chosen.lazy()
    rows = carried_once(
        every_row.lazy().drop(_INSTANCE_CHECK),
        carrier_rows,
        row=_ROW,
        instance=gw.RESOURCE,
        hours=GPU_HOURS,
    ).collect(engine="streaming")
    del every_row
    groups = source_groups(rows)
    if groups.get_column("_collided").any():
        rows = _number_exactly(rows, period_rows.select(_ROW, *inputs))
        groups = source_groups(rows)
    representatives = (
        period_rows.filter(pl.col(_ROW).is_in(groups.get_column(_ROW).implode()))
        .select(_ROW, *inputs)
        .join(groups.lazy(), on=_ROW)
        .collect(engine="streaming")
    )
    measured_ids = hourly.get_column(Usage.ResourceId).unique()
    sources = (
        with_tag_owners(representatives, settings)
        .with_columns(nature().alias(NATURE))
        .with_columns(pool_name(settings).alias(POOL))
        .pipe(with_owners, settings)
        .with_columns(
            (
                pl.col(Alloc.ResourceId).is_in(measured_ids.implode()).fill_null(False)
                & pl.col(POOL).is_null()
            ).alias(TELEMETRY)
        )
        .select(SOURCE, *SOURCE_GROUP, AMOUNT, AMOUNT_F, GPU_HOURS, GPUS)
        .collect(engine="streaming")
    )
    measured_groups = sources.filter(pl.col(TELEMETRY)).get_column(SOURCE)
    measured = (
        rows.lazy()
        .filter(pl.col(SOURCE).is_in(measured_groups.implode()))
        .select(
            SOURCE,
            gw.RESOURCE,
            Cost.ChargePeriodStart,
            Cost.ChargePeriodEnd,
            pl.col(AMOUNT).cast(pl.Float64).alias(AMOUNT_F),
            GPU_HOURS,
            GPUS,
        )
        .collect(engine="streaming")
    )
    return measured, sources


def _number_exactly(rows: pl.DataFrame, inputs: pl.LazyFrame) -> pl.DataFrame:
    """``rows`` with :data:`SOURCE` as a dense rank of the group columns themselves (slow, exact)."""
    columns = [name for name in inputs.collect_schema().names() if name != _ROW]
    return (
        rows.lazy()
        .join(inputs, on=_ROW)
        .with_columns(pl.struct(*columns).rank("dense").cast(pl.UInt64).alias(SOURCE))
        .drop(columns)
        .collect()
    )


def source_groups(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per :data:`SOURCE` of ``rows``: its first row and its sums.

    ``_collided`` says whether rows of one number disagree on the check hash. ``rows`` is read
    lazily: a derived column on it would copy its millions of rows into one piece first.
    """
    return (
        rows.lazy()
        .group_by(SOURCE)
        .agg(
            pl.col(_ROW).first(),
            pl.col(AMOUNT).sum(),
            exact_sum(pl.col(GPU_HOURS)).alias(GPU_HOURS),
            pl.col(GPUS).max(),
            disagrees(_CHECK).alias("_collided"),
        )
        .with_columns(pl.col(AMOUNT).cast(pl.Float64).alias(AMOUNT_F))
        .collect(engine="streaming")
    )


def owned_allocation(owned: pl.LazyFrame) -> pl.LazyFrame:
    """Rule 4: source groups with one owner each, as they are (no split, nothing to settle).

    Groups that end on the same line are summed with everything else at the end.
    """
    return owned.select(
        *SOURCE_KEYS,
        pl.col(OWNER_TEAM).alias(Alloc.team),
        pl.col(OWNER_MODEL).alias(Alloc.model),
        pl.col(OWNER_WORKLOAD).alias(Alloc.workload),
        cost_type(pl.col(OWNER_TEAM)).alias(Alloc.cost_type),
        pl.col(OWNER_RULE).alias(Alloc.rule),
        pl.col(AMOUNT).alias(Alloc.cost),
        pl.col(GPU_HOURS).alias(Alloc.gpu_hours),
    )


def instance_lines(
    cost: pl.LazyFrame, usage: pl.LazyFrame, settings: Settings, period: str
) -> pl.DataFrame:
    """The first phase of attribution: everything that needs only one instance's rows at a time.

    Returns the period's instance lines (:data:`INSTANCE_LINES_SCHEMA`): the direct allocation
    lines of rules 2–4, settled, and one row per shared-pool source group (rule 1, split later
    by :func:`~gpuledger.engine.attribution.period_wide.period_allocation`). Run on a subset of
    instances — all rows of each instance in ``cost`` and ``usage`` — it returns exactly those
    instances' lines, which is how the Spark engine runs it per partition.
    """
    start, end = Period.parse(period).bounds()
    # Each stage is materialized once: later stages read it several times, and the millions of
    # telemetry rows are gone (reduced to per-hour weights) before the cost rows are read.
    hourly, seed = gw.keyed(gw.reduce_usage(usage, start, end))
    measured_rows, sources = prepare_costs(
        split_eks_pods(cost, settings), hourly, settings, period, seed
    )
    groups = sources.lazy()
    direct_groups = groups.filter(pl.col(POOL).is_null())
    owned = owned_allocation(direct_groups.filter(~pl.col(TELEMETRY)))
    measured = telemetry_allocation(
        measured_rows.lazy(),
        direct_groups.filter(pl.col(TELEMETRY)),
        hourly.lazy(),
        settings,
        SOURCE_KEYS,
    )
    pooled = (
        groups.filter(pl.col(POOL).is_not_null())
        .group_by([*SOURCE_KEYS, NATURE, POOL])
        .agg(
            pl.col(AMOUNT).sum().alias(Alloc.cost),
            exact_sum(pl.col(GPU_HOURS)).alias(Alloc.gpu_hours),
        )
    )
    return (
        pl.concat([owned, measured, pooled], how="diagonal_relaxed")
        .select(pl.col(name).cast(dtype) for name, dtype in INSTANCE_LINES_SCHEMA.items())
        .collect(engine="in-memory")
    )


def attribute(
    cost: pl.LazyFrame, usage: pl.LazyFrame, settings: Settings, period: str
) -> pl.LazyFrame:
    """The allocation of ``period`` (``ALLOCATION_SCHEMA``), by the rules in the module docstring.

    Both phases in this process: :func:`instance_lines` over all instances at once, then
    :func:`~gpuledger.engine.attribution.period_wide.period_allocation`.
    """
    lines = instance_lines(cost, usage, settings, period)
    return period_allocation(lines, settings).lazy()


@dataclass(frozen=True)
class AttributionResult:
    """What one attribution run wrote, for the command's summary."""

    period: str
    rows: int
    version: int
    invoice: dict[str, Decimal]  # cost basis per currency
    allocated: dict[str, Decimal]  # allocation per currency
    by_rule: dict[tuple[str, str], Decimal]  # (currency, rule kind) → amount
    unallocated: dict[str, Decimal]

    @property
    def conserved(self) -> bool:
        """Allocation == cost basis in every currency; a currency absent on one side counts as 0
        (a period whose basis is zero has no allocation lines, and conserves)."""
        currencies = self.invoice.keys() | self.allocated.keys()
        return all(
            self.invoice.get(currency, Decimal(0)) == self.allocated.get(currency, Decimal(0))
            for currency in currencies
        )


def _sums(frame: pl.DataFrame, keys: list[str], value: str) -> dict[Any, Decimal]:
    """``{key: sum}`` of a small aggregate, keys as a tuple when there are several."""
    summed = frame.group_by(keys).agg(pl.col(value).sum()).rows()
    if len(keys) == 1:
        return {row[0]: Decimal(row[1]) for row in summed}
    return {tuple(row[:-1]): Decimal(row[-1]) for row in summed}


def rule_kind(rule: pl.Expr) -> pl.Expr:
    """A rule's family for summaries: ``tag:team`` → ``tag``, ``shared:support`` → ``shared``."""
    return rule.str.split(":").list.first()


def local_allocation(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    """The allocation of ``period`` from the store's tables, both phases in this process."""
    return attribute(store.scan("cost"), store.scan("gpu_usage"), settings, period).collect()


def run_attribution(
    store: Store, settings: Settings, period: str, allocate: Allocator = local_allocation
) -> AttributionResult:
    """Attribute ``period`` from the store and replace its allocation partition in one commit.

    ``allocate`` computes the allocation: :func:`local_allocation`, or the Spark engine's
    (:func:`gpuledger.engine.spark.spark_allocation`), which gives the same lines.
    """
    Period.parse(period)
    with progress_bar(transient=True) as bar:
        task = bar.add_task(f"attributing {period}", total=3)
        cost = store.scan("cost")
        frame = allocate(store, settings, period)
        bar.advance(task)
        invoice = (
            cost.filter(pl.col(Cost.x_BillingPeriod) == period)
            .group_by(Cost.BillingCurrency)
            .agg(pl.col(settings.reporting.cost_basis).fill_null(Decimal(0)).sum())
            .collect()
        )
        bar.advance(task)
        version = store.replace_partitions(
            "allocation",
            frame,
            [Alloc.x_BillingPeriod],
            replace=[{Alloc.x_BillingPeriod: period}],
        )
        bar.advance(task)
    kinds = frame.with_columns(rule_kind(pl.col(Alloc.rule)).alias("_kind"))
    return AttributionResult(
        period=period,
        rows=frame.height,
        version=version,
        invoice=_sums(invoice, [Cost.BillingCurrency], settings.reporting.cost_basis),
        allocated=_sums(frame, [Alloc.currency], Alloc.cost),
        by_rule=_sums(kinds, [Alloc.currency, "_kind"], Alloc.cost),
        unallocated=_sums(
            frame.filter(pl.col(Alloc.team) == UNALLOCATED), [Alloc.currency], Alloc.cost
        ),
    )
