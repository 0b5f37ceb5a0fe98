"""Detection quality of ``find_anomalies`` on generated months: precision, recall, explanations.

    .venv/bin/python -m bench.alerts_quality                       # 7 months x 3 seeds
    .venv/bin/python -m bench.alerts_quality --months 13 --seeds 5 --fleet 50 --noise 0.15

Each seed generates ``--months`` months (:mod:`bench.alert_months`: the first a clean baseline,
each later one with a runaway fine-tune, an idle serving fleet over a weekend and a new model,
beside planned weekly training runs, a steady pre-training run and quiet weekends), writes them
to a fresh ledger and runs detection on every month but the first, with default ``[alerts]``
(``--mad-threshold`` changes that one).

- an alert **matches** an incident when it names the incident's team (a GPU-model alert, which
  names none, any team) and its days overlap the incident's;
- **precision**: matched alerts / alerts; **recall**: incidents with a matching alert /
  incidents; **explained**: matched alerts whose explanation names the cause (the runaway's
  model or instances, "idle share rose", "new model `x` appeared").

Prints one line per setting and a JSON document with the figures, the CPU seconds (user+sys)
and peak RSS of this process, and the detection time per month.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.alert_months import Incident, generate, write_months
from gpuledger.config import Settings
from gpuledger.engine.alerts.detect import find_anomalies
from gpuledger.engine.alerts.model import Alert
from gpuledger.store.delta import Store


def matches(alert: Alert, incident: Incident) -> bool:
    """Whether ``alert`` reports ``incident``: its team (or no team) and overlapping days."""
    if alert.day is None or (alert.team is not None and alert.team != incident.team):
        return False
    last = alert.last_day or alert.day
    return alert.day <= incident.last and incident.first <= last


def explains(alert: Alert, incident: Incident) -> bool:
    """Whether the alert's explanation or drivers name the incident's cause."""
    text = alert.explanation + " ".join(f"{d.label} {d.detail}" for d in alert.drivers)
    if incident.kind == "runaway":
        return incident.model in text or "i-run" in text
    if incident.kind == "idle-fleet":
        return "idle share rose" in text
    return f"new model `{incident.model}` appeared" in text


@dataclass
class SeedResult:
    """What detection found on one seed's months."""

    alerts: int
    matched: int
    explained: int
    incidents: int
    found: int
    missed: list[str]  # kinds of the incidents no alert reported
    false: list[str]  # the alerts no incident explains
    seconds: float  # detection time over all months but the first


def run_seed(
    months: int, seed: int, fleet: int, noise: float, home: Path, settings: Settings
) -> SeedResult:
    generated = generate(months, seed=seed, fleet=fleet, noise=noise)
    store = Store(home)
    write_months(store, generated)
    alerts: list[Alert] = []
    started = time.perf_counter()
    for period in generated.periods[1:]:
        alerts += find_anomalies(store, settings, period)
    seconds = time.perf_counter() - started
    incidents = generated.incidents
    matched = [a for a in alerts if any(matches(a, i) for i in incidents)]
    found = [i for i in incidents if any(matches(a, i) for a in alerts)]
    explained = [a for a in matched if any(matches(a, i) and explains(a, i) for i in incidents)]
    return SeedResult(
        alerts=len(alerts),
        matched=len(matched),
        explained=len(explained),
        incidents=len(incidents),
        found=len(found),
        missed=[i.kind for i in incidents if i not in found],
        false=[f"{a.day} {a.dimension} {a.key}: {a.title}" for a in alerts if a not in matched],
        seconds=seconds,
    )


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fleet", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--mad-threshold", type=float, default=None, help="[alerts] mad_threshold")
    args = parser.parse_args()
    settings = Settings()
    if args.mad_threshold is not None:
        settings = Settings.model_validate({"alerts": {"mad_threshold": args.mad_threshold}})
    with tempfile.TemporaryDirectory() as scratch:
        runs = [
            run_seed(args.months, seed, args.fleet, args.noise, Path(scratch) / str(seed), settings)
            for seed in range(args.seeds)
        ]
    alerts = sum(r.alerts for r in runs)
    matched = sum(r.matched for r in runs)
    incidents = sum(r.incidents for r in runs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report = {
        "months": args.months,
        "seeds": args.seeds,
        "fleet": args.fleet,
        "noise": args.noise,
        "mad_threshold": settings.alerts.mad_threshold,
        "incidents": incidents,
        "alerts": alerts,
        "precision": share(matched, alerts),
        "recall": share(sum(r.found for r in runs), incidents),
        "explained": share(sum(r.explained for r in runs), matched),
        "seconds_per_month": round(
            sum(r.seconds for r in runs) / (len(runs) * (args.months - 1)), 3
        ),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": usage.ru_maxrss // 1024,
        "missed": dict(Counter(kind for r in runs for kind in r.missed)),
        "false_alerts": [f for r in runs for f in r.false],
    }
    print(
        f"fleet {args.fleet}, noise {args.noise}, mad_threshold {settings.alerts.mad_threshold}:"
        f" {incidents} incidents in"
        f" {args.seeds}x{args.months - 1} months, {alerts} alerts, precision"
        f" {report['precision']}, recall {report['recall']}, explained {report['explained']},"
        f" {report['seconds_per_month']} s/month"
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
