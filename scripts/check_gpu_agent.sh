#!/usr/bin/env bash
# Smoke test on a real GPU host: run `gpuledger agent` for about a minute and print what it saw.
#
#   scripts/check_gpu_agent.sh [SECONDS]      (default 70; needs the NVIDIA driver, no root)
#
# Prints nvidia-smi's view for comparison, the agent's metrics mid-run, then the spool's
# gpu_usage rows (60-second buckets; the open bucket is written on SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-70}"
GPULEDGER="${GPULEDGER:-.venv/bin/gpuledger}"
PYTHON="${PYTHON:-.venv/bin/python}"
WORK="$(mktemp -d)"
PORT="${PORT:-9401}"
trap 'rm -rf "$WORK"' EXIT

echo "== nvidia-smi"
nvidia-smi --query-gpu=index,uuid,name,memory.used,memory.total,utilization.gpu,power.draw --format=csv || true
nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv || true

echo "== agent: ${SECONDS_TO_RUN}s, 1 s samples, 60 s buckets, metrics on :${PORT}"
"$GPULEDGER" --home "$WORK/home" agent --spool "$WORK/spool" --interval 1 --bucket 60 \
  --metrics-port "$PORT" ${RESOURCE_ID:+--resource-id "$RESOURCE_ID"} &
AGENT=$!
sleep $((SECONDS_TO_RUN / 2))
echo "== metrics (mid-run)"
curl -fsS "http://127.0.0.1:${PORT}/metrics" | grep -E '^gpuledger_(gpu|workload|agent)_' | grep -v '_created' || true
sleep $((SECONDS_TO_RUN - SECONDS_TO_RUN / 2))
kill -TERM "$AGENT"
wait "$AGENT" || echo "agent exited with status $?"

echo "== spool"
ls -l "$WORK/spool"
"$PYTHON" - "$WORK/spool" <<'PY'
import sys
from pathlib import Path

import polars as pl

from gpuledger.collect.files import SourceFile
from gpuledger.collect.gpu.files import read_usage_file

pl.Config.set_tbl_rows(200)
pl.Config.set_tbl_cols(30)
pl.Config.set_tbl_width_chars(250)
files = sorted(Path(sys.argv[1]).glob("gpu_usage-*.csv"))
read = [read_usage_file(SourceFile(str(f), f.stat().st_size)) for f in files]
for f, (_rows, refused) in zip(files, read):
    if not refused.is_empty():
        print(f"{f.name}: the ingest reader refuses {refused.height} row(s):", refused.to_dicts())
rows = pl.concat([r for r, _ in read]) if read else pl.DataFrame()
if rows.is_empty():
    sys.exit("no bucket rows were written")
print(
    rows.select(
        "bucket_start", "host", "ResourceId", "gpu_index", "gpu_uuid", "gpu_model", "mig_profile",
        "namespace", "pod", "job", "pid_command", "team", "active_seconds", "sm_util",
        (pl.col("mem_used_bytes") / 2**30).round(2).alias("mem_used_gib"),
        (pl.col("mem_total_bytes") / 2**30).round(1).alias("mem_total_gib"),
        pl.col("power_w").round(1), "samples", "util_method",
    ).sort("bucket_start", "gpu_index")
)
PY
echo "== ingest into a throw-away ledger"
"$GPULEDGER" --home "$WORK/home" ingest gpu "$WORK/spool"
