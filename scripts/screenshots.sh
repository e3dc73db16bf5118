#!/usr/bin/env bash
# Regenerates docs/images/dashboard-list.png and dashboard-batch.png: the dashboard's browser tests
# take them on the way (a finished job's page; the list of 1,000 batches). Needs what the e2e tests
# need: a broker (KAFKA_BROKERS, SCHEMA_REGISTRY_URL; `pnpm kafka:up` prints them) and chromium.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/ci/browser.sh
mkdir -p docs/images
SLUICE_SCREENSHOTS_DIR="$ROOT/docs/images" pnpm exec vitest run --project e2e test/e2e/dashboard.test.ts \
  -t "through the form|1,000 batches"
ls -l docs/images/dashboard-list.png docs/images/dashboard-batch.png
