#!/usr/bin/env bash
# The Python SDK (clients/python) in CI, self-contained:
#   lint   ruff check, ruff format --check and mypy --strict, in the shared venv (scripts/python-venv.sh)
#   test   builds the wheel, installs it into the venv, and runs pytest against real servers: the
#          embedded `sluice serve --simulate` (started by the tests on free ports) and one test on
#          the Kafka pipeline (KAFKA_BROKERS, SCHEMA_REGISTRY_URL must be set). Then the same suite,
#          without the slow 10,000-row and Kafka tests, on the oldest Python supported (3.9) when
#          the machine has it. Needs the TypeScript build (packages/cli/dist).
# Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SDK=$ROOT/clients/python
export MYPY_CACHE_DIR=$ROOT/.cache/mypy RUFF_CACHE_DIR=$ROOT/.cache/ruff PYTHONDONTWRITEBYTECODE=1

lint() {
  local python
  python=$(bash "$ROOT/scripts/python-venv.sh")
  cd "$SDK"
  "$python" -m ruff check .
  "$python" -m ruff format --check --quiet .
  "$python" -m mypy --strict
}

# Builds the wheel and installs it (its dependencies are already there): what `pip install` would.
install_sdk() {
  local python=$1 dist
  dist=$(mktemp -d)
  "$python" -m pip wheel --quiet --no-deps --wheel-dir "$dist" "$SDK"
  "$python" -m pip uninstall --quiet --yes sluice >/dev/null 2>&1 || true
  "$python" -m pip install --quiet "$dist"/sluice-*.whl
  rm -rf "$dist"
}

# A Python 3.9 interpreter that runs, or nothing.
oldest_python() {
  local candidate
  for candidate in python3.9 "$(pyenv root 2>/dev/null)"/versions/3.9*/bin/python3.9; do
    if "$candidate" -c 'import sys, venv; assert sys.version_info[:2] == (3, 9)' >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
}

run_tests() {
  local python
  python=$(bash "$ROOT/scripts/python-venv.sh")
  install_sdk "$python"
  echo "[python-sdk] pytest on $("$python" --version)" >&2
  (cd "$SDK" && "$python" -m pytest -p no:cacheprovider "$@")

  local oldest
  oldest=$(oldest_python)
  if [ -z "$oldest" ]; then
    echo "[python-sdk] no Python 3.9 here: the run on the oldest supported Python is skipped" >&2
    return
  fi
  python=$(SLUICE_PYTHON=$oldest SLUICE_VENV=$ROOT/.cache/venv-py39 \
    SLUICE_VENV_REQUIREMENTS=clients/python/requirements-dev.txt bash "$ROOT/scripts/python-venv.sh")
  install_sdk "$python"
  echo "[python-sdk] pytest on $("$python" --version), without the 10,000-row and Kafka tests" >&2
  (cd "$SDK" && "$python" -m pytest -p no:cacheprovider -q \
    --ignore tests/test_download_memory.py --ignore tests/test_kafka.py "$@")
}

case "${1:-}" in
  lint) lint ;;
  test) shift && run_tests "$@" ;;
  *)
    echo "usage: bash scripts/ci/python-sdk.sh lint | test [pytest arguments]" >&2
    exit 2
    ;;
esac
