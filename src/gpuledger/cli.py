"""The command line: one subcommand per user task; each delegates to ``gpuledger.commands``.

Exit status: 0 success, 1 a failure of the work, 2 bad usage or bad input.
"""

from __future__ import annotations

import importlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from gpuledger.commands.context import Context
from gpuledger.errors import GpuledgerError, UsageError
from gpuledger.progress import stderr_console
from gpuledger.report.export.printable import markup_text

app = typer.Typer(
    name="gpuledger",
    help="GPU FinOps: every GPU dollar to a team, a model and a workload.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
ingest_app = typer.Typer(help="Load billing exports and GPU telemetry into the store.")
app.add_typer(ingest_app, name="ingest")
config_app = typer.Typer(help="Inspect the configuration.")
app.add_typer(config_app, name="config")
prices_app = typer.Typer(help="The GPU price table savings are priced from.")
app.add_typer(prices_app, name="prices")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class TextFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class ChargebackFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    xlsx = "xlsx"
    focus = "focus"


PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="Billing month, YYYY-MM. Default: the latest month with billing data (the newest"
        " month ingested).",
        show_default=False,
    ),
]
FORMAT_HELP = "table for a terminal; json and csv for scripts (JSON rule: see README)."
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write to this file (needed for xlsx).")
]


# Top-level packages of each extra: a command whose import misses one names the extra to install.
EXTRAS = {
    "agent": ("pynvml", "prometheus_client", "httpx"),
    "server": (
        "numpy",
        "polars",
        "pyarrow",
        "deltalake",
        "pandas",
        "boto3",
        "google",
        "apscheduler",
        "sqlalchemy",
        "streamlit",
        "altair",
        "matplotlib",
        "xlsxwriter",
        "jinja2",
        "tenacity",
        "sqlglot",
    ),
}


def _run(ctx: typer.Context, command: str, **options: Any) -> None:
    """Call ``gpuledger.commands.<command>.run(context, **options)``, imported only when used."""
    try:
        module = importlib.import_module(f"gpuledger.commands.{command}")
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        for extra, packages in EXTRAS.items():
            if missing in packages:
                raise UsageError(
                    f"`gpuledger {ctx.command_path.removeprefix('gpuledger ')}` needs the {extra}"
                    f" stack, which is not installed here (no module {missing!r}):"
                    f" pip install 'gpuledger[{extra}]'"
                ) from exc
        raise
    module.run(ctx.obj, **options)


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option(
            "--home", envvar="GPULEDGER_HOME", help="Ledger home (folder, s3:// or gs://)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="GPULEDGER_CONFIG", help="Config file (TOML)."),
    ] = None,
) -> None:
    """Global options shared by every command."""
    ctx.obj = Context(home=home, config=config)


@app.command()
def demo(
    ctx: typer.Context,
    no_app: Annotated[bool, typer.Option("--no-app", help="Stop after the summary.")] = False,
    port: Annotated[int, typer.Option(help="Port for the app.")] = 8501,
) -> None:
    """Sample data → full pipeline → summary → the app. Nothing else needed.

    Example: `gpuledger --home /tmp/demo demo --no-app`
    """
    _run(ctx, "demo", no_app=no_app, port=port)


@app.command("sample-data")
def sample_data(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Folder to write into.")],
    scale: Annotated[float, typer.Option(help="1 = a small company; larger for benchmarks.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 7,
    period: Annotated[str, typer.Option(help="Month to generate, YYYY-MM.")] = "2026-10",
) -> None:
    """Generate a fictional company's exports in the real source formats.

    Example: `gpuledger sample-data --out /tmp/sample --scale 1 --seed 7`
    """
    _run(ctx, "sample_data", out=out, scale=scale, seed=seed, period=period)


ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Store a delivery older than the one the ledger holds."),
]


def _ingest(ctx: typer.Context, source: str, src: str, **options: Any) -> None:
    _run(ctx, "ingest", source=source, src=src, **options)


@ingest_app.command("aws")
def ingest_aws(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument()],
    period: Annotated[
        list[str] | None,
        typer.Option(
            "--period",
            help="Billing month(s) to read from an athena:// table, YYYY-MM"
            " (default: this month and last, unless closed).",
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """CUR 2.0, legacy CUR or AWS FOCUS export: file, folder, s3://bucket/prefix or
    athena://workgroup/database.table.

    Example: `gpuledger ingest aws athena://primary/cur.acme_cur2 --period 2026-10`
    """
    _ingest(ctx, "aws", src, periods=period or [], force=force)


@ingest_app.command("gcp")
def ingest_gcp(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument()],
    period: Annotated[
        list[str] | None,
        typer.Option("--period", help="Invoice month(s) to read from BigQuery, YYYY-MM."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """GCP billing export: file, folder, gs://… or bq://project.dataset.table.

    Example: `gpuledger ingest gcp bq://acme-billing.billing.gcp_billing_export_resource_v1_X`
    """
    _ingest(ctx, "gcp", src, periods=period or [], force=force)


@ingest_app.command("focus")
def ingest_focus(
    ctx: typer.Context, src: Annotated[str, typer.Argument()], force: ForceOption = False
) -> None:
    """Any FOCUS 1.x export (Azure, OCI, …): CSV, gzip CSV or Parquet.

    Example: `gpuledger ingest focus exports/azure-focus.csv.gz`
    """
    _ingest(ctx, "focus", src, force=force)


@ingest_app.command("gpu")
def ingest_gpu(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument()],
    start: Annotated[str | None, typer.Option(help="Prometheus: start time (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option(help="Prometheus: end time (ISO 8601).")] = None,
) -> None:
    """Agent spool files, gpu_usage Parquet/CSV, or prometheus+http://host:9090 (DCGM).

    Example: `gpuledger ingest gpu /var/spool/gpuledger`
    """
    _ingest(ctx, "gpu", src, start=start, end=end)


@ingest_app.command("onprem")
def ingest_onprem(
    ctx: typer.Context,
    period: Annotated[
        list[str] | None,
        typer.Option("--period", help="Month(s) to price, YYYY-MM; default: this month and last."),
    ] = None,
    cluster: Annotated[
        str, typer.Option(help="One [[clusters]] name; default: every one.")
    ] = "all",
) -> None:
    """On-prem clusters from [[clusters]]: amortized hardware, fixed costs and measured energy.

    Example: `gpuledger ingest onprem --period 2026-10 --cluster dgx-onprem`
    """
    _ingest(ctx, "onprem", cluster, periods=period or [])


@ingest_app.command("slurm")
def ingest_slurm(ctx: typer.Context, src: Annotated[str, typer.Argument()]) -> None:
    """Slurm accounting: `sacct --json` or `--parsable2` output (file, folder or - for stdin).

    Example: `sacct -a --json -S 2026-10-01 -E 2026-11-01 | gpuledger ingest slurm -`
    """
    _ingest(ctx, "slurm", src)


@app.command()
def agent(
    ctx: typer.Context,
    spool: Annotated[Path, typer.Option(help="Spool folder for bucket files.")] = Path(
        "/var/spool/gpuledger"
    ),
    interval: Annotated[float, typer.Option(help="Seconds between samples.")] = 1.0,
    bucket: Annotated[int, typer.Option(help="Bucket length in seconds.")] = 300,
    once: Annotated[
        bool, typer.Option("--once", help="Sample one bucket, write it, exit.")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    resource_id: Annotated[
        str | None, typer.Option(help="Cloud instance id (skips metadata lookup).")
    ] = None,
    max_spool_mb: Annotated[int, typer.Option(help="Spool size bound in MiB.")] = 512,
) -> None:
    """NVML sampler for a GPU host: writes 5-minute gpu_usage buckets to a spool.

    Example: `gpuledger agent --spool /var/spool/gpuledger --metrics-port 9401`
    """
    _run(
        ctx,
        "agent",
        spool=spool,
        interval=interval,
        bucket=bucket,
        once=once,
        metrics_port=metrics_port,
        resource_id=resource_id,
        max_spool_mb=max_spool_mb,
    )


class EngineKind(StrEnum):
    local = "local"
    spark = "spark"


@app.command()
def attribute(
    ctx: typer.Context,
    period: PeriodOption = None,
    engine: Annotated[
        EngineKind | None,
        typer.Option(
            "--engine",
            help="Where attribution runs: local (this process) or spark (the environment's"
            " SparkSession, else [engine] spark_master). Default: [engine] kind.",
        ),
    ] = None,
) -> None:
    """Split the period's spend over teams, models and workloads.

    Example: `gpuledger attribute --period 2026-10 --engine spark`
    """
    _run(ctx, "attribute", period=period, engine=None if engine is None else engine.value)


@app.command()
def chargeback(
    ctx: typer.Context,
    period: PeriodOption = None,
    format: Annotated[
        ChargebackFormat, typer.Option("--format", help=FORMAT_HELP + " xlsx for finance.")
    ] = ChargebackFormat.table,
    out: OutOption = None,
) -> None:
    """Per-team statements that reconcile to the invoice.

    Example: `gpuledger chargeback --period 2026-10 --format xlsx --out statements.xlsx`
    """
    _run(ctx, "chargeback", period=period, format=format.value, out=out)


@app.command()
def explain(
    ctx: typer.Context,
    team: Annotated[str, typer.Option("--team", help="The team whose statement line to explain.")],
    period: PeriodOption = None,
    model: Annotated[str | None, typer.Option(help="Only this model's lines.")] = None,
    line: Annotated[
        str | None,
        typer.Option(help="The line's number on the team's statement, or its line id."),
    ] = None,
    top: Annotated[int, typer.Option(help="Source line items shown per line.")] = 10,
    format: Annotated[TextFormat, typer.Option("--format", help=FORMAT_HELP)] = TextFormat.table,
) -> None:
    """Why a statement line is on the bill: its rules and source line items, adding up to it.

    Example: `gpuledger explain --period 2026-10 --team nlp --line line-2d8fd6fbc6a4`
    """
    _run(
        ctx,
        "explain",
        period=period,
        team=team,
        model=model,
        line=line,
        top=top,
        format=format.value,
    )


@app.command()
def waste(
    ctx: typer.Context,
    period: PeriodOption = None,
    team: Annotated[str | None, typer.Option(help="Only this team.")] = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", help=FORMAT_HELP + " xlsx for finance.")
    ] = ReportFormat.table,
    out: OutOption = None,
) -> None:
    """Idle and underused GPU time, in dollars.

    Example: `gpuledger waste --period 2026-10 --team nlp`
    """
    _run(ctx, "waste", period=period, team=team, format=format.value, out=out)


@app.command()
def anomalies(
    ctx: typer.Context,
    period: PeriodOption = None,
    team: Annotated[str | None, typer.Option(help="Only this team's anomalies.")] = None,
    format: Annotated[TextFormat, typer.Option("--format", help=FORMAT_HELP)] = TextFormat.table,
    out: OutOption = None,
) -> None:
    """Days whose spend left its expected band, by team, model, GPU model and instance.

    Example: `gpuledger anomalies --period 2026-10 --team nlp --format json`
    """
    _run(ctx, "anomalies", period=period, team=team, format=format.value, out=out)


@app.command()
def budgets(
    ctx: typer.Context,
    period: PeriodOption = None,
    format: Annotated[TextFormat, typer.Option("--format", help=FORMAT_HELP)] = TextFormat.table,
    out: OutOption = None,
) -> None:
    """Each team's budget, month to date, forecast, state and thresholds crossed.

    Example: `gpuledger budgets --period 2026-10 --format json`
    """
    _run(ctx, "budgets", period=period, format=format.value, out=out)


@app.command()
def alerts(
    ctx: typer.Context,
    period: PeriodOption = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Deliver the alerts not delivered yet: e-mail to leads and finance, the webhook.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="With --send: write .eml files and webhook bodies instead."),
    ] = False,
    outbox: Annotated[
        Path | None, typer.Option(help="Folder for --dry-run messages. Default: <home>/outbox.")
    ] = None,
    format: Annotated[
        OutputFormat, typer.Option("--format", help=FORMAT_HELP)
    ] = OutputFormat.table,
    acknowledge: Annotated[str | None, typer.Option(help="Acknowledge this alert id.")] = None,
    dismiss: Annotated[
        str | None, typer.Option(help="Dismiss this alert id: it is never sent.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept with the status).")] = None,
) -> None:
    """Spend anomalies and budget alerts with their status and delivery; --send delivers new ones.

    Example: `gpuledger alerts --period 2026-10 --send`
    """
    _run(
        ctx,
        "alerts",
        period=period,
        send=send,
        dry_run=dry_run,
        outbox=outbox,
        format=format.value,
        acknowledge=acknowledge,
        dismiss=dismiss,
        reason=reason,
    )


@app.command()
def recommend(
    ctx: typer.Context,
    period: PeriodOption = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", help=FORMAT_HELP + " xlsx for finance.")
    ] = ReportFormat.table,
    out: OutOption = None,
    dismiss: Annotated[str | None, typer.Option(help="Dismiss this recommendation id.")] = None,
    acknowledge: Annotated[str | None, typer.Option(help="Acknowledge this id.")] = None,
    done: Annotated[str | None, typer.Option(help="Mark this id as done.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (required with --dismiss).")] = None,
) -> None:
    """Savings recommendations: spot, rightsize, distill, idle, commit, placement.

    Example: `gpuledger recommend --period 2026-10 --format json`
    """
    _run(
        ctx,
        "recommend",
        period=period,
        format=format.value,
        out=out,
        dismiss=dismiss,
        acknowledge=acknowledge,
        done=done,
        reason=reason,
    )


@app.command()
def close(
    ctx: typer.Context,
    period: PeriodOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Close before the invoice is final.")
    ] = False,
    reopen: Annotated[bool, typer.Option("--reopen", help="Re-open a closed month.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (required with --reopen).")] = None,
) -> None:
    """Freeze a month's statements; later changes become adjustments.

    Example: `gpuledger close --period 2026-10`
    """
    _run(ctx, "close", period=period, force=force, reopen=reopen, reason=reason)


@app.command()
def email(
    ctx: typer.Context,
    period: PeriodOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write .eml files instead of sending.")
    ] = False,
    outbox: Annotated[
        Path | None,
        typer.Option(help="Folder for --dry-run messages. Default: <home>/outbox."),
    ] = None,
    team: Annotated[str | None, typer.Option(help="Only this team's lead.")] = None,
) -> None:
    """Savings e-mails to team leads and the chargeback summary to finance.

    Example: `gpuledger email --period 2026-10 --dry-run --outbox /tmp/outbox`
    """
    _run(ctx, "email", period=period, dry_run=dry_run, outbox=outbox, team=team)


@app.command()
def schedule(
    ctx: typer.Context,
    list_jobs: Annotated[bool, typer.Option("--list", help="Show jobs and next runs.")] = False,
) -> None:
    """Long-running scheduler: ingest, attribute, recommend, e-mail.

    Example: `gpuledger schedule --list`
    """
    _run(ctx, "schedule", list_jobs=list_jobs)


@app.command("app")
def app_command(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """The Streamlit app: chargeback, waste, recommendations, data health.

    Example: `gpuledger app --port 8501`
    """
    _run(ctx, "app", port=port, address=address)


@app.command()
def status(
    ctx: typer.Context,
    format: Annotated[TextFormat, typer.Option("--format", help=FORMAT_HELP)] = TextFormat.table,
) -> None:
    """What is ingested, data health, unallocated share.

    Example: `gpuledger status --format json`
    """
    _run(ctx, "status", format=format.value)


@app.command()
def maintain(
    ctx: typer.Context,
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Only this table (repeatable); default every table."),
    ] = None,
    retention_hours: Annotated[
        int,
        typer.Option(
            help="Vacuum only unreferenced files older than this; files of versions that closed"
            " months pin are always kept. Below a write's duration it races concurrent writers."
        ),
    ] = 168,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Report what would be compacted and vacuumed; change nothing."
        ),
    ] = False,
    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table,
) -> None:
    """Compact small files and vacuum unreferenced ones in the Delta tables.

    Example: `gpuledger maintain --table gpu_usage --retention-hours 168 --dry-run`
    """
    _run(
        ctx,
        "maintain",
        tables=table or [],
        retention_hours=retention_hours,
        dry_run=dry_run,
        format=format.value,
    )


@prices_app.command("refresh")
def prices_refresh(
    ctx: typer.Context,
    provider: Annotated[str, typer.Option(help="aws or gcp.")],
    region: Annotated[
        list[str] | None, typer.Option("--region", help="Region(s) to price (repeatable).")
    ] = None,
) -> None:
    """Fetch current prices: AWS Price List API + EC2 spot history, or the GCP Cloud Catalog.

    Example: `gpuledger prices refresh --provider aws --region us-east-1 --region us-west-2`
    """
    _run(ctx, "prices", action="refresh", provider=provider, regions=region or [])


@prices_app.command("show")
def prices_show(
    ctx: typer.Context,
    provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None,
) -> None:
    """Print the price table in use: bundled prices, overlaid by refreshed ones.

    Example: `gpuledger prices show --provider aws`
    """
    _run(ctx, "prices", action="show", provider=provider)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective configuration, secrets redacted.

    Example: `gpuledger --config config/gpuledger.toml config show`
    """
    _run(ctx, "config_show")


def _print_error(message: str) -> None:
    """``error: message`` on standard error: the one style of every error the CLI reports."""
    text = markup_text(message)  # paths and tag text may hold "[...]" or control characters
    stderr_console.print(f"[bold red]error:[/] {text}", highlight=False, soft_wrap=True)


def usage_message(exc: typer.TyperException) -> str:
    """A Typer/Click usage error in our words: what was wrong, and the help to read.

    Empty when Typer has already printed the help (a command group called without a command).
    """
    format_message = getattr(exc, "format_message", None)
    message = str(format_message() if callable(format_message) else exc)
    if not message:
        return ""
    message = message.replace("Value error, ", "")  # Typer's wording for a bad choice
    ctx = getattr(exc, "ctx", None)
    command = "gpuledger" if ctx is None else ctx.command_path
    return f"{message} (see `{command} --help`)"


def main() -> None:
    """Console entry point: run the app and map every error to ``error: …`` and an exit code."""
    try:
        app(standalone_mode=False, prog_name="gpuledger")
    except GpuledgerError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        stderr_console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.TyperException as exc:  # bad usage: unknown command, missing option, bad value
        message = usage_message(exc)
        if message:
            _print_error(message)
        sys.exit(int(getattr(exc, "exit_code", 2)))
