"""The suites that keep operational state, run again with the state on SQLite and on PostgreSQL.

The tests are the originals, imported: here their ``store`` fixture is the ledger of
``tests/state/conftest.py``, once per backend. Ingest runs, close and re-open, recommendation
status, the e-mail send log, the scheduler's run lock, the allocation's input record and the
telemetry index.
"""

from tests.chargeback.test_chargeback_close import (
    test_closed_month_is_byte_identical_after_a_restatement,
    test_provisional_month_needs_force,
    test_reopen_records_why_and_makes_the_month_live,
    test_reopen_refused_while_a_later_close_holds_its_corrections,
    test_tampered_statement_is_refused,
)
from tests.chargeback.test_stale_allocation import (
    attributed,
    test_an_allocation_without_a_record_keeps_the_totals_check,
    test_another_month_and_compaction_leave_it_fresh,
    test_cost_moved_between_teams_with_the_same_total_is_stale,
    test_new_telemetry_of_the_month_makes_it_stale,
)
from tests.email.test_send_log import (
    test_claim,
    test_outcomes_are_recorded,
    test_skip_reasons_say_why,
)
from tests.foundation.test_ingest import test_a_refused_batch_changes_nothing_and_is_recorded
from tests.foundation.test_telemetry_index import (
    test_a_write_by_another_path_is_noticed,
    test_gpu_hours_without_resource,
    test_incremental_updates_equal_a_rebuild,
    test_ingest_keeps_the_index_current,
)
from tests.recommend.test_lifecycle import (
    test_dismiss_needs_a_reason,
    test_dismissed_is_not_raised_again_while_unchanged,
    test_done_shows_realized_against_estimated,
)
from tests.schedule.test_run_lock import (
    test_a_dead_holder_is_marked_abandoned,
    test_last_runs_shows_the_latest_per_job,
    test_renewal_keeps_a_long_run_alive,
    test_second_process,
)

__all__ = [
    "attributed",
    "test_a_dead_holder_is_marked_abandoned",
    "test_a_refused_batch_changes_nothing_and_is_recorded",
    "test_a_write_by_another_path_is_noticed",
    "test_an_allocation_without_a_record_keeps_the_totals_check",
    "test_another_month_and_compaction_leave_it_fresh",
    "test_claim",
    "test_closed_month_is_byte_identical_after_a_restatement",
    "test_cost_moved_between_teams_with_the_same_total_is_stale",
    "test_dismiss_needs_a_reason",
    "test_dismissed_is_not_raised_again_while_unchanged",
    "test_done_shows_realized_against_estimated",
    "test_gpu_hours_without_resource",
    "test_incremental_updates_equal_a_rebuild",
    "test_ingest_keeps_the_index_current",
    "test_last_runs_shows_the_latest_per_job",
    "test_new_telemetry_of_the_month_makes_it_stale",
    "test_outcomes_are_recorded",
    "test_provisional_month_needs_force",
    "test_renewal_keeps_a_long_run_alive",
    "test_reopen_records_why_and_makes_the_month_live",
    "test_reopen_refused_while_a_later_close_holds_its_corrections",
    "test_second_process",
    "test_skip_reasons_say_why",
    "test_tampered_statement_is_refused",
]
