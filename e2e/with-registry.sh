#!/usr/bin/env bash
# Runs a command with a fresh, empty schema registry (Apicurio Registry 3.x,
# Confluent-compatible API, in-memory storage; see e2e/registry.sh and
# docs/development-registry.md) on 127.0.0.1:$REGISTRY_PORT (18081) and stops
# it afterwards, whatever the command's outcome (Ctrl-C included). The command
# finds the Confluent API's base URL in $SCHEMA_REGISTRY_URL
# (http://127.0.0.1:18081/apis/ccompat/v7). Its exit status is the command's.
#
# It composes with e2e/with-kafka.sh, which runs its arguments as a command:
#
#   e2e/with-registry.sh go test -tags integration ./e2e/integration/...
#   e2e/with-kafka.sh e2e/with-registry.sh go test -tags integration ./e2e/integration/...
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -gt 0 ]] || { echo "usage: e2e/with-registry.sh CMD [ARGS...]" >&2; exit 2; }
export REGISTRY_PORT="${REGISTRY_PORT:-18081}"
export REGISTRY_MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-18082}"
SCHEMA_REGISTRY_URL="$("$here/registry.sh" url)"
export SCHEMA_REGISTRY_URL

# A registry left behind by an interrupted run would carry its schemas into
# this one: start from nothing.
"$here/registry.sh" stop >/dev/null 2>&1 || true
trap '"$here/registry.sh" stop >/dev/null 2>&1 || true' EXIT
# A signal to this script alone (not to its process group, as Ctrl-C is)
# still stops the registry, once the command has ended.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
"$here/registry.sh" start
"$@"
