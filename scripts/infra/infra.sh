#!/usr/bin/env bash
# Everything the tests and Kafka mode need, without Docker: the Kafka broker and schema registry
# (kafka.sh) and the S3 server (s3proxy.sh). `pnpm infra:up` / `pnpm kafka:up` run `up`.
#
#   infra.sh up       start all (idempotent), print the environment of each
#   infra.sh down     stop what `up` started
#   infra.sh status   say what runs
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in
  up)
    bash "$DIR/kafka.sh" up
    bash "$DIR/s3proxy.sh" up
    ;;
  down)
    bash "$DIR/s3proxy.sh" down || true
    bash "$DIR/kafka.sh" down
    ;;
  status)
    bash "$DIR/kafka.sh" status
    bash "$DIR/s3proxy.sh" status
    ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
