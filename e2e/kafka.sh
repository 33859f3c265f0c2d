#!/usr/bin/env bash
# Run a real single-node Apache Kafka 4.x broker (KRaft, broker+controller in one
# JVM) on 127.0.0.1 for tests and demos. No Docker and no Kafka tarball can be
# fetched here, so the broker jars come from Maven Central via e2e/kafka/pom.xml.
#
# Usage: e2e/kafka.sh start|stop|status|env
#        e2e/kafka.sh fetch        # the jars only; prints their directory
#        e2e/kafka.sh kill|freeze|thaw  # SIGKILL, SIGSTOP, SIGCONT the broker (fault tests)
#        e2e/kafka.sh create-topic NAME [PARTITIONS] [--config KEY=VALUE ...]
#                                  # idempotent: an existing topic is left as it is
#        e2e/kafka.sh produce TOPIC [ARGS...]        # one record per stdin line, no key
#        e2e/kafka.sh produce-keyed TOPIC [ARGS...]  # stdin lines KEY<TAB>VALUE, acks=all;
#                                  # the Java client's default partitioner places them
#                                  # (murmur2 of the key); an empty KEY is an empty key
#        e2e/kafka.sh consume TOPIC [ARGS...]        # everything, headers included; extra
#                                  # args go to ConsoleConsumer (--max-messages N --timeout-ms MS)
#        e2e/kafka.sh consume-partitions TOPIC N [TIMEOUT_MS]
#                                  # N records as lines PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE
#                                  # (a null key prints as "null"), from the beginning
#
# Environment:
#   KAFKA_PORT (9092)  KAFKA_CONTROLLER_PORT (9093)  KAFKA_NUM_PARTITIONS (1)
#   KAFKA_AUTO_CREATE_TOPICS (false: the broker's auto.create.topics.enable, read by
#     start; off as on production clusters, so a record for a missing topic fails
#     and topics are created with create-topic; true restores Kafka's default)
#   KAFKA_STATE_DIR (/tmp/kafka-upstream-kafka-$KAFKA_PORT, wiped on start/stop)
#   KAFKA_VERSION (default: <kafka.version> in e2e/kafka/pom.xml)
#   KAFKA_CACHE_DIR ($HOME/.cache/kafka-upstream)  KAFKA_HEAP_OPTS (-Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT (90 seconds)  JAVA (java)
#   KAFKA_SECURE_DIR (unset: PLAINTEXT only) a directory for the TLS/OAuth test
#     material; when set, start runs `go run ./e2e/securetest/cmd/gen DIR` (which
#     writes the CA, certificates and JWKS if missing or expiring within a day)
#     and adds secured listeners on 127.0.0.1 next to PLAINTEXT ($KAFKA_PORT) and
#     CONTROLLER (usually $KAFKA_PORT+1); inter-broker and controller traffic stay
#     PLAINTEXT, and no authorizer is configured (any authenticated client may
#     do anything):
#       PORT+2 SSL       TLS (broker cert from DIR/ca.crt's CA, IP SAN 127.0.0.1)
#       PORT+3 SASL_SSL  TLS + SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (alice/alice-secret)
#       PORT+4 MTLS      TLS, client certificate required
#       PORT+5 OAUTH     TLS + SASL OAUTHBEARER (JWT: DIR/jwks.json, aud kafka,
#                        iss kafka-upstream-test-idp)
#       PORT+6 EXPIRED   TLS with a broker certificate that expired in 2024
#       PORT+7 TLS12     TLS, TLSv1.2 only
#     `env` then also prints KAFKA_SECURE_DIR and KAFKA_{SSL,SASL_SSL,MTLS,OAUTH,
#     EXPIRED,TLS12}_BOOTSTRAP. The helper commands (create-topic, produce, ...)
#     always use PLAINTEXT.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
NUM_PARTITIONS="${KAFKA_NUM_PARTITIONS:-1}"
AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"
STATE_DIR="${KAFKA_STATE_DIR:-/tmp/kafka-upstream-kafka-$PORT}"
# Absolute, because running_pid matches it against the broker's command line.
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JAVA="${JAVA:-java}"
# The POM is the single source of truth for the default version.
VERSION="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")}"
KAFKA_HOME="${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream}/kafka-$VERSION"
LIBS="$KAFKA_HOME/libs"

# Secured listeners (see the header): off unless KAFKA_SECURE_DIR is set.
SECURE_DIR="${KAFKA_SECURE_DIR:-}"
if [[ -n "$SECURE_DIR" ]]; then
  [[ "$SECURE_DIR" == /* ]] || SECURE_DIR="$PWD/$SECURE_DIR"
  SECURE_DIR="${SECURE_DIR%/}"
fi
# Listener name, port offset from KAFKA_PORT, env variable, one per line.
SECURE_LISTENERS="SSL 2 KAFKA_SSL_BOOTSTRAP
SASL_SSL 3 KAFKA_SASL_SSL_BOOTSTRAP
MTLS 4 KAFKA_MTLS_BOOTSTRAP
OAUTH 5 KAFKA_OAUTH_BOOTSTRAP
EXPIRED 6 KAFKA_EXPIRED_BOOTSTRAP
TLS12 7 KAFKA_TLS12_BOOTSTRAP"
SASL_USER=alice
SASL_PASSWORD=alice-secret
OAUTH_AUDIENCE=kafka
OAUTH_ISSUER=kafka-upstream-test-idp

PID_FILE="$STATE_DIR/kafka.pid"
LOG_FILE="$STATE_DIR/server.log"
CONFIG="$STATE_DIR/server.properties"
# Marks a directory as created by this script, so wiping it is always safe.
MARKER="$STATE_DIR/.kafka-sh-state"

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: e2e/kafka.sh start|stop|status|env
       e2e/kafka.sh create-topic NAME [PARTITIONS] [--config KEY=VALUE ...]
       e2e/kafka.sh produce TOPIC [ARGS...]        # one record per stdin line
       e2e/kafka.sh produce-keyed TOPIC [ARGS...]  # stdin lines KEY<TAB>VALUE
       e2e/kafka.sh consume TOPIC [ARGS...]        # extra args go to ConsoleConsumer
       e2e/kafka.sh consume-partitions TOPIC N [TIMEOUT_MS]
                     # prints PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE lines
EOF
  exit 2
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# True when something accepts TCP connections on HOST:$1 (bash built-in, no nc needed).
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Pid of the broker this script started for STATE_DIR, if it is still alive.
# Checking the command line guards against a recycled pid.
running_pid() {
  local pid
  [[ -s "$PID_FILE" ]] || return 1
  pid="$(<"$PID_FILE")"
  is_uint "$pid" || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $CONFIG" || return 1
  echo "$pid"
}

# Port the running broker's config listens on (STATE_DIR may be shared by mistake).
configured_port() { sed -n 's|^listeners=PLAINTEXT://[^:]*:\([0-9]*\),.*|\1|p' "$CONFIG" 2>/dev/null; }

# The ports start binds: PLAINTEXT, CONTROLLER and, when secured, the six others.
all_ports() {
  local name off var
  echo "$PORT" "$CONTROLLER_PORT"
  if [[ -n "$SECURE_DIR" ]]; then
    while read -r name off var; do echo $((PORT + off)); done <<<"$SECURE_LISTENERS"
  fi
}

# Outgoing connections take their source ports from ip_local_port_range; one
# of them on a listener's port makes the bind fail ("Address already in use"),
# and port_open cannot see it beforehand.
warn_ephemeral_ports() {
  local lo hi p
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
  for p in $(all_ports); do
    if ((p >= lo && p <= hi)); then
      log "warning: port $p is in the ephemeral range $lo-$hi: an outgoing connection may hold it and make the bind fail; ports below $lo are safer"
      return 0
    fi
  done
}

# Makes SECURE_DIR hold the test CA, certificates and JWKS. The generator is
# idempotent (about 0.2 s when nothing is to be done, once it is compiled) and
# renews material that expires within a day.
secure_material() {
  local f missing=()
  # The path ends up in a file:// URL and in Java properties: keep it plain.
  [[ "$SECURE_DIR" =~ ^[A-Za-z0-9._/+-]+$ ]] ||
    die "KAFKA_SECURE_DIR must be a path of letters, digits and ._/+- only, not '$SECURE_DIR'"
  if command -v go >/dev/null; then
    (cd "$SCRIPT_DIR/.." && go run ./e2e/securetest/cmd/gen "$SECURE_DIR") ||
      die "could not generate the TLS/OAuth test material in $SECURE_DIR (go run ./e2e/securetest/cmd/gen)"
  fi
  for f in VERSION ca.crt broker.pem expired.pem jwks.json; do
    [[ -s "$SECURE_DIR/$f" ]] || missing+=("$f")
  done
  ((${#missing[@]} == 0)) ||
    die "$SECURE_DIR lacks ${missing[*]} and go is not installed to run ./e2e/securetest/cmd/gen"
}

check_java() {
  command -v "$JAVA" >/dev/null || die "java not found (Kafka $VERSION needs Java 17+)"
  local v major
  v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  major="${v%%.*}"
  [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$v")"
  if ! is_uint "$major" || ((major < 17)); then
    die "Kafka 4.x brokers need Java 17+, found '$v'"
  fi
}

# Copy the broker runtime jars into the cache once; reruns skip Maven entirely.
fetch() {
  local stamp tmp
  stamp="$VERSION $(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$LIBS/.complete" && "$(<"$LIBS/.complete")" == "$stamp" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch Kafka $VERSION"
  log "fetching Kafka $VERSION jars with Maven into $LIBS"
  mkdir -p "$KAFKA_HOME"
  # Fetch into a temp dir and swap it in, so an interrupted run never looks complete.
  tmp="$(mktemp -d "$KAFKA_HOME/libs.tmp.XXXXXX")"
  # Maven's output (and its stray ANSI resets) only matters when it fails.
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
      -Dkafka.version="$VERSION" -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$KAFKA_HOME/mvn.log" 2>&1; then
    cat "$KAFKA_HOME/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$VERSION (log: $KAFKA_HOME/mvn.log)"
  fi
  echo "$stamp" >"$tmp/.complete"
  rm -rf "$LIBS"
  mv -T "$tmp" "$LIBS" 2>/dev/null || rm -rf "$tmp" # lost a race with a parallel fetch: fine
  [[ -f "$LIBS/.complete" ]] || die "fetch of $LIBS did not complete"
}

# log4j2 config for the CLI tools: warnings only, so their output stays readable.
tools_log_config() {
  local f="$KAFKA_HOME/tools-log4j2.properties"
  if [[ ! -f "$f" ]]; then
    cat >"$f.$$" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF
    mv -f "$f.$$" "$f"
  fi
  echo "$f"
}

# Command line for a Kafka CLI class, in TOOL_ARGV. Small heap and C1-only JIT:
# these JVMs live for seconds.
tool_argv() {
  fetch
  TOOL_ARGV=("$JAVA" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -Dlog4j2.configurationFile="$(tools_log_config)" -cp "$LIBS/*" "$@")
}

run_tool() {
  tool_argv "$@"
  "${TOOL_ARGV[@]}"
}

require_broker() {
  port_open "$PORT" || die "no broker on $HOST:$PORT (run: $0 start)"
}

# Refuse to delete a directory this script did not create (e.g. a typo'd KAFKA_STATE_DIR).
wipe_state_dir() {
  [[ -n "$STATE_DIR" && "$STATE_DIR" != "/" && "$STATE_DIR" != "$HOME" ]] ||
    die "refusing to use '$STATE_DIR' as state dir"
  if [[ -d "$STATE_DIR" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$STATE_DIR")" ]]; then
    die "$STATE_DIR is not empty and was not created by kafka.sh; refusing to wipe it"
  fi
  rm -rf "$STATE_DIR"
}

write_config() {
  cat >"$CONFIG" <<EOF
# Written by e2e/kafka.sh: single-node KRaft broker for tests; all data is throwaway.
process.roles=broker,controller
node.id=1
# Static quorum: one voter, so a plain 'storage format' is enough.
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT$(secure_list listeners)
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT$(secure_list listeners)
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$(secure_list map)
log.dirs=$STATE_DIR/data
num.partitions=$NUM_PARTITIONS
# Off unless KAFKA_AUTO_CREATE_TOPICS=true: topics come from create-topic.
auto.create.topics.enable=$AUTO_CREATE_TOPICS
# One node: every internal topic must have replication factor 1.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Defaults are 50 partitions each; creating them makes the first group join slow.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.num.partitions=1
# Consumers in tests should not wait 3 s for a rebalance.
group.initial.rebalance.delay.ms=0
EOF
  [[ -z "$SECURE_DIR" ]] || write_secure_config
  cat >"$STATE_DIR/log4j2.properties" <<'EOF'
# Broker logs go to stdout, which kafka.sh redirects to server.log in the state dir.
status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
# Per-request and state-change chatter is useless for tests.
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

# ",NAME://HOST:PORT..." (listeners) or ",NAME:PROTOCOL..." (map) for the
# secured listeners; nothing without KAFKA_SECURE_DIR.
secure_list() {
  local name off var out=""
  [[ -n "$SECURE_DIR" ]] || return 0
  while read -r name off var; do
    case "$1" in
      listeners) out+=",$name://$HOST:$((PORT + off))" ;;
      map)
        case "$name" in
          SASL_SSL | OAUTH) out+=",$name:SASL_SSL" ;;
          *) out+=",$name:SSL" ;;
        esac
        ;;
    esac
  done <<<"$SECURE_LISTENERS"
  printf '%s' "$out"
}

jwks_url() { printf 'file://%s/jwks.json' "$SECURE_DIR"; }

# Kafka 4.4.0 properties for the secured listeners (checked against a real
# broker; see docs/development-kafka.md). PEM key stores need no passwords:
# broker.pem is an unencrypted PKCS#8 key followed by the certificate chain.
write_secure_config() {
  cat >>"$CONFIG" <<EOF

# --- Secured listeners (KAFKA_SECURE_DIR=$SECURE_DIR) ---
# TLS for every SSL and SASL_SSL listener.
ssl.keystore.type=PEM
ssl.keystore.location=$SECURE_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE_DIR/ca.crt
ssl.client.auth=none
# MTLS: a client certificate signed by ca.crt is required.
listener.name.mtls.ssl.client.auth=required
# EXPIRED: same key, CA and SANs, but valid 2024-01-01..2024-02-01 only.
listener.name.expired.ssl.keystore.type=PEM
listener.name.expired.ssl.keystore.location=$SECURE_DIR/expired.pem
# TLS12: TLS 1.2 and nothing else.
listener.name.tls12.ssl.enabled.protocols=TLSv1.2
# SASL_SSL: PLAIN users from the JAAS line; SCRAM users from the credentials
# that 'storage format --add-scram' wrote into the cluster metadata.
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# OAUTH: OAUTHBEARER with RS256 JWTs checked against a JWKS file. The URL
# must also be allowed by the JVM system property
# org.apache.kafka.sasl.oauthbearer.allowed.urls, or the broker refuses to start.
listener.name.oauth.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.oauth.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.oauth.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler
sasl.oauthbearer.jwks.endpoint.url=$(jwks_url)
sasl.oauthbearer.expected.audience=$OAUTH_AUDIENCE
sasl.oauthbearer.expected.issuer=$OAUTH_ISSUER
# No authorizer: any authenticated principal may create, write and read.
EOF
}

# A Kafka Uuid is 16 random bytes in unpadded base64url; like Kafka's own
# random-uuid, avoid a leading '-' that CLI parsers would take for an option.
cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    [[ "$id" != -* ]] && break
  done
  echo "$id"
}

log_tail() {
  log "last lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
}

# Ready = process alive, port open, startup logged, and a real metadata round trip.
# Returns non-zero (after printing why and the log tail) so the caller can clean up.
wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT)) left p bind
  until port_open "$PORT" && grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      # e.g. "Socket server failed to bind to 127.0.0.1:9096: Address already in use."
      bind="$(grep -o 'failed to bind to [^ ]*: Address already in use' "$LOG_FILE" 2>/dev/null | head -n1)"
      if [[ -n "$bind" ]]; then
        p="${bind#failed to bind to }"
        p="${p%%: *}"
        log "error: broker (pid $pid) exited: port $p is already in use (Address already in use) by another process or an outgoing connection; choose another KAFKA_PORT (ports below 32768 stay clear of outgoing connections' ephemeral ports)"
        return 1
      fi
      log "error: broker (pid $pid) exited during startup"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log_tail
      log "error: broker not ready after ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
  # The secured listeners bind with the others; a TCP accept on each is enough
  # here (the TLS and SASL set-up is what the tests check).
  if [[ -n "$SECURE_DIR" ]]; then
    for p in $(all_ports); do
      [[ "$p" == "$CONTROLLER_PORT" ]] && continue
      until port_open "$p"; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
          log_tail
          log "error: secured listener $HOST:$p does not accept connections"
          return 1
        fi
        sleep 0.2
      done
    done
  fi
  # TopicCommand sends Metadata/ListTopics through the PLAINTEXT listener.
  left=$((deadline - SECONDS))
  ((left < 10)) && left=10
  tool_argv org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$PORT" --list
  if ! timeout "$left" "${TOOL_ARGV[@]}" >/dev/null; then
    log_tail
    log "error: broker on $HOST:$PORT does not answer metadata requests"
    return 1
  fi
}

# Serialise start/stop per state dir; the lock file sits beside it so wiping keeps it.
lock_state_dir() {
  mkdir -p "$(dirname "$STATE_DIR")"
  exec 9>"$STATE_DIR.lock"
  flock -w 180 9 || die "timed out waiting for another kafka.sh on $STATE_DIR"
}

cmd_start() {
  local pid p t0=$SECONDS heap
  if ! is_uint "$PORT" || ! is_uint "$CONTROLLER_PORT"; then
    die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must be numbers"
  fi
  [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
  [[ "$AUTO_CREATE_TOPICS" == true || "$AUTO_CREATE_TOPICS" == false ]] ||
    die "KAFKA_AUTO_CREATE_TOPICS must be true or false, not '$AUTO_CREATE_TOPICS'"
  if [[ -n "$SECURE_DIR" ]]; then
    ((PORT + 7 <= 65535)) || die "KAFKA_PORT+7 must be a port number (the secured listeners use KAFKA_PORT+2..+7)"
    ((CONTROLLER_PORT < PORT + 2 || CONTROLLER_PORT > PORT + 7)) ||
      die "KAFKA_CONTROLLER_PORT $CONTROLLER_PORT collides with the secured listeners on KAFKA_PORT+2..+7 ($((PORT + 2))-$((PORT + 7)))"
  fi

  if pid="$(running_pid)"; then
    p="$(configured_port)"
    [[ "$p" == "$PORT" ]] || die "$STATE_DIR is used by a broker on port $p (pid $pid)"
    if [[ -n "$SECURE_DIR" ]] && ! grep -qxF "ssl.truststore.location=$SECURE_DIR/ca.crt" "$CONFIG"; then
      die "the broker on $HOST:$PORT (pid $pid) was not started with KAFKA_SECURE_DIR=$SECURE_DIR (no secured listeners, or material elsewhere); stop it first ($0 stop)"
    fi
    # A start that was interrupted may have left it booting: report once it serves.
    wait_ready "$pid" || die "broker (pid $pid) is running but not serving; try: $0 stop"
    log "already running: Kafka $VERSION on $HOST:$PORT (pid $pid)"
    return 0
  fi
  for p in $(all_ports); do
    if port_open "$p"; then
      die "port $HOST:$p is in use by another process (not a broker started by kafka.sh in $STATE_DIR); choose KAFKA_PORT/KAFKA_CONTROLLER_PORT${SECURE_DIR:+ (the secured listeners use KAFKA_PORT+2..+7)}"
    fi
  done
  warn_ephemeral_ports

  check_java
  [[ -z "$SECURE_DIR" ]] || secure_material
  fetch
  wipe_state_dir
  mkdir -p "$STATE_DIR/data"
  touch "$MARKER"
  write_config

  # Format KRaft storage (meta.properties + bootstrap checkpoint) for a fresh
  # cluster; with secured listeners it also stores the SCRAM credentials
  # (format.log then shows their salts and keys, never the password).
  local scram=()
  if [[ -n "$SECURE_DIR" ]]; then
    scram=(--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]"
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]")
  fi
  if ! run_tool kafka.tools.StorageTool format -t "$(cluster_id)" -c "$CONFIG" "${scram[@]}" \
      >"$STATE_DIR/format.log" 2>&1; then
    cat "$STATE_DIR/format.log" >&2
    die "kafka-storage format failed"
  fi

  read -ra heap <<<"$HEAP_OPTS"
  local jvm_extra=()
  # Without it Kafka 4.x refuses the JWKS URL ("cannot be accessed due to restrictions").
  [[ -z "$SECURE_DIR" ]] || jvm_extra=(-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls="$(jwks_url)")
  # setsid: a Ctrl-C in the caller's terminal must not kill the detached broker.
  # 9>&-: the broker must not inherit the start/stop lock, or it would hold it forever.
  setsid "$JAVA" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "${jvm_extra[@]}" -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" </dev/null >"$LOG_FILE" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  if ! wait_ready "$pid"; then
    # Do not leave a half-started broker behind; keep the log for post-mortems.
    kill -KILL "$pid" 2>/dev/null || true
    die "start failed; state and log kept in $STATE_DIR"
  fi
  log "started Kafka $VERSION on $HOST:$PORT${SECURE_DIR:+ with secured listeners on $((PORT + 2))-$((PORT + 7)) (material $SECURE_DIR)} (pid $pid, $((SECONDS - t0))s, log $LOG_FILE)"
}

cmd_stop() {
  local pid i
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    # Controlled shutdown of a combined node normally takes a few seconds.
    for ((i = 0; i < 60; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    log "stopped broker on $HOST:$PORT (pid $pid)"
  else
    log "no broker started by kafka.sh is running for $STATE_DIR"
  fi
  if [[ -d "$STATE_DIR" ]]; then
    wipe_state_dir
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$PORT"; then
      echo "running: Kafka $VERSION on $HOST:$PORT (pid $pid, state $STATE_DIR)"
      return 0
    fi
    echo "starting: pid $pid, $HOST:$PORT not open yet"
    return 1
  fi
  if port_open "$PORT"; then
    echo "not started by kafka.sh, but $HOST:$PORT is in use by another process"
  else
    echo "not running"
  fi
  return 1
}

# TopicCommand's --if-not-exists makes a second create a no-op: an existing
# topic keeps its partitions and configs, whatever this call asks for.
cmd_create_topic() {
  local name="${1:-}" partitions=1 configs=()
  [[ -n "$name" ]] || usage
  shift
  if [[ $# -gt 0 && "$1" != --* ]]; then
    partitions="$1"
    shift
  fi
  is_uint "$partitions" && ((partitions > 0)) || die "PARTITIONS must be a positive number, not '$partitions'"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --config)
        [[ "${2:-}" == ?*=* ]] || die "--config needs KEY=VALUE (e.g. --config max.message.bytes=5242880)"
        configs+=(--config "$2")
        shift 2
        ;;
      --config=?*=*)
        configs+=(--config "${1#--config=}")
        shift
        ;;
      *) die "create-topic: unexpected argument '$1' (usage: create-topic NAME [PARTITIONS] [--config KEY=VALUE ...])" ;;
    esac
  done
  require_broker
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$PORT" \
    --create --if-not-exists --topic "$name" --partitions "$partitions" --replication-factor 1 \
    "${configs[@]}"
}

cmd_produce() {
  local topic="${1:-}"
  [[ -n "$topic" ]] || usage
  shift
  require_broker
  run_tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$HOST:$PORT" \
    --topic "$topic" "$@"
}

# Keyed records from lines KEY<TAB>VALUE, placed by the Java producer's default
# partitioner: murmur2 of the key's UTF-8 bytes (LineMessageReader reads stdin
# as UTF-8), positive, modulo the partition count. Everything before the first
# tab is the key, so "\tv" has the empty (non-null) key; a line without a tab
# makes ConsoleProducer fail. --reader-config (KIP-840) works on every 4.x, while
# --property is deprecated in 4.2+ in favour of --reader-property, which 4.0/4.1
# lack. acks=all and --sync, so that the records are stored when the command
# returns and a failed send exits non-zero (asynchronous ConsoleProducer only
# logs send errors and exits 0); --timeout 0 (linger.ms) because --sync with
# the default linger of 1 s costs a second per record.
cmd_produce_keyed() {
  local topic="${1:-}"
  [[ -n "$topic" ]] || usage
  shift
  require_broker
  fetch
  local reader="$KAFKA_HOME/produce-keyed-reader.properties"
  printf '%s\n' 'parse.key=true' 'key.separator=\t' >"$reader.$$"
  mv -f "$reader.$$" "$reader"
  run_tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$HOST:$PORT" \
    --topic "$topic" --reader-config "$reader" --request-required-acks -1 \
    --sync --timeout 0 "$@"
}

# Writes a formatter config file for ConsoleConsumer and prints its path.
# --formatter-config works on every 4.x; 4.1 lacks --formatter-property and
# 4.2+ warns that --property is deprecated.
formatter_config() {
  local name="$1" fmt
  shift
  fmt="$KAFKA_HOME/$name.properties"
  printf '%s\n' "$@" >"$fmt.$$"
  mv -f "$fmt.$$" "$fmt"
  echo "$fmt"
}

cmd_consume() {
  local topic="${1:-}" fmt
  [[ -n "$topic" ]] || usage
  shift
  require_broker
  fetch
  fmt="$(formatter_config consume-formatter print.{timestamp,partition,offset,headers,key}=true)"
  run_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$HOST:$PORT" \
    --topic "$topic" --from-beginning --formatter-config "$fmt" "$@"
}

# N records (all partitions, from the beginning), one per line:
#   PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE
# The formatter prints "Partition:P<sep>Offset:O<sep>KEY<sep>VALUE"; with a tab
# as separator a key with spaces or any UTF-8 stays one field (keys must not
# contain tabs or newlines, values not newlines), and sed drops the two labels.
# The key field is empty for an empty key and "null" for a null one. Exits
# non-zero when fewer than N records arrive (TIMEOUT_MS, default 10000, is
# ConsoleConsumer's: the longest wait for the next record).
cmd_consume_partitions() {
  local topic="${1:-}" n="${2:-}" timeout_ms="${3:-10000}" fmt out got
  [[ -n "$topic" ]] && is_uint "$n" && ((n > 0)) && is_uint "$timeout_ms" || usage
  require_broker
  fetch
  fmt="$(formatter_config consume-partitions-formatter print.partition=true print.offset=true \
    print.key=true 'key.separator=\t' 'line.separator=\n')"
  out="$(run_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$HOST:$PORT" \
    --topic "$topic" --from-beginning --formatter-config "$fmt" \
    --max-messages "$n" --timeout-ms "$timeout_ms")"
  got=0
  if [[ -n "$out" ]]; then
    printf '%s\n' "$out" | sed 's/^Partition:\([0-9]*\)\tOffset:\([0-9]*\)\t/\1\t\2\t/'
    got="$(printf '%s\n' "$out" | wc -l)"
  fi
  ((got >= n)) || die "consume-partitions: got $got of $n records from $topic within ${timeout_ms}ms"
}

# Faults for tests: kill (SIGKILL, as a crash; the state stays until the
# next start or stop), freeze (SIGSTOP) and thaw (SIGCONT).
cmd_signal() {
  local pid
  pid="$(running_pid)" || die "no broker started by kafka.sh is running for $STATE_DIR"
  case "$1" in
    kill)
      kill -CONT "$pid" 2>/dev/null || true
      kill -KILL "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
      log "killed broker on $HOST:$PORT (pid $pid)"
      ;;
    freeze) kill -STOP "$pid" && log "froze broker on $HOST:$PORT (pid $pid)" ;;
    thaw) kill -CONT "$pid" && log "thawed broker on $HOST:$PORT (pid $pid)" ;;
  esac
}

# KEY=VALUE lines, for `export` or eval; the values contain no spaces.
cmd_env() {
  local name off var
  echo "KAFKA_BOOTSTRAP=$HOST:$PORT"
  [[ -n "$SECURE_DIR" ]] || return 0
  echo "KAFKA_SECURE_DIR=$SECURE_DIR"
  while read -r name off var; do
    echo "$var=$HOST:$((PORT + off))"
  done <<<"$SECURE_LISTENERS"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    start)
      lock_state_dir
      cmd_start
      ;;
    stop)
      lock_state_dir
      cmd_stop
      ;;
    status) cmd_status ;;
    env) cmd_env ;;
    fetch) check_java && fetch && echo "$LIBS" ;; # for e2e/kafka-cluster.sh
    kill | freeze | thaw) cmd_signal "$cmd" ;;
    create-topic) cmd_create_topic "$@" ;;
    produce) cmd_produce "$@" ;;
    produce-keyed) cmd_produce_keyed "$@" ;;
    consume) cmd_consume "$@" ;;
    consume-partitions) cmd_consume_partitions "$@" ;;
    *) usage ;;
  esac
}

main "$@"
