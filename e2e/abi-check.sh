#!/usr/bin/env bash
# ABI check of a golang HTTP filter plugin (.so) against the pinned Envoy SDK.
#
# Usage: e2e/abi-check.sh LIB.so PLUGIN_NAME GOOD_CONFIG_YAML BAD_CONFIG_YAML
#
#   a) every envoyGo* symbol the .so imports is declared in the pinned SDK's
#      contrib/golang/common/go/api/api.h
#   b) the .so exports exactly the 10 envoyGo* functions Envoy dlsym()s
#   c) the newest GLIBC_ symbol version it needs is <= MAX_GLIBC (default 2.35,
#      Ubuntu 22.04 as in the Envoy contrib images)
#   d) the C host (e2e/chost/host.c) loads it with RTLD_NOW and parses both
#      configs: the good one must be accepted (exit 0), the bad one rejected
#      (exit 2, not a crash)
#
# The config files are YAML/JSON understood by e2e/chost/mkconfig (a
# plugin_config object or e.g. a bootstrap containing one). Temp files go to
# build/abi-check/. Exits non-zero if any check fails.
set -uo pipefail

MAX_GLIBC="${MAX_GLIBC:-2.35}"
HOST_TIMEOUT="${HOST_TIMEOUT:-60}"

if [[ $# -ne 4 ]]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi

abspath() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd -P)" "$(basename "$1")"); }

for f in "$1" "$3" "$4"; do
  [[ -f "$f" ]] || { echo "abi-check: no such file: $f" >&2; exit 2; }
done
LIB="$(abspath "$1")"
PLUGIN="$2"
GOOD="$(abspath "$3")"
BAD="$(abspath "$4")"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "${ROOT}" || exit 2
WORK="${ROOT}/build/abi-check"
mkdir -p "${WORK}"

failures=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; failures=$((failures + 1)); }
indent() { sed 's/^/    /'; }

SDK_DIR="$(go list -m -f '{{.Dir}}' github.com/envoyproxy/envoy 2>/dev/null)"
SDK_VER="$(go list -m -f '{{.Version}}' github.com/envoyproxy/envoy 2>/dev/null)"
API_H="${SDK_DIR}/contrib/golang/common/go/api/api.h"
if [[ -z "${SDK_DIR}" || ! -f "${API_H}" ]]; then
  echo "abi-check: cannot locate api.h of github.com/envoyproxy/envoy (go list -m failed?)" >&2
  exit 2
fi
echo "abi-check: ${LIB} (plugin ${PLUGIN}) vs envoy SDK ${SDK_VER}"

# Symbol names only (nm -D prints "[addr] TYPE name[@VERSION]").
nm -D --undefined-only "${LIB}" | awk '{print $NF}' | sed 's/@.*//' | grep '^envoyGo' | sort -u \
  >"${WORK}/imports.txt"
nm -D --defined-only "${LIB}" | awk '{print $NF}' | sed 's/@.*//' | grep '^envoyGo' | sort -u \
  >"${WORK}/exports.txt"
grep -oE '\benvoyGo[A-Za-z0-9_]*[[:space:]]*\(' "${API_H}" | tr -d '( \t' | sort -u \
  >"${WORK}/declared.txt"

# --- a) imports declared in api.h ---------------------------------------------
n_imports=$(wc -l <"${WORK}/imports.txt")
n_declared=$(wc -l <"${WORK}/declared.txt")
undeclared="$(comm -23 "${WORK}/imports.txt" "${WORK}/declared.txt")"
if [[ "${n_imports}" -eq 0 ]]; then
  fail "a) imports: the .so imports no envoyGo* symbol (not a golang filter plugin?)"
elif [[ -n "${undeclared}" ]]; then
  fail "a) imports: $(wc -l <<<"${undeclared}") of ${n_imports} envoyGo* imports are not declared in ${API_H#"${SDK_DIR}"/}:"
  indent <<<"${undeclared}"
else
  pass "a) imports: ${n_imports} envoyGo* imports, all declared in api.h (${n_declared} declarations)"
fi

# --- b) exactly the 10 exports ------------------------------------------------
printf '%s\n' \
  envoyGoFilterNewHttpPluginConfig envoyGoFilterMergeHttpPluginConfig \
  envoyGoFilterDestroyHttpPluginConfig envoyGoFilterOnHttpHeader envoyGoFilterOnHttpData \
  envoyGoFilterOnHttpLog envoyGoFilterOnHttpStreamComplete envoyGoFilterOnHttpDestroy \
  envoyGoRequestSemaDec envoyGoFilterCleanUp | sort >"${WORK}/want-exports.txt"
missing_exp="$(comm -23 "${WORK}/want-exports.txt" "${WORK}/exports.txt")"
extra_exp="$(comm -13 "${WORK}/want-exports.txt" "${WORK}/exports.txt")"
if [[ -z "${missing_exp}" && -z "${extra_exp}" ]]; then
  pass "b) exports: exactly the 10 envoyGo* exports Envoy looks up"
else
  fail "b) exports: $(wc -l <"${WORK}/exports.txt") envoyGo* exports, expected exactly 10"
  [[ -n "${missing_exp}" ]] && { echo "    missing:"; indent <<<"${missing_exp}" | indent; }
  [[ -n "${extra_exp}" ]] && { echo "    unexpected:"; indent <<<"${extra_exp}" | indent; }
fi

# --- c) glibc version ---------------------------------------------------------
objdump -T "${LIB}" >"${WORK}/objdump-T.txt"
max_glibc="$(grep -oE 'GLIBC_[0-9]+(\.[0-9]+)*' "${WORK}/objdump-T.txt" | sed 's/GLIBC_//' | sort -Vu | tail -n1)"
if [[ -z "${max_glibc}" ]]; then
  pass "c) glibc: no GLIBC_ versioned symbols"
else
  needers="$(grep -F "(GLIBC_${max_glibc})" "${WORK}/objdump-T.txt" | awk '{print $NF}' | sort -u | tr '\n' ' ')"
  if [[ "$(printf '%s\n%s\n' "${max_glibc}" "${MAX_GLIBC}" | sort -V | tail -n1)" == "${MAX_GLIBC}" ]]; then
    pass "c) glibc: needs GLIBC_${max_glibc} <= ${MAX_GLIBC} (${needers% })"
  else
    fail "c) glibc: needs GLIBC_${max_glibc} > ${MAX_GLIBC} (${needers% })"
  fi
fi

# --- d) load + parse in the C host --------------------------------------------
# Warn if the host lacks a stub for something api.h declares (SDK bumped?):
# dlopen would then fail for a .so importing it.
grep -oE '\benvoyGo[A-Za-z0-9_]*\(' e2e/chost/host.c | tr -d '(' | sort -u >"${WORK}/host-stubs.txt"
no_stub="$(comm -23 "${WORK}/declared.txt" "${WORK}/host-stubs.txt")"
if [[ -n "${no_stub}" ]]; then
  echo "    warning: e2e/chost/host.c has no stub for these api.h functions:"
  indent <<<"${no_stub}" | indent
fi

run_host() { # name config.bin -> sets host_rc, prints output indented
  local name="$1" bin="$2"
  local t0 t1
  t0=$(date +%s%N)
  local log="${WORK}/host-${name}.log"
  # The outer 2>/dev/null silences bash's own "Aborted ..." job report.
  { timeout "${HOST_TIMEOUT}" "${WORK}/chost" "${LIB}" "${PLUGIN}" "${bin}" >"${log}" 2>&1; } 2>/dev/null
  host_rc=$?
  t1=$(date +%s%N)
  host_ms=$(((t1 - t0) / 1000000))
  head -n 40 "${log}" | indent
  if [[ $(wc -l <"${log}") -gt 40 ]]; then
    echo "    ... ($(wc -l <"${log}") lines, see ${log#"${ROOT}"/})"
  fi
  # Go code may call os.Exit itself; only trust the exit code together with
  # the host's own verdict line.
  if [[ ${host_rc} -eq 0 ]] && ! grep -q '^chost: config ACCEPTED' "${log}"; then
    host_rc=-1
  elif [[ ${host_rc} -eq 2 ]] && ! grep -q '^chost: config REJECTED' "${log}"; then
    host_rc=-2
  fi
}

d_ok=1
if ! gcc -rdynamic -o "${WORK}/chost" e2e/chost/host.c -ldl 2>"${WORK}/gcc.log"; then
  indent <"${WORK}/gcc.log"
  fail "d) host: building e2e/chost/host.c failed"
  d_ok=0
elif ! go build -o "${WORK}/mkconfig" ./e2e/chost/mkconfig 2>"${WORK}/go-build.log"; then
  indent <"${WORK}/go-build.log"
  fail "d) host: building e2e/chost/mkconfig failed"
  d_ok=0
fi
if [[ ${d_ok} -eq 1 ]]; then
  for kind in good bad; do
    if [[ ${kind} == good ]]; then src="${GOOD}"; else src="${BAD}"; fi
    if ! "${WORK}/mkconfig" -in "${src}" -out "${WORK}/${kind}.bin" -plugin "${PLUGIN}" 2>&1 | indent; then
      fail "d) host (${kind} config): mkconfig could not convert ${src}"
      continue
    fi
    run_host "${kind}" "${WORK}/${kind}.bin"
    case "${kind}:${host_rc}" in
      good:0) pass "d) host: good config accepted (exit 0, ${host_ms} ms)" ;;
      bad:2) pass "d) host: bad config rejected (exit 2, ${host_ms} ms)" ;;
      *)
        what="exit ${host_rc}"
        case ${host_rc} in
          2) what="config rejected (exit 2)" ;;
          0) what="config accepted (exit 0)" ;;
          -1) what="exit 0 without the host's ACCEPTED verdict (plugin called exit?)" ;;
          -2) what="exit 2 without the host's REJECTED verdict (plugin called exit?)" ;;
          1) what="host usage/IO error (exit 1)" ;;
          3) what="dlopen failed (exit 3)" ;;
          4) what="export missing (exit 4)" ;;
          124) what="timed out after ${HOST_TIMEOUT}s" ;;
          134) what="crashed: SIGABRT (exit 134)" ;;
          13[0-9] | 1[4-9][0-9]) what="crashed: signal $((host_rc - 128)) (exit ${host_rc})" ;;
        esac
        if [[ ${kind} == good ]]; then want="accepted (exit 0)"; else want="rejected (exit 2)"; fi
        fail "d) host: ${kind} config: want ${want}, got ${what}"
        ;;
    esac
  done
fi

if [[ ${failures} -eq 0 ]]; then
  echo "abi-check: PASS"
  exit 0
fi
echo "abi-check: FAIL (${failures} failed check(s))"
exit 1
