"""AWS's FOCUS 1.x export → ``cost`` rows, on top of the shared FOCUS mapping.

Collect step, AWS: the FOCUS export of AWS Data Exports is a FOCUS file, so the generic mapping
(:mod:`gpuledger.collect.focus.mapping`) does the work. What AWS adds is kept here: the EC2 or
SageMaker instance type lives only in AWS's ``x_UsageType`` column (``USE1-BoxUsage:p5.48xlarge``),
from which the GPU facts follow.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.aws.cur2 import INSTANCE_IN_USAGE_TYPE
from gpuledger.collect.focus.mapping import parse_focus, quarantine_with_source
from gpuledger.collect.focus.spec import check_header
from gpuledger.collect.focus.verdicts import FileVerdicts
from gpuledger.collect.quarantine import split_refused
from gpuledger.prices.catalog import attach_gpu_facts
from gpuledger.schema import COST_SCHEMA, Cost

X_USAGE_TYPE: Final = "x_UsageType"


def read_focus_export(
    raw: pl.LazyFrame, uri: str, verdicts: FileVerdicts | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cost rows, quarantine rows) of one AWS FOCUS export file; ``verdicts`` adds the checks
    only a whole delivery can make (its billing period, rows repeated from earlier files)."""
    check_header(raw.collect_schema().names(), uri)
    parsed = parse_focus(raw).with_columns(pl.lit(uri).alias(Cost.x_SourceFile))
    if verdicts is not None:
        parsed = verdicts(parsed)
    kept, refused = split_refused(parsed.collect(engine="streaming"))
    return _with_gpu_facts(kept), quarantine_with_source(refused, raw, uri)


def _with_gpu_facts(kept: pl.DataFrame) -> pl.DataFrame:
    """Instance type from AWS's ``x_UsageType`` (kept in ``x_ProviderColumns``), then the catalog."""
    usage_type = pl.col(Cost.x_ProviderColumns).str.json_path_match(f"$.{X_USAGE_TYPE}")
    rows = attach_gpu_facts(
        kept.lazy().with_columns(
            pl.coalesce(
                Cost.x_InstanceType, usage_type.str.extract(INSTANCE_IN_USAGE_TYPE, 1)
            ).alias(Cost.x_InstanceType),
            pl.lit(None, dtype=pl.String).alias(Cost.x_AcceleratorKind),
        )
    ).collect()
    return rows.sort(Cost.x_SourceRow).select(
        [name for name in COST_SCHEMA.names() if name in rows.columns]
    )
