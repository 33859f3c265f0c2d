#!/usr/bin/env bash
# Runs a command with a fresh three-node Kafka cluster (e2e/kafka-cluster.sh)
# on 127.0.0.1:$KAFKA_CLUSTER_PORT.. (29192-29197) and stops it afterwards,
# whatever the command's outcome. The command finds the brokers in
# $KAFKA_CLUSTER_BOOTSTRAP (comma-separated). Its exit status is the command's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -gt 0 ]] || { echo "usage: e2e/with-cluster.sh CMD [ARGS...]" >&2; exit 2; }
export KAFKA_CLUSTER_PORT="${KAFKA_CLUSTER_PORT:-29192}"
"$here/kafka-cluster.sh" stop >/dev/null 2>&1 || true
trap '"$here/kafka-cluster.sh" stop >/dev/null 2>&1 || true' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
"$here/kafka-cluster.sh" start
eval "$("$here/kafka-cluster.sh" env)"
export KAFKA_CLUSTER_BOOTSTRAP
"$@"
