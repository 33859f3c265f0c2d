#!/usr/bin/env bash
# Checks the dynamic module (build/libkafka_upstream.so) against the pinned
# Envoy binary, because Envoy 1.40 only *warns* when a module's ABI version
# differs and then loads it anyway.
#
# Usage: e2e/dynmod-check.sh LIB.so [ENVOY]
#   LIB.so  the module (CGO_ENABLED=1 go build -buildmode=c-shared
#           -o build/libkafka_upstream.so ./envoy/dynmod)
#   ENVOY   the Envoy binary; default: `e2e/envoy.sh path` (the pinned one)
#
# Fails (exit 1) on any difference between the names the binding uses and
# those the Envoy binary has:
#   1. the binding (dynmod/envoy_abi.h) declares exactly the hooks the .so
#      exports and the callbacks it imports: nothing unused, nothing
#      undeclared;
#   2. every callback the .so imports is in Envoy's dynamic symbol table
#      (`nm -D`): a missing one would kill Envoy at its first call
#      (dlopen is RTLD_LAZY), not at load;
#   3. every hook the .so exports is one Envoy resolves (the names are
#      strings in the binary), and every HTTP-filter hook Envoy resolves is
#      exported, except the optional ones listed below: a new hook in a
#      newer Envoy (maybe required) or a renamed one shows up here;
#   4. the .so defines no callback itself (a fake linked in would shadow
#      Envoy's);
#   5. the ABI version the module states is the one the binary carries.
# Exit 2: usage, or a tool or file missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
header="$root/dynmod/envoy_abi.h"

# HTTP-filter hooks Envoy 1.40.0 resolves but treats as optional, which the
# module leaves out: a config's callouts (the module starts none) and the
# local-reply notification. (It has the config scheduler's hook: stats.)
optional_hooks=(
  envoy_dynamic_module_on_http_filter_config_http_callout_done
  envoy_dynamic_module_on_http_filter_config_http_stream_complete
  envoy_dynamic_module_on_http_filter_config_http_stream_data
  envoy_dynamic_module_on_http_filter_config_http_stream_headers
  envoy_dynamic_module_on_http_filter_config_http_stream_reset
  envoy_dynamic_module_on_http_filter_config_http_stream_trailers
  envoy_dynamic_module_on_http_filter_local_reply
)

usage() { echo "usage: $0 LIB.so [ENVOY]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
lib="$1"
[[ -f "$lib" ]] || { echo "dynmod-check: $lib not found: build it first (see $0)" >&2; exit 2; }
envoy="${2:-$("$root/e2e/envoy.sh" path)}"
[[ -x "$envoy" ]] || { echo "dynmod-check: no Envoy binary at $envoy" >&2; exit 2; }
for tool in nm strings comm; do
  command -v "$tool" >/dev/null || { echo "dynmod-check: $tool is missing (binutils, coreutils)" >&2; exit 2; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# What the binding declares: a name followed by "(" in the header.
grep -o 'envoy_dynamic_module_on_[a-z_]*(' "$header" | tr -d '(' | sort -u >"$tmp/declared-hooks"
grep -o 'envoy_dynamic_module_callback_[a-z_]*(' "$header" | tr -d '(' | sort -u >"$tmp/declared-callbacks"
# What the module exports and imports.
nm -D --defined-only "$lib" | awk '{print $3}' | grep '^envoy_dynamic_module_on_' | sort -u >"$tmp/exported-hooks" || true
nm -D --undefined-only "$lib" | awk '{print $2}' | grep '^envoy_dynamic_module_callback_' | sort -u >"$tmp/imported-callbacks" || true
nm -D --defined-only "$lib" | awk '{print $3}' | grep '^envoy_dynamic_module_callback_' | sort -u >"$tmp/defined-callbacks" || true
# What Envoy exports (callbacks) and resolves by name (hooks: standalone
# strings; the same names also appear run together in string tables).
nm -D --defined-only "$envoy" | awk '{print $3}' | grep '^envoy_dynamic_module_callback_' | sort -u >"$tmp/envoy-callbacks"
strings -n 6 "$envoy" >"$tmp/envoy-strings"  # once: grep -q on a pipe would SIGPIPE it (pipefail)
grep -x 'envoy_dynamic_module_on_[a-z_]*' "$tmp/envoy-strings" | sort -u >"$tmp/envoy-hooks" || true
grep -x 'envoy_dynamic_module_on_http_filter_[a-z_]*' "$tmp/envoy-hooks" >"$tmp/envoy-http-hooks" || true
printf '%s\n' "${optional_hooks[@]}" | sort -u >"$tmp/optional"

failed=0
fail() { echo "dynmod-check: FAIL: $1" >&2; sed 's/^/    /' "$2" >&2; failed=1; }
differ() { # differ A B: lines in A not in B, into $tmp/diff; true if any
  comm -23 "$1" "$2" >"$tmp/diff"
  [[ -s "$tmp/diff" ]]
}

[[ -s "$tmp/exported-hooks" ]] || { echo "dynmod-check: $lib exports no envoy_dynamic_module_on_* hook: not the module?" >&2; exit 1; }
[[ -s "$tmp/envoy-callbacks" ]] || { echo "dynmod-check: $envoy exports no envoy_dynamic_module_callback_*: no dynamic modules in this Envoy" >&2; exit 1; }

# 1. Declared = used.
differ "$tmp/declared-hooks" "$tmp/exported-hooks" && fail "hooks declared in dynmod/envoy_abi.h but not exported by $lib:" "$tmp/diff"
differ "$tmp/exported-hooks" "$tmp/declared-hooks" && fail "hooks exported by $lib but not declared in dynmod/envoy_abi.h:" "$tmp/diff"
differ "$tmp/declared-callbacks" "$tmp/imported-callbacks" && fail "callbacks declared in dynmod/envoy_abi.h but not used by $lib:" "$tmp/diff"
differ "$tmp/imported-callbacks" "$tmp/declared-callbacks" && fail "callbacks used by $lib but not declared in dynmod/envoy_abi.h:" "$tmp/diff"
# 2. Callbacks.
differ "$tmp/imported-callbacks" "$tmp/envoy-callbacks" && fail "callbacks the module calls that this Envoy does not export (it would crash at the first call):" "$tmp/diff"
# 3. Hooks, both ways.
differ "$tmp/exported-hooks" "$tmp/envoy-hooks" && fail "hooks the module exports that this Envoy never calls (renamed or removed?):" "$tmp/diff"
comm -23 "$tmp/envoy-http-hooks" "$tmp/exported-hooks" >"$tmp/unimplemented"
differ "$tmp/unimplemented" "$tmp/optional" && fail "HTTP-filter hooks this Envoy resolves that the module does not export (new in this Envoy? required ones fail the config):" "$tmp/diff"
differ "$tmp/optional" "$tmp/unimplemented" && fail "hooks listed as optional in $0 that this Envoy does not resolve any more, or that the module now exports (update the list):" "$tmp/diff"
# 4. No fake callbacks inside.
[[ -s "$tmp/defined-callbacks" ]] && fail "the module defines Envoy callbacks itself (a test fake linked in?):" "$tmp/defined-callbacks"
# 5. ABI version.
want="$(sed -n 's/^#define KAFKA_UPSTREAM_ENVOY_ABI_VERSION "\(.*\)"$/\1/p' "$header")"
if [[ -z "$want" ]]; then
  echo "dynmod-check: FAIL: no KAFKA_UPSTREAM_ENVOY_ABI_VERSION in $header" >&2
  failed=1
elif ! grep -qxF "$want" "$tmp/envoy-strings"; then
  echo "dynmod-check: FAIL: the module states ABI $want, which $envoy does not carry; it has: $(grep -x 'v[0-9]*\.[0-9]*\.[0-9]*' "$tmp/envoy-strings" | sort -u | tr '\n' ' ')" >&2
  failed=1
fi

if [[ $failed -ne 0 ]]; then
  echo "dynmod-check: $lib does not match $("$envoy" --version 2>/dev/null | grep -o '[0-9a-f]*/[0-9.]*/[A-Za-z]*/[A-Z]*' | head -1 || echo "$envoy")" >&2
  exit 1
fi
glibc="$(objdump -T "$lib" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 || true)"
echo "dynmod-check: OK: $lib ($(wc -l <"$tmp/exported-hooks") hooks, $(wc -l <"$tmp/imported-callbacks") callbacks, ABI $want${glibc:+, needs $glibc}) matches $("$envoy" --version 2>/dev/null | grep -o '[0-9a-f]\{40\}/[0-9.]*' | head -1)"
