"""A job whose body fails transiently is run again with backoff; a terminal failure is not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gpuledger.config import Settings
from gpuledger.errors import GpuledgerError, InputError, SourceError
from gpuledger.schedule import jobs
from gpuledger.schedule.jobs import JobRetry, run_job
from gpuledger.schedule.lock import last_runs
from gpuledger.store.delta import Store

NOW = datetime(2026, 11, 2, 8, 45, tzinfo=UTC)


class Body:
    """A job body that fails with the given errors, in turn, before it succeeds."""

    def __init__(self, *failures: GpuledgerError) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self, store: Store, settings: Settings, now: datetime) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPULEDGER_CONFIG", raising=False)


def run_attribute(
    monkeypatch: pytest.MonkeyPatch, store: Store, body: Body, waits: list[float]
) -> str:
    monkeypatch.setitem(jobs.BODIES, "attribute", body)
    return run_job("attribute", store.home, None, now=NOW, retry=JobRetry(sleep=waits.append))


def test_a_transient_failure_is_retried_with_backoff(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    body = Body(SourceError("throttled", transient=True), SourceError("503", transient=True))
    waits: list[float] = []

    assert run_attribute(monkeypatch, store, body, waits) == "done"

    assert body.calls == 3
    assert waits == [10.0, 20.0]
    assert last_runs(store.state)["attribute"]["status"] == "ok"


def test_a_terminal_failure_is_not_retried(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    body = Body(InputError("bad row", file="cur.csv", row=3))
    waits: list[float] = []

    with pytest.raises(InputError, match="bad row"):
        run_attribute(monkeypatch, store, body, waits)

    assert body.calls == 1
    assert waits == []
    last = last_runs(store.state)["attribute"]
    assert (last["status"], last["message"]) == ("failed", "cur.csv, row 3: bad row")


def test_retries_are_bounded(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    body = Body(*(SourceError(f"throttled {n}", transient=True) for n in range(5)))
    waits: list[float] = []

    with pytest.raises(SourceError, match="throttled 2"):
        run_attribute(monkeypatch, store, body, waits)

    assert body.calls == 3
    assert waits == [10.0, 20.0]
    assert last_runs(store.state)["attribute"]["status"] == "failed"


@dataclass
class Result:
    rows: int = 1

    def summary(self) -> str:
        return "1 row"


class Source:
    """A collector for one source that fails with the given errors before it succeeds."""

    def __init__(self, *failures: GpuledgerError) -> None:
        self.failures = list(failures)
        self.calls = 0

    def ingest(self, store: Store, settings: Settings, src: str, **options: Any) -> Result:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return Result()


def run_ingest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: Store, sources: dict[str, Source]
) -> tuple[str, list[float]]:
    config = tmp_path / "gpuledger.toml"
    config.write_text(
        "[sources]\n" + "".join(f'{name} = ["s3://bucket/{name}/"]\n' for name in sources)
    )
    monkeypatch.setattr(jobs, "collector", lambda source: sources[source])
    waits: list[float] = []
    retry = JobRetry(sleep=waits.append)
    return run_job("ingest-billing", store.home, str(config), now=NOW, retry=retry), waits


def test_an_ingest_whose_sources_failed_transiently_is_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: Store
) -> None:
    aws = Source(SourceError("s3://bucket/aws/: cannot list objects: SlowDown", transient=True))
    gcp = Source()

    message, waits = run_ingest(monkeypatch, tmp_path, store, {"aws": aws, "gcp": gcp})

    assert message == "ingested 2 source(s)"
    assert (aws.calls, gcp.calls, waits) == (2, 2, [10.0])


def test_an_ingest_with_one_terminal_failure_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: Store
) -> None:
    aws = Source(SourceError("throttled", transient=True))
    gcp = Source(InputError("not a GCP export", file="s3://bucket/gcp/a.json"))

    with pytest.raises(GpuledgerError, match=r"2 source\(s\) failed") as raised:
        run_ingest(monkeypatch, tmp_path, store, {"aws": aws, "gcp": gcp})

    assert not raised.value.transient
    assert (aws.calls, gcp.calls) == (1, 1)
