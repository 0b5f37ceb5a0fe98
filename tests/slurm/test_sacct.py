"""sacct --json and --parsable2 outputs read into the same GPU jobs; bad input names job and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpuledger.collect.slurm.sacct import SlurmJob, read_sacct
from gpuledger.errors import InputError

FIXTURES = Path(__file__).parent / "fixtures"


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 5, 4, hour, minute, tzinfo=UTC)


EXPECTED = [
    SlurmJob(
        "4242",
        "nlp-research",
        "alice",
        "gpu",
        ("dgx01", "dgx02"),
        _at(10, 15),
        _at(11, 5),
        8,
        "H100",
    ),
    SlurmJob("4243", "vision", "bob", "gpu", ("dgx03",), _at(10, 16), _at(10, 23), 2, "H100"),
]


def test_json_jobs() -> None:
    read = read_sacct((FIXTURES / "sacct.json").read_text(), "sacct.json")
    assert [j.job_id for j in read.jobs] == ["4242", "4243"]  # the CPU-only job is left out
    assert read.jobs[0] == EXPECTED[0]
    assert read.jobs[1].gpu_indexes == ((4, 6),)  # from gres_detail
    assert read.unfinished == 1


def test_parsable2_reads_like_json() -> None:
    read = read_sacct((FIXTURES / "sacct.parsable2").read_text(), "sacct.parsable2")
    assert read.jobs == EXPECTED  # steps skipped, typed-only GPUs counted
    assert read.unfinished == 1


def _json_with(**changes: Any) -> str:
    payload = json.loads((FIXTURES / "sacct.json").read_text())
    job = payload["jobs"][0]
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = job
        for key in path:
            target = target[key]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(payload)


BAD_JSON = {
    "end before start": (
        _json_with(time__end=1777889000),
        "sacct.json, column 'end': job 4242: ends before it starts",
    ),
    "no account": (_json_with(account=None), "column 'account': job 4242: missing"),
    "no time": (_json_with(time=None), "column 'time': job 4242: missing"),
    "time not a number": (_json_with(time__start="soon"), "column 'time.start': job 4242"),
    "no tres": (_json_with(tres=None), "column 'tres.allocated': job 4242: missing"),
    "bad hostlist": (_json_with(nodes="dgx[01-"), "column 'nodes': job 4242: '\\[' without"),
    "not json": ("{not json", "sacct.json: not JSON"),
    "no jobs": ('{"meta": {}}', "sacct.json: no 'jobs' list"),
}


@pytest.mark.parametrize(("text", "message"), BAD_JSON.values(), ids=BAD_JSON.keys())
def test_bad_json_names_file_job_and_field(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_sacct(text, "sacct.json")


HEADER = "JobID|Account|User|Partition|NodeList|Start|End|AllocTRES"
BAD_PARSABLE = {
    "missing field": ("JobID|Account|Start\n1|a|x", "header lacks User, Partition, NodeList"),
    "end before start": (
        f"{HEADER}\n7|a|u|p|n1|2026-05-04T10:00:00|2026-05-04T09:00:00|gres/gpu=1",
        "column 'end': job 7: ends before it starts",
    ),
    "bad time": (
        f"{HEADER}\n7|a|u|p|n1|yesterday|2026-05-04T09:00:00|gres/gpu=1",
        "column 'Start': job 7: 'yesterday' is not a time",
    ),
    "bad count": (
        f"{HEADER}\n7|a|u|p|n1|2026-05-04T10:00:00|2026-05-04T11:00:00|gres/gpu=x",
        "column 'AllocTRES': job 7",
    ),
    "short row": (f"{HEADER}\n7|a|u", "row 2: 3 fields"),
}


@pytest.mark.parametrize(("text", "message"), BAD_PARSABLE.values(), ids=BAD_PARSABLE.keys())
def test_bad_parsable_names_file_job_and_field(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_sacct(text, "sacct.txt")
