from gpuledger.store.state import StateDB


def test_smoke(state: StateDB) -> None:
    a = state.start_ingest("aws", "x")
    b = state.start_ingest("aws", "y")
    state.finish_ingest(a, status="ok", rows=3, partitions=[["a", "2026-01"]])
    runs = state.ingest_runs()
    assert [r.id for r in runs] == [b, a]
    assert runs[1].partitions == [["a", "2026-01"]]
    state.record_billing_period("aws", "acct", "2026-01", invoiced=True, delivery="d1")
    state.record_billing_period("aws", "acct", "2026-01", invoiced=False, delivery="d2")
    assert state.delivery_of("aws", "acct", "2026-01") == "d2"
    print(state.describe(), state.marks(["ingest_runs", "nope"]))
