#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install, start the local Kafka broker and schema
# registry, run Sluice with the simulator as the upstream, submit the example domain batch, wait
# for it, write its output, and stop everything that was started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/bootstrap.sh

INPUT=${1:-examples/domain-mixed.jsonl}
OUTPUT=${2:-.sluice/demo-output.jsonl}
PORT=${PORT:-8080}
started_infra=false
pid=''
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ "$started_infra" = true ] && bash scripts/infra/kafka.sh down || true
}
trap cleanup EXIT

if [ -z "${KAFKA_BROKERS:-}" ]; then
  started_infra=true
  eval "$(bash scripts/infra/kafka.sh up)"
  export KAFKA_BROKERS SCHEMA_REGISTRY_URL
fi
mkdir -p .sluice
echo "[demo] starting sluice (upstream: the simulator; answers are simulated)" >&2
PORT=$PORT LOG_LEVEL=warn SLUICE_DATA_DIR=.sluice/demo node packages/cli/dist/bin.js serve --simulate >.sluice/demo-serve.log 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
echo "[demo] submitting $INPUT ($(wc -l <"$INPUT") lines)" >&2
batch=$(curl -sf -X POST -H 'content-type: application/jsonl' --data-binary "@$INPUT" "http://127.0.0.1:$PORT/v1/batches")
id=$(node -e 'console.log(JSON.parse(process.argv[1]).id)' "$batch")
while :; do
  status=$(curl -sf "http://127.0.0.1:$PORT/v1/batches/$id")
  state=$(node -e 'const b=JSON.parse(process.argv[1]);console.log(b.status, b.request_counts.completed+b.request_counts.failed, b.request_counts.total)' "$status")
  echo "[demo] $id: $state" >&2
  case $state in completed* | failed* | cancelled* | expired*) break ;; esac
  sleep 1
done
curl -sf "http://127.0.0.1:$PORT/v1/batches/$id/output" >"$OUTPUT"
echo "[demo] wrote $(wc -l <"$OUTPUT") output lines to $OUTPUT" >&2
head -c 600 "$OUTPUT"
echo
