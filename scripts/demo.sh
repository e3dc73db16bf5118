#!/usr/bin/env bash
# The main job on a fresh machine with only Node 20: install, build, then `sluice run` the example
# support tickets through the whole pipeline in one process (embedded mode: no Kafka, no Java, no
# Docker) and write one labelled row per ticket. Without OPENAI_BASE_URL the answers come from the
# built-in simulator, and the run says so first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
USER_PATH=$PATH
source scripts/bootstrap.sh
# The README's next commands (`pnpm sluice ...`) run in the user's own shell: pnpm must be on its PATH.
bash scripts/user-pnpm.sh "$USER_PATH"

INPUT=${1:-examples/support-tickets.jsonl}
OUTPUT=${2:-.sluice/demo/support-tickets.labels.csv}
mkdir -p "$(dirname "$OUTPUT")"
node packages/cli/dist/bin.js run "$INPUT" \
  --operation label --categories billing,bug,feature_request,account \
  -o "$OUTPUT"
echo "[demo] first rows of $OUTPUT:" >&2
head -n 4 "$OUTPUT"
