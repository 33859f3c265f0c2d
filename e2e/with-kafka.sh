#!/usr/bin/env bash
# Runs a command with a fresh Kafka broker on 127.0.0.1:$KAFKA_PORT and stops
# the broker afterwards, whatever the command's outcome (Ctrl-C included).
# The command finds the broker in $KAFKA_BOOTSTRAP. The broker does not
# create topics on demand (auto.create.topics.enable=false, as on production
# clusters and in `make run`): the tests create theirs (kafkatest.EnsureTopic,
# kafkatest.CreateTopic), and a record for a missing topic fails as it would
# in production. KAFKA_AUTO_CREATE_TOPICS=true turns it on for a run.
#
# The broker also has secured listeners (TLS, mTLS, SASL PLAIN/SCRAM,
# OAUTHBEARER, an expired certificate, TLS 1.2 only) on KAFKA_PORT+2..+7,
# with test material from KAFKA_SECURE_DIR (default
# ${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream}/secure, generated on the
# first run and renewed when it expires within a day). The command gets
# KAFKA_SECURE_DIR and KAFKA_{SSL,SASL_SSL,MTLS,OAUTH,EXPIRED,TLS12}_BOOTSTRAP,
# which e2e/securetest.Load reads. An empty KAFKA_SECURE_DIR= turns the
# secured listeners off (PLAINTEXT and CONTROLLER only).
#
#   e2e/with-kafka.sh go test -tags integration ./e2e/integration/...
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export KAFKA_PORT="${KAFKA_PORT:-19092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
export KAFKA_AUTO_CREATE_TOPICS="${KAFKA_AUTO_CREATE_TOPICS:-false}"
# Unset: the cached default; set but empty: no secured listeners.
export KAFKA_SECURE_DIR="${KAFKA_SECURE_DIR-${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream}/secure}"
# KAFKA_BOOTSTRAP, and the secured listeners' addresses when KAFKA_SECURE_DIR is set.
while IFS= read -r kv; do
  export "${kv?}"
done < <("$here/kafka.sh" env)

# A broker left behind by an interrupted run would carry its topics into
# this one: start from nothing.
"$here/kafka.sh" stop >/dev/null 2>&1 || true
trap '"$here/kafka.sh" stop >/dev/null 2>&1 || true' EXIT
# One retry: a broker start was seen to fail once on a loaded machine (the
# log tail is printed either way).
"$here/kafka.sh" start || { echo "with-kafka.sh: broker start failed; retrying once" >&2; "$here/kafka.sh" stop || true; "$here/kafka.sh" start; }
"$@"
