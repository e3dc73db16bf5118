#!/usr/bin/env bash
# A real S3 server without Docker: S3Proxy (org.gaul:s3proxy from Maven Central) with its
# filesystem backend, as a plain `java` process on loopback. Sluice's S3 store and its tests use it.
#
#   s3proxy.sh up       start (idempotent), wait until it answers, print the environment
#   s3proxy.sh down     stop exactly the process `up` started (data is kept)
#   s3proxy.sh status   say whether it runs
#   s3proxy.sh reset    down, then delete its data
#
# S3Proxy 2.6.0: the line that runs on Java 17. The AWS SDK v3 sends checksum headers it refuses;
# Sluice's S3 client sets requestChecksumCalculation / responseChecksumValidation to WHEN_REQUIRED.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
S3PROXY_VERSION=${SLUICE_S3PROXY_VERSION:-2.6.0}
CACHE=${SLUICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/infra}
STATE=${SLUICE_INFRA_DIR:-$ROOT/.infra}
HOST=127.0.0.1
PORT=${S3PROXY_PORT:-9000}
HEAP=${SLUICE_S3PROXY_HEAP:--Xms32m -Xmx256m}
ACCESS_KEY=${S3PROXY_ACCESS_KEY:-sluice}
SECRET_KEY=${S3PROXY_SECRET_KEY:-sluice-secret}

JAR_DIR=$CACHE/s3proxy-$S3PROXY_VERSION
JAR=$JAR_DIR/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar
S3_STATE=$STATE/s3proxy
ENDPOINT=http://$HOST:$PORT

log() { printf '[s3proxy.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }

resolve() {
  [ -f "$JAR" ] && return
  need mvn "Maven 3 resolves S3Proxy from Maven Central"
  log "resolving org.gaul:s3proxy:$S3PROXY_VERSION (jar-with-dependencies) from Maven Central"
  mkdir -p "$JAR_DIR"
  local pom=$CACHE/s3proxy-$S3PROXY_VERSION.pom.xml
  cat >"$pom" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sluice.infra</groupId>
  <artifactId>s3proxy</artifactId>
  <version>$S3PROXY_VERSION</version>
  <packaging>pom</packaging>
</project>
EOF
  # Maven prints to stdout; keep stdout for the environment lines `up` prints.
  mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$CACHE/m2" -f "$pom" dependency:copy \
    -Dartifact="org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" -DoutputDirectory="$JAR_DIR" >&2
  [ -f "$JAR" ] || die "Maven did not produce $JAR"
}

pid_alive() {
  local pidfile=$STATE/s3proxy.pid pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-Dsluice.infra=$STATE -Dsluice.role=s3proxy" || return 1
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

answers() {
  # Any HTTP status (an anonymous request gets 403) means S3Proxy is serving.
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$ENDPOINT/")" != "000" ]
  else
    port_open "$PORT"
  fi
}

start() {
  if pid_alive; then
    log "s3proxy already running (pid $(cat "$STATE/s3proxy.pid"))"
    return
  fi
  port_open "$PORT" && die "port $PORT is taken by a process this script did not start; stop it or set S3PROXY_PORT"
  resolve
  mkdir -p "$S3_STATE/data" "$S3_STATE/logs"
  cat >"$S3_STATE/s3proxy.conf" <<EOF
s3proxy.endpoint=$ENDPOINT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$ACCESS_KEY
s3proxy.credential=$SECRET_KEY
jclouds.provider=filesystem
jclouds.filesystem.basedir=$S3_STATE/data
EOF
  log "starting s3proxy $S3PROXY_VERSION on $ENDPOINT (data in $S3_STATE/data)"
  nohup setsid java -Dsluice.infra="$STATE" -Dsluice.role=s3proxy $HEAP -XX:+UseSerialGC \
    -jar "$JAR" --properties "$S3_STATE/s3proxy.conf" >"$S3_STATE/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$STATE/s3proxy.pid"
}

wait_up() {
  local deadline=$((SECONDS + ${SLUICE_INFRA_TIMEOUT_S:-120}))
  until answers; do
    pid_alive || { tail -n 30 "$S3_STATE/logs/stdout.log" >&2 || true; die "s3proxy exited during start-up"; }
    [ $SECONDS -lt $deadline ] || die "s3proxy did not answer on $ENDPOINT in time (logs: $S3_STATE/logs)"
    sleep 0.3
  done
}

stop() {
  local pid
  if ! pid_alive; then
    rm -f "$STATE/s3proxy.pid"
    return
  fi
  pid=$(cat "$STATE/s3proxy.pid")
  log "stopping s3proxy (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/s3proxy.pid"
}

print_env() {
  cat >"$STATE/s3.env" <<EOF
export AWS_ENDPOINT_URL=$ENDPOINT
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
EOF
  cat "$STATE/s3.env"
}

need java "Java 17 runs S3Proxy"
mkdir -p "$STATE"
case "${1:-}" in
  up)
    start
    wait_up
    log "s3proxy is up; use this environment (and SLUICE_STORAGE_URL=s3://<bucket>/<prefix>):"
    print_env
    ;;
  down) stop ;;
  status)
    if pid_alive; then echo "s3proxy: running (pid $(cat "$STATE/s3proxy.pid"))"; else echo "s3proxy: stopped"; fi
    ;;
  reset)
    stop
    rm -rf "$S3_STATE/data"
    log "data deleted"
    ;;
  *)
    echo "usage: $0 up|down|status|reset" >&2
    exit 2
    ;;
esac
