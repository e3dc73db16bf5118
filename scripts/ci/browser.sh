#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser tests (test/e2e/dashboard.test.ts drives it
# with playwright-core, which downloads no browser of its own). Idempotent: quick when it is there.
set -euo pipefail
CHROMIUM=${SLUICE_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "[browser] installing chromium (Debian package)" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends chromium >&2
"$CHROMIUM" --version >&2
