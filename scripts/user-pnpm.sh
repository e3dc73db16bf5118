#!/usr/bin/env bash
# Makes `pnpm` reachable from the user's own shells, for the README's commands (`pnpm sluice ...`)
# after `bash scripts/demo.sh`: bootstrap.sh puts its pinned pnpm in .cache/pnpm, on the PATH of
# the scripts only. Argument: the PATH the user's shell has (the demo's before bootstrap changed it).
#   - a pnpm already on that PATH: nothing to do (pnpm 9.7 and newer switch to package.json's
#     `packageManager` version by themselves);
#   - else the pinned pnpm, by npm's own global install (what pnpm's docs give first), into npm's
#     global prefix when it is writable and its bin on the PATH (nvm, fnm, Homebrew, volta...),
#     else into ~/.local when ~/.local/bin is on the PATH (most Linux desktops put it there);
#   - else nothing is installed (a system Node's prefix needs root), and it says what to run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USER_PATH=${1:-$PATH}
PNPM_VERSION=$(node -p "require('$ROOT/package.json').packageManager.split('@')[1]")

on_user_path() { case ":$USER_PATH:" in *":$1:"*) return 0 ;; *) return 1 ;; esac; }
# Writable, or creatable in a writable parent.
writable() { if [ -e "$1" ]; then [ -w "$1" ]; else writable "$(dirname "$1")"; fi; }

if PATH=$USER_PATH command -v pnpm >/dev/null 2>&1; then
  exit 0
fi
npm_prefix=$(npm prefix --global)
if on_user_path "$npm_prefix/bin" && writable "$npm_prefix/bin" && writable "$npm_prefix/lib/node_modules"; then
  prefix=$npm_prefix
elif on_user_path "$HOME/.local/bin" && writable "$HOME/.local"; then
  prefix=$HOME/.local
else
  cat >&2 <<MESSAGE
[pnpm] The README's commands need pnpm, and none is on your PATH. Either install it
  (npm install --global pnpm@$PNPM_VERSION, with sudo for a system Node), or use the
  demo's copy in this shell: export PATH="$ROOT/.cache/pnpm/node_modules/.bin:\$PATH"
MESSAGE
  exit 0
fi
echo "[pnpm] installing pnpm $PNPM_VERSION into $prefix (npm install --global), for the README's pnpm commands" >&2
npm install --global --prefix "$prefix" --silent --no-audit --no-fund "pnpm@$PNPM_VERSION" >&2
