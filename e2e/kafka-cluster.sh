#!/usr/bin/env bash
# A three-node Apache Kafka KRaft cluster on 127.0.0.1 for the fault tests:
# each node is broker and controller (a quorum of three voters), topics get
# replication factor 3 and min.insync.replicas=2, so acks=all means "on two
# brokers at least". The jars are e2e/kafka.sh's (same version, same cache).
#
# Usage: e2e/kafka-cluster.sh start|stop|status|env
#        e2e/kafka-cluster.sh kill N      # SIGKILL node N (1-3)
#        e2e/kafka-cluster.sh freeze N    # SIGSTOP node N
#        e2e/kafka-cluster.sh thaw N      # SIGCONT node N
#        e2e/kafka-cluster.sh restart N   # start node N again on its storage
#        e2e/kafka-cluster.sh create-topic NAME [PARTITIONS]
#
# Environment: KAFKA_CLUSTER_PORT (29192): node N listens on PORT+2(N-1) and
# its controller on PORT+2(N-1)+1, so 29192-29197 by default.
# KAFKA_CLUSTER_STATE_DIR (/tmp/kafka-upstream-cluster-$PORT, wiped on
# start/stop), KAFKA_HEAP_OPTS (-Xms192m -Xmx384m per node), JAVA (java),
# KAFKA_START_TIMEOUT (120 s).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOST=127.0.0.1
PORT="${KAFKA_CLUSTER_PORT:-29192}"
STATE_DIR="${KAFKA_CLUSTER_STATE_DIR:-/tmp/kafka-upstream-cluster-$PORT}"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms192m -Xmx384m}"
JAVA="${JAVA:-java}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
LOG_LEVEL="${KAFKA_CLUSTER_LOG_LEVEL:-warn}"
NODES=(1 2 3)

log() { printf 'kafka-cluster.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

broker_port() { echo $((PORT + 2 * ($1 - 1))); }
controller_port() { echo $((PORT + 2 * ($1 - 1) + 1)); }
node_dir() { echo "$STATE_DIR/node$1"; }
pid_of() {
  local f
  f="$(node_dir "$1")/pid"
  [[ -f "$f" ]] && kill -0 "$(<"$f")" 2>/dev/null && cat "$f"
}
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
bootstrap() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("$HOST:$(broker_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

libs() { LIBS="$("$SCRIPT_DIR/kafka.sh" fetch)"; }

tool() {
  "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$LIBS/*" "$@"
}

write_config() {
  local n="$1" dir voters="" m
  dir="$(node_dir "$n")"
  for m in "${NODES[@]}"; do voters+="${voters:+,}$m@$HOST:$(controller_port "$m")"; done
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
# Written by e2e/kafka-cluster.sh: node $n of a 3-node KRaft test cluster.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://$HOST:$(broker_port "$n"),CONTROLLER://$HOST:$(controller_port "$n")
advertised.listeners=PLAINTEXT://$HOST:$(broker_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
# A dead leader is noticed within seconds, not the default 18 s.
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=5000
# Leadership goes back to the preferred replica soon after a restart.
leader.imbalance.check.interval.seconds=5
EOF
  cat >"$dir/log4j2.properties" <<EOF
status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = $LOG_LEVEL
rootLogger.appenderRef.out.ref = out
EOF
}

start_node() {
  local n="$1" dir heap
  dir="$(node_dir "$n")"
  read -ra heap <<<"$HEAP_OPTS"
  setsid "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/server.log" 2>&1 &
  echo $! >"$dir/pid"
}

wait_port() {
  local n="$1" deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$(broker_port "$n")"; do
    pid_of "$n" >/dev/null || { tail -n 30 "$(node_dir "$n")/server.log" >&2; die "node $n exited"; }
    ((SECONDS < deadline)) || die "node $n not listening after ${START_TIMEOUT}s"
    sleep 0.3
  done
}

# Ready: every node listens and the cluster answers a metadata request
# listing three brokers.
wait_cluster() {
  local deadline=$((SECONDS + START_TIMEOUT)) out
  for n in "${NODES[@]}"; do wait_port "$n"; done
  until out="$(tool org.apache.kafka.tools.ClusterTool list-endpoints --bootstrap-server "$(bootstrap)" 2>/dev/null)" &&
    [[ "$(grep -c ' unfenced ' <<<"$out")" -ge 3 ]]; do
    ((SECONDS < deadline)) || die "the cluster did not list three brokers after ${START_TIMEOUT}s"
    sleep 0.5
  done
}

cmd_start() {
  local t0=$SECONDS n id
  for n in "${NODES[@]}"; do
    if pid_of "$n" >/dev/null; then die "node $n is already running (run: $0 stop)"; fi
    port_open "$(broker_port "$n")" && die "port $(broker_port "$n") is in use; set KAFKA_CLUSTER_PORT"
  done
  libs
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"
  id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  [[ "$id" != -* ]] || id="a${id:1}"
  for n in "${NODES[@]}"; do
    write_config "$n"
    tool kafka.tools.StorageTool format -t "$id" -c "$(node_dir "$n")/server.properties" >"$(node_dir "$n")/format.log" 2>&1 ||
      { cat "$(node_dir "$n")/format.log" >&2; die "formatting node $n failed"; }
  done
  for n in "${NODES[@]}"; do start_node "$n"; done
  wait_cluster
  log "started a 3-node Kafka cluster on $(bootstrap) ($((SECONDS - t0))s, logs $STATE_DIR/node*/server.log)"
}

cmd_stop() {
  local n pid i
  for n in "${NODES[@]}"; do
    pid="$(pid_of "$n")" || continue
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for n in "${NODES[@]}"; do
    pid="$(pid_of "$n")" || continue
    for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [[ "$STATE_DIR" == /tmp/* ]] && rm -rf "$STATE_DIR"
  log "stopped the cluster on $(bootstrap)"
}

signal_node() {
  local sig="$1" n="$2" pid
  [[ "$n" =~ ^[1-3]$ ]] || die "node must be 1, 2 or 3"
  pid="$(pid_of "$n")" || die "node $n is not running"
  kill "-$sig" "$pid"
  if [[ "$sig" == KILL ]]; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$(node_dir "$n")/pid"
  fi
}

cmd_restart() {
  local n="$1"
  [[ "$n" =~ ^[1-3]$ ]] || die "node must be 1, 2 or 3"
  pid_of "$n" >/dev/null && die "node $n is running"
  libs
  start_node "$n"
  wait_port "$n"
  log "restarted node $n on $HOST:$(broker_port "$n")"
}

cmd_create_topic() {
  local name="${1:?topic name}" partitions="${2:-3}"
  libs
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" --create --if-not-exists \
    --topic "$name" --partitions "$partitions" --replication-factor 3 --config min.insync.replicas=2 >/dev/null
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) for n in "${NODES[@]}"; do echo "node $n: $(pid_of "$n" || echo stopped) $HOST:$(broker_port "$n")"; done ;;
    env) echo "KAFKA_CLUSTER_BOOTSTRAP=$(bootstrap)" ;;
    kill) signal_node KILL "${1:?node}" ;;
    freeze) signal_node STOP "${1:?node}" ;;
    thaw) signal_node CONT "${1:?node}" ;;
    restart) cmd_restart "${1:?node}" ;;
    create-topic) cmd_create_topic "$@" ;;
    *) sed -n '2,18p' "$0" >&2; exit 2 ;;
  esac
}

main "$@"
