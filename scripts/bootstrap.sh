#!/usr/bin/env bash
# Installs what Sluice needs on a machine that has only Node.js (20.19 or newer) and npm: pnpm (pinned, into the
# git-ignored .cache, no global change), the workspace's packages, and a build. Idempotent.
# Prints nothing on success but a short summary; source it to get `pnpm` on PATH.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PNPM_VERSION=$(node -p "require('$ROOT/package.json').packageManager.split('@')[1]")
PNPM_HOME_DIR=$ROOT/.cache/pnpm

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Sluice needs Node.js 20 or newer (found $(node -v))." >&2
  exit 1
fi
if [ ! -x "$PNPM_HOME_DIR/node_modules/.bin/pnpm" ] ||
  [ "$("$PNPM_HOME_DIR/node_modules/.bin/pnpm" --version)" != "$PNPM_VERSION" ]; then
  echo "[bootstrap] installing pnpm $PNPM_VERSION into .cache/pnpm" >&2
  npm install --silent --no-audit --no-fund --prefix "$PNPM_HOME_DIR" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$PNPM_HOME_DIR/node_modules/.bin:$PATH"
cd "$ROOT"
echo "[bootstrap] installing packages" >&2
pnpm install --frozen-lockfile --reporter=silent >&2
echo "[bootstrap] building" >&2
pnpm run --silent build >&2
