#!/usr/bin/env bash
# The repository's Python virtualenv, shared by everything in it that runs Python: the official
# `openai` package for the OpenAI-compatibility test (test/python/requirements.txt) and the Python
# SDK's test and lint tools (clients/python/requirements-dev.txt). Created on first use, brought up to
# date when a requirements file or the interpreter changes; pip's downloads are cached outside the
# clone (~/.cache/sluice/pip). Prints the venv's python on stdout; everything else goes to stderr.
#
#   SLUICE_PYTHON        the interpreter to build it from (default python3)
#   SLUICE_VENV          where (default .cache/venv)
#   SLUICE_VENV_REQUIREMENTS  the requirements files, space-separated, from the repository root
#                        (default: both files above)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${SLUICE_PYTHON:-python3}
VENV=${SLUICE_VENV:-$ROOT/.cache/venv}
read -r -a requirements <<<"${SLUICE_VENV_REQUIREMENTS:-test/python/requirements.txt clients/python/requirements-dev.txt}"
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/sluice/pip}
export PIP_DISABLE_PIP_VERSION_CHECK=1

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "[python-venv] $PYTHON not found: Python 3.9 or newer with venv and pip is needed" >&2
  exit 1
fi
args=()
for file in "${requirements[@]}"; do args+=(-r "$ROOT/$file"); done
stamp="$("$PYTHON" --version 2>&1) $(cd "$ROOT" && cat "${requirements[@]}" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.sluice-requirements" 2>/dev/null)" != "$stamp" ]; then
  echo "[python-venv] preparing $VENV ($("$PYTHON" --version 2>&1))" >&2
  "$PYTHON" -m venv --clear "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet "${args[@]}" >&2
  echo "$stamp" >"$VENV/.sluice-requirements"
fi
echo "$VENV/bin/python"
