"""Alert status: new alerts open, a status survives detection running again, unknown ones refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuledger.errors import UsageError
from gpuledger.report.notify.status import ACKNOWLEDGED, OPEN, observe, set_status, statuses
from gpuledger.store.state import StateDB
from tests.notify.alert_factories import anomaly, budget


def test_a_status_survives_detection_running_again(any_state: StateDB) -> None:
    observe(any_state, [anomaly(), budget()])
    set_status(any_state, anomaly(), ACKNOWLEDGED, "  ")
    observe(any_state, [anomaly(), budget()])
    found = statuses(any_state)
    assert (found[anomaly().id].status, found[anomaly().id].reason) == (ACKNOWLEDGED, None)
    assert found[budget().id].status == OPEN


def test_an_unknown_status_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown alert status 'closed'"):
        set_status(StateDB(tmp_path / "state.sqlite"), anomaly(), "closed")
