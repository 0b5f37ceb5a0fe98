"""Settings: one typed model, loaded from a TOML file.

No setting is overridden from the environment; the variables read here are ``GPULEDGER_CONFIG``,
the file to load when no path is given, and the secrets: ``GPULEDGER_SMTP_PASSWORD`` (the SMTP
password), the state database password and the alerts webhook URL (variables named by ``[state]
password_env`` and ``[alerts] webhook_url_env``). Secrets never live in the file: cloud
credentials come from the providers' standard chains and the rest from those variables. Every section forbids unknown keys, so a typo is an error that
names the key, the file and the line, not a silently ignored setting.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gpuledger.errors import ConfigError

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
MonthText = Annotated[str, Field(pattern=PERIOD_PATTERN)]  # a "YYYY-MM" key of the file


class Section(BaseModel):
    """Base of every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportingConfig(Section):
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    cost_basis: Literal["EffectiveCost", "BilledCost"] = "EffectiveCost"
    idle: Literal["owner", "shared", "unallocated"] = "owner"
    mode: Literal["chargeback", "showback"] = "chargeback"
    timezone: str = "UTC"


class TagsConfig(Section):
    team: list[str] = ["team", "Team", "owner", "cost-center"]
    model: list[str] = ["model", "Model", "ml-model"]
    workload: list[str] = ["workload", "app", "job"]


class TeamConfig(Section):
    aliases: list[str] = []
    lead: str | None = None
    budget: Decimal | None = None
    accounts: list[str] = []  # billing sub-accounts / projects this team owns outright
    slurm_accounts: list[str] = []  # Slurm accounts whose jobs belong to this team
    namespaces: list[str] = []  # Kubernetes namespaces (glob patterns, e.g. "nlp-*") it owns


class RegexRule(Section):
    """Ownership by pattern: when ``pattern`` matches ``field`` of a cost row, ``team`` pays."""

    field: Literal["ResourceId", "ResourceName", "ServiceName", "SubAccountName", "SkuId"]
    pattern: str
    team: str
    model: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class SharedPool(Section):
    """A cost pool spread over teams instead of charged to one (support, networking, tax…)."""

    name: str
    services: list[str] = []
    charge_categories: list[str] = []
    accounts: list[str] = []
    tag: dict[str, str] = {}
    cost_types: list[str] = []  # tax | credit | adjustment | commitment | usage (unused RIs…)
    split: Literal["proportional", "even", "fixed"] = "proportional"
    weights: dict[str, float] = {}


class RulesConfig(Section):
    account_map: dict[str, str] = {}
    regex: list[RegexRule] = []
    shared: list[SharedPool] = []


class SourcesConfig(Section):
    """Where the scheduler ingests from: local paths, s3://, gs://, bq://, athena://,
    prometheus+http://; on-prem clusters are priced from ``[[clusters]]`` after telemetry."""

    aws: list[str] = []
    gcp: list[str] = []
    focus: list[str] = []
    gpu: list[str] = []
    slurm: list[str] = []  # folders (or s3://, gs://) where `sacct --json` output is dropped


class WasteThresholds(Section):
    idle_sm_util: float = 5.0  # below this SM activity a GPU-bucket counts as idle
    underused_sm_util: float = 30.0
    memory_headroom: float = 0.2  # keep this share free above the observed peak
    output_token_weight: float = 4.0  # unit cost: one output token costs this many input tokens


class RecommendThresholds(Section):
    spot_interruption_overhead: float = 0.10
    rightsize_p95_sm_util: float = 40.0
    rightsize_memory_fill: float = 0.5
    distill_min_gpu_hours: float = 500.0
    distill_min_sm_util: float = 50.0
    distill_gpu_hour_ratio: float = 0.4
    idle_min_hours: float = 24.0
    commit_min_baseline_share: float = 0.7
    commit_discount: float = 0.3
    min_monthly_saving: Decimal = Decimal("50")
    idle_min_stretch_hours: float = 4.0  # only whole-instance idle stretches this long count
    spot_min_jobs: int = 3  # this many distinct jobs on an instance = interruptible behaviour
    interruptible_labels: list[str] = ["train", "fine-tun", "finetun", "batch", "sweep", "eval"]
    inference_labels: list[str] = ["serve", "serving", "infer", "endpoint", "vllm", "triton", "tgi"]
    rightsize_idle_gpu_share: float = 0.9  # a GPU idle this share of its hours is spare
    rightsize_target_sm_util: float = 70.0  # p95 SM activity the smaller GPU may reach
    distill_min_params_b: float = 30.0  # billions of parameters, read from the model name
    distill_min_busy_share: float = 0.8  # share of the month the serving instances were busy
    placement_min_busy_share: float = (
        0.7  # a cloud instance with work this share of hours is steady
    )


class ThresholdsConfig(Section):
    waste: WasteThresholds = WasteThresholds()
    recommend: RecommendThresholds = RecommendThresholds()


class SmtpConfig(Section):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    sender: str = "gpuledger@localhost"
    username: str | None = None
    starttls: bool = True
    ssl: bool = False
    timeout_seconds: float = 10.0

    @property
    def password(self) -> SecretStr | None:
        """The password, from the environment only."""
        value = os.environ.get("GPULEDGER_SMTP_PASSWORD")
        return SecretStr(value) if value else None


class ScheduleConfig(Section):
    timezone: str = "UTC"
    ingest_billing: str = "0 * * * *"  # crontab: minute hour day month day_of_week (names!)
    ingest_gpu: str = "*/5 * * * *"
    attribute: str = "30 * * * *"
    recommend: str = "0 6 * * *"
    weekly_email: str = "0 8 * * mon"
    monthly_notice: str = "0 9 * * *"
    maintain: str = "0 3 * * *"  # compact and vacuum the Delta tables, nightly
    maintain_retention_hours: int = Field(default=168, ge=0)  # vacuum keeps younger files
    misfire_grace_seconds: int = 3600


class AppConfig(Section):
    base_url: str = "http://localhost:8501"
    finance: list[str] = []  # e-mails with the finance role; team leads come from [teams.*].lead
    auth: Literal["single-user", "oidc"] = "single-user"


class EmailConfig(Section):
    finance: list[str] = []
    top_recommendations: int = 5


class AgentConfig(Section):
    """The NVML agent on a GPU host: where a process's team, model and pod come from."""

    proc_root: str = "/proc"  # the host's /proc (mount it when the agent runs in a container)
    team_env: list[str] = ["GPULEDGER_TEAM"]  # process environment keys naming the team
    model_env: list[str] = ["GPULEDGER_MODEL"]
    kubelet_url: str | None = None  # e.g. "https://127.0.0.1:10250": pod names and labels
    kubelet_verify_tls: bool = True


class TelemetryConfig(Section):
    """Telemetry joined to the bill where its labels do not name the instance."""

    # DCGM host name → the bill's ResourceId (i-…, //compute.googleapis.com/…, /subscriptions/…);
    # wins over kube-state-metrics' kube_node_info for the same host
    hosts: dict[str, Annotated[str, Field(min_length=1)]] = {}


class AwsConfig(Section):
    """AWS specifics beyond the sources list."""

    # s3://bucket/prefix/ for the Parquet answers of athena:// ingests; default: the workgroup's
    # query result location
    athena_unload_prefix: str | None = Field(None, pattern=r"^s3://")


class EngineConfig(Section):
    """Where attribution runs: this process (Polars) or a Spark cluster."""

    kind: Literal["local", "spark"] = "local"
    spark_master: str = "local[*]"  # ignored when the environment already has a SparkSession
    spark_partitions: int | None = Field(
        None, ge=1
    )  # instance partitions; Spark's default if unset


class StateConfig(Section):
    """Where operational state lives: SQLite beside a local home, or a shared database."""

    url: str | None = None  # e.g. "postgresql://gpuledger@db.acme.example:5432/gpuledger"
    password_env: str = "GPULEDGER_STATE_PASSWORD"  # noqa: S105 -- the variable's name, not a password

    @property
    def password(self) -> SecretStr | None:
        """The database password, from the environment only."""
        value = os.environ.get(self.password_env)
        return SecretStr(value) if value else None


class AlertsConfig(Section):
    """Spend anomalies and budget alerts."""

    min_impact: Decimal = Decimal("100")  # dollars a day above expected before an anomaly counts
    min_change: float = 0.5  # and at least this relative change (0.5 = 50 % above expected)
    baseline_days: int = Field(28, ge=7)  # trailing days the expected value is drawn from
    mad_threshold: float = 4.0  # robust z-score (scaled MAD) an anomaly must pass
    budget_thresholds: list[float] = [0.8, 1.0]  # month-to-date shares of the budget to alert at
    webhook_url_env: str = "GPULEDGER_ALERTS_WEBHOOK_URL"  # the variable holding the webhook URL

    @property
    def webhook_url(self) -> SecretStr | None:
        """The Slack/Teams-compatible webhook URL, from the environment only (it is a secret)."""
        value = os.environ.get(self.webhook_url_env)
        return SecretStr(value) if value else None


class EnergyPrice(Section):
    """The energy price per kWh from a month on (until the next entry's month)."""

    since: MonthText
    per_kwh: Decimal = Field(ge=0)


class ClusterConfig(Section):
    """An on-premises GPU cluster, priced from its hardware, fixed costs and measured energy."""

    name: str = Field(min_length=1)
    hosts: list[str] = []  # host names as the agent reports them (ResourceId of the cost rows)
    host_pattern: str | None = None  # or a regular expression the host names match
    gpu_model: str = Field(min_length=1)  # as in the GPU catalog, e.g. "H100"
    gpus_per_host: int = Field(ge=1)
    purchase_cost: Decimal = Field(ge=0)  # the whole cluster, in the reporting currency
    purchase_date: date  # amortization starts in this month
    amortization_months: int = Field(36, ge=1)
    support_per_year: Decimal = Field(Decimal(0), ge=0)  # support and maintenance, whole cluster
    colocation_per_month: Decimal = Field(Decimal(0), ge=0)  # rack, space, network, whole cluster
    energy_prices: list[EnergyPrice] = []
    pue: Decimal = Field(Decimal("1.0"), ge=1)
    idle_power_w: float | None = Field(None, ge=0)  # per GPU, where telemetry is missing
    tdp_w: float | None = Field(None, ge=0)  # per GPU: the flagged figure for a busy GPU
    team: str | None = None  # who owns the hosts when no workload names a team

    @field_validator("host_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value


class Settings(Section):
    reporting: ReportingConfig = ReportingConfig()
    tags: TagsConfig = TagsConfig()
    teams: dict[str, TeamConfig] = {}
    rules: RulesConfig = RulesConfig()
    sources: SourcesConfig = SourcesConfig()
    thresholds: ThresholdsConfig = ThresholdsConfig()
    smtp: SmtpConfig = SmtpConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    app: AppConfig = AppConfig()
    email: EmailConfig = EmailConfig()
    agent: AgentConfig = AgentConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    aws: AwsConfig = AwsConfig()
    engine: EngineConfig = EngineConfig()
    state: StateConfig = StateConfig()
    alerts: AlertsConfig = AlertsConfig()
    clusters: list[ClusterConfig] = []
    fx: dict[MonthText, dict[str, Decimal]] = {}  # {"2026-05": {"EUR": 1.08}}: 1 unit → reporting

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data, safe to print: no secret is ever part of it."""
        return self.model_dump(mode="json")


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from ``path`` (or ``GPULEDGER_CONFIG``); defaults when neither is given."""
    chosen = path or os.environ.get("GPULEDGER_CONFIG")
    if not chosen:
        return Settings()
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file ({exc.strerror})") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file, text)) from exc


def _describe(exc: ValidationError, file: Path, text: str) -> str:
    """One line per problem: the dotted key, its line in the file, and what was expected."""
    lines = []
    for problem in exc.errors():
        key = ".".join(str(part) for part in problem["loc"])
        line = _line_of(text, [str(part) for part in problem["loc"]])
        where = f"{file}:{line}" if line else str(file)
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        lines.append(f"{where}: {key}: {message}")
    return "invalid config\n  " + "\n  ".join(lines)


def _line_of(text: str, loc: list[str]) -> int | None:
    """Best-effort line of the innermost key of ``loc`` in the TOML text."""
    names = [part for part in loc if not part.isdigit()]
    if not names:
        return None
    last = re.escape(names[-1])
    pattern = re.compile(rf"^\s*(\[+\s*[^\]]*\b{last}\b[^\]]*\]+|\"?{last}\"?\s*=)")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return None


def canonical_team(settings: Settings, name: str | None) -> str | None:
    """The configured team a tag value names (case-insensitive, aliases too), else its own spelling.

    Unknown values stay teams of their own under a normalized spelling (trimmed, lower case,
    spaces and underscores as dashes): they are flagged as not configured, never dropped.
    """
    if name is None or not name.strip():
        return None
    wanted = name.strip().casefold()
    for team, team_config in settings.teams.items():
        if wanted == team.casefold() or wanted in {a.casefold() for a in team_config.aliases}:
            return team
    return re.sub(r"[\s_]+", "-", wanted)
