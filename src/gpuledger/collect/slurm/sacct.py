"""``sacct`` output → Slurm jobs with GPUs: the pure read of ``--json`` and ``--parsable2``.

``sacct --json`` is the slurmdbd job record of Slurm's data parser (v0.0.39 and later, Slurm
23.02–25.x, as documented at https://slurm.schedmd.com/rest_api.html, ``v0.0.4x_job``):
``{"jobs": [{"job_id", "account", "user", "partition", "nodes": "gpu[01-04]", "time": {"start",
"end", …}, "tres": {"allocated": [{"type": "gres", "name": "gpu", "count": 4}, {"type": "gres",
"name": "gpu:h100", "count": 4}, …]}, …}]}``. Times are epoch seconds, or the parser's
``{"set", "infinite", "number"}`` form; ``gres_detail`` (``["gpu:h100:4(IDX:0-3)"]``, one entry
per node, as ``scontrol``/``squeue --json`` print it) is used when present.

``sacct --parsable2`` needs the fields ``JobID|Account|User|Partition|NodeList|Start|End|AllocTRES``
(any order, others ignored): ``sacct -a -X --parsable2 -o JobID,Account,User,Partition,NodeList,
Start,End,AllocTRES``, run with ``TZ=UTC`` — its ISO times carry no zone and are read as UTC.
``AllocTRES`` is ``billing=8,cpu=32,gres/gpu=4,gres/gpu:h100=4,mem=256G,node=1``; job steps
(``1234.batch``, ``1234.0``) repeat their job's allocation and are skipped.

Jobs that have not started or not ended yet (start or end 0 / ``Unknown``) are counted, not read:
their allocation is stored once they end. Jobs without GPUs are left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from gpuledger.collect.slurm.hostlist import HostlistError, expand_hostlist
from gpuledger.errors import InputError

PARSABLE_FIELDS: Final = (
    "JobID",
    "Account",
    "User",
    "Partition",
    "NodeList",
    "Start",
    "End",
    "AllocTRES",
)
UNFINISHED: Final = "unfinished"  # not started or not ended yet: stored once it ends
NO_GPUS: Final = "no GPUs"
Skipped = Literal["unfinished", "no GPUs"]
_NOT_SET: Final = frozenset({"", "unknown", "none", "none assigned", "n/a"})
_GRES_DETAIL: Final = re.compile(r"gpu(?::([^:(,]+))?(?::\d+)?\(IDX:([^)]*)\)")


@dataclass(frozen=True)
class SlurmJob:
    """One job's GPU allocation: ``gpus`` in all over ``hosts`` from ``start`` to ``end``."""

    job_id: str
    account: str
    user: str | None
    partition: str | None
    hosts: tuple[str, ...]
    start: datetime
    end: datetime
    gpus: int
    gpu_model: str | None = None
    gpu_indexes: tuple[tuple[int, ...], ...] = ()  # per host, from gres_detail; () when absent


@dataclass
class SacctRead:
    """The jobs with GPUs of one sacct output, and how many jobs were not finished yet."""

    jobs: list[SlurmJob] = field(default_factory=list)
    unfinished: int = 0


def read_sacct(text: str, name: str) -> SacctRead:
    """Jobs of a ``sacct --json`` or ``--parsable2`` output; ``name`` is the file in errors."""
    if text.lstrip().startswith("{"):
        return _read_json(text, name)
    return _read_parsable(text, name)


class _JobError(InputError):
    """A bad field of one job: names the file, the job and the field."""

    def __init__(self, name: str, job: str, column: str, problem: str, expected: str) -> None:
        super().__init__(f"job {job}: {problem}", file=name, column=column, expected=expected)


def _read_json(text: str, name: str) -> SacctRead:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not JSON ({exc.msg} at line {exc.lineno})",
            file=name,
            expected="the output of `sacct --json`",
        ) from exc
    jobs = payload.get("jobs") if isinstance(payload, dict) else None
    if not isinstance(jobs, list):
        raise InputError("no 'jobs' list", file=name, expected="the output of `sacct --json`")
    read = SacctRead()
    for index, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise InputError(f"jobs[{index}] is not an object", file=name, expected="a job record")
        _add(read, _json_job(job, index, name))
    return read


def _add(read: SacctRead, job: SlurmJob | Skipped) -> None:
    """Record one parsed job, or count it as unfinished; a job without GPUs is left out."""
    if job == UNFINISHED:
        read.unfinished += 1
    elif isinstance(job, SlurmJob):
        read.jobs.append(job)


def _json_job(job: dict[str, Any], index: int, name: str) -> SlurmJob | Skipped:
    job_id = job.get("job_id")
    if not isinstance(job_id, int):
        raise InputError(
            f"jobs[{index}] has no job_id", file=name, column="job_id", expected="an integer"
        )
    jid = str(job_id)
    times = job.get("time")
    if not isinstance(times, dict):
        raise _JobError(name, jid, "time", "missing", "an object with start and end")
    start = _epoch(times.get("start"), name, jid, "time.start")
    end = _epoch(times.get("end"), name, jid, "time.end")
    if start == 0 or end == 0:
        return UNFINISHED
    allocated = (job.get("tres") or {}).get("allocated")
    if not isinstance(allocated, list):
        raise _JobError(name, jid, "tres.allocated", "missing", "a list of TRES entries")
    gpus, model = _json_gpus(allocated, name, jid)
    if gpus == 0:
        return NO_GPUS
    detail = job.get("gres_detail") or []
    return _job(
        name,
        jid,
        account=_text(job, "account", name, jid),
        user=_optional(job.get("user")),
        partition=_optional(job.get("partition")),
        nodes=_text(job, "nodes", name, jid),
        start=start,
        end=end,
        gpus=gpus,
        model=model or _detail_model(detail),
        detail=detail,
    )


def _epoch(value: Any, name: str, job: str, column: str) -> int:
    """Epoch seconds from a plain integer or the parser's ``{"set", "number"}`` form."""
    if isinstance(value, dict):
        value = value.get("number", 0) if value.get("set", True) else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _JobError(name, job, column, f"{value!r} is not a time", "epoch seconds")
    return value


def _text(job: dict[str, Any], key: str, name: str, jid: str) -> str:
    value = job.get(key)
    if not isinstance(value, str) or value.strip().casefold() in _NOT_SET:
        raise _JobError(name, jid, key, "missing", "a non-empty string")
    return value.strip()


def _optional(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _json_gpus(allocated: list[Any], name: str, jid: str) -> tuple[int, str | None]:
    """(GPU count, GPU type) from the allocated TRES: untyped ``gpu`` count, else typed ones."""
    total: int | None = None
    typed: dict[str, int] = {}
    for entry in allocated:
        if not isinstance(entry, dict) or entry.get("type") != "gres":
            continue
        gres = str(entry.get("name") or "")
        if gres != "gpu" and not gres.startswith("gpu:"):
            continue
        count = entry.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise _JobError(
                name, jid, "tres.allocated.count", f"{count!r} for {gres}", "a whole number"
            )
        if gres == "gpu":
            total = count
        else:
            typed[gres.removeprefix("gpu:")] = count
    return _gpus(total, typed)


def _gpus(total: int | None, typed: dict[str, int]) -> tuple[int, str | None]:
    model = next(iter(typed)) if len(typed) == 1 else None
    return (sum(typed.values()) if total is None else total), model


def _detail_model(detail: list[Any]) -> str | None:
    for entry in detail:
        found = _GRES_DETAIL.search(str(entry))
        if found and found.group(1):
            return found.group(1)
    return None


def _job(
    name: str,
    jid: str,
    *,
    account: str,
    user: str | None,
    partition: str | None,
    nodes: str,
    start: int,
    end: int,
    gpus: int,
    model: str | None,
    detail: list[Any],
) -> SlurmJob:
    if end < start:
        raise _JobError(name, jid, "end", "ends before it starts", "an end at or after the start")
    try:
        hosts = tuple(expand_hostlist(nodes))
    except HostlistError as exc:
        raise _JobError(name, jid, "nodes", str(exc), "a Slurm host list like gpu[01-04]") from exc
    return SlurmJob(
        job_id=jid,
        account=account,
        user=user,
        partition=partition,
        hosts=hosts,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        gpus=gpus,
        gpu_model=model.upper() if model else None,
        gpu_indexes=_indexes(detail, len(hosts), name, jid),
    )


def _indexes(detail: list[Any], hosts: int, name: str, jid: str) -> tuple[tuple[int, ...], ...]:
    """Per host, the GPU indexes ``gres_detail`` names; () when it does not name every host."""
    if len(detail) != hosts:
        return ()
    per_host = []
    for entry in detail:
        found = _GRES_DETAIL.search(str(entry))
        if found is None:
            return ()
        try:
            numbers = expand_hostlist(f"[{found.group(2)}]") if found.group(2) else []
        except HostlistError as exc:
            raise _JobError(name, jid, "gres_detail", str(exc), "gpu:TYPE:N(IDX:0-3)") from exc
        per_host.append(tuple(int(n) for n in numbers))
    return tuple(per_host)


def _read_parsable(text: str, name: str) -> SacctRead:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("empty", file=name, expected="`sacct --json` or `--parsable2` output")
    header = lines[0].split("|")
    missing = [f for f in PARSABLE_FIELDS if f not in header]
    if missing:
        raise InputError(
            f"not sacct --json, and its header lacks {', '.join(missing)}",
            file=name,
            row=1,
            expected=f"`sacct --parsable2 -o {','.join(PARSABLE_FIELDS)}`",
        )
    read = SacctRead()
    for number, line in enumerate(lines[1:], start=2):
        values = line.split("|")
        if len(values) != len(header):
            raise InputError(
                f"{len(values)} fields", file=name, row=number, expected=f"{len(header)} fields"
            )
        row = dict(zip(header, values, strict=True))
        if "." in row["JobID"]:
            continue  # a step: its job's line holds the allocation
        _add(read, _parsable_job(row, name))
    return read


def _parsable_job(row: dict[str, str], name: str) -> SlurmJob | Skipped:
    jid = row["JobID"].strip()
    start, end = (_iso(row[key], name, jid, key) for key in ("Start", "End"))
    if start is None or end is None:
        return UNFINISHED
    gpus, model = _tres_gpus(row["AllocTRES"], name, jid)
    if gpus == 0:
        return NO_GPUS
    return _job(
        name,
        jid,
        account=_text(row, "Account", name, jid),
        user=_optional(row["User"]),
        partition=_optional(row["Partition"]),
        nodes=_text(row, "NodeList", name, jid),
        start=start,
        end=end,
        gpus=gpus,
        model=model,
        detail=[],
    )


def _iso(value: str, name: str, jid: str, column: str) -> int | None:
    """Epoch seconds of a sacct time (read as UTC); None for a time not set yet."""
    if value.strip().casefold() in _NOT_SET:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise _JobError(
            name, jid, column, f"{value!r} is not a time", "YYYY-MM-DDTHH:MM:SS"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _tres_gpus(tres: str, name: str, jid: str) -> tuple[int, str | None]:
    """(GPU count, GPU type) from ``AllocTRES`` (``gres/gpu=4,gres/gpu:h100=4,…``)."""
    total: int | None = None
    typed: dict[str, int] = {}
    for item in filter(None, tres.split(",")):
        key, _, count = item.partition("=")
        if key != "gres/gpu" and not key.startswith("gres/gpu:"):
            continue
        if not count.isdigit():
            raise _JobError(name, jid, "AllocTRES", f"{item!r}", "gres/gpu=<whole number>")
        if key == "gres/gpu":
            total = int(count)
        else:
            typed[key.removeprefix("gres/gpu:")] = int(count)
    return _gpus(total, typed)
