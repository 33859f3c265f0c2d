#!/usr/bin/env bash
# govulncheck over the repository, offline but for the Go module proxy
# (make vulncheck; issue 13). vuln.go.dev cannot be reached here, so:
#   1. govulncheck $GOVULNCHECK_VERSION is installed once into a cached GOBIN
#      (one per govulncheck and Go version: it loads packages with the go
#      command on PATH);
#   2. the vulnerability data comes as the module golang.org/x/vulndb (its
#      data/osv/*.json; the Go module cache keeps it);
#   3. internal/tools/vulndb turns those into govulncheck's v1 file database,
#      once per vulndb version (and version of the tool: a stamp file);
#   4. govulncheck -db file://... runs from the repository root over ./...
#      (the code we ship), then with -test -tags e2e,integration (the tests
#      too: every file behind those tags is a _test.go file, which only
#      -test reads).
# Exits non-zero if either run reports a vulnerability our code calls
# (govulncheck's own exit code 3 in text mode; vulnerabilities only in
# imported packages or required modules that nothing calls are listed but
# do not fail) or fails to run.
#
# Caches: ${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream}/govulncheck-*/ and
# .../vulndb-<version>/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GOVULNCHECK_VERSION=v1.9.0
# The vulndb module has no tagged versions, only pseudo-versions, which
# `go list -m -versions` does not list. To update: take the version the
# Go module proxy serves (`go mod download -json golang.org/x/vulndb@master`
# where the proxy can resolve a branch; here, the golang.org/x/vulndb row of
# the go-partial package list), check it with
# `go mod download -json golang.org/x/vulndb@<version>`, and set it below.
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

CACHE_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/kafka-upstream}"
mkdir -p "$CACHE_DIR"
start=$SECONDS

# 1. govulncheck.
gover="$(go env GOVERSION)"
GOBIN_DIR="$CACHE_DIR/govulncheck-$GOVULNCHECK_VERSION-$gover"
govulncheck="$GOBIN_DIR/govulncheck"
if ! [[ -x "$govulncheck" ]] || ! "$govulncheck" -version 2>/dev/null | grep -q "govulncheck@$GOVULNCHECK_VERSION"; then
  echo "vulncheck: installing govulncheck $GOVULNCHECK_VERSION ($gover) into $GOBIN_DIR"
  (cd "$CACHE_DIR" && GOBIN="$GOBIN_DIR" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION")
fi

# 2. The data (outside our module: nothing here touches go.mod or go.sum).
osv="$(cd "$CACHE_DIR" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/data/osv"
[[ -d "$osv" ]] || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }

# 3. The database. Entries in the module say modified 0001-01-01; the
# pseudo-version's commit time (yyyymmddhhmmss) stands in for it.
DB="$CACHE_DIR/vulndb-$VULNDB_VERSION"
stamp="$(sha256sum internal/tools/vulndb/main.go | cut -c1-16)"
if [[ "$(cat "$DB/.stamp" 2>/dev/null)" != "$stamp" ]]; then
  ts="$(sed -En 's/^v[0-9.]+-(0\.)?([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-[0-9a-f]{12}$/\2-\3-\4T\5:\6:\7Z/p' <<<"$VULNDB_VERSION")"
  tmp="$DB.tmp.$$"
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  go run ./internal/tools/vulndb -osv "$osv" -out "$tmp" ${ts:+-modified "$ts"}
  echo "$stamp" >"$tmp/.stamp"
  rm -rf "$DB"
  mv "$tmp" "$DB"
fi
echo "vulncheck: govulncheck $GOVULNCHECK_VERSION, $gover, golang.org/x/vulndb@$VULNDB_VERSION" \
  "($(ls "$DB/ID" | wc -l) entries) in $DB; ready after $((SECONDS - start)) s"

# 4. The scans. A called vulnerability fails the run unless it is listed,
# with its reason, in e2e/vulncheck-exceptions.txt.
EXCEPTIONS="$PWD/e2e/vulncheck-exceptions.txt"
status=0
summaries=()
scan() {
  local label="$1"; shift
  local out t=$SECONDS rc=0
  echo "vulncheck: govulncheck -db file://$DB${*:+ $*} ./..."
  out="$("$govulncheck" -db "file://$DB" -show version "$@" ./... 2>&1)" || rc=$?
  printf '%s\n' "$out"
  local summary
  summary="$(awk '/^(No vulnerabilities found|Your code (is|may be) affected|This scan (also )?found)/ { p = 1 }
    /^$|^Use / { p = 0 } p' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
  case $rc in
    0) ;;
    3) # Called vulnerabilities: fail unless each is a reviewed exception.
      local called unexcused=()
      called="$(grep -o '^Vulnerability #[0-9]*: GO-[0-9]*-[0-9]*' <<<"$out" | awk '{print $3}' | sort -u)"
      for id in $called; do
        grep -q "^$id " "$EXCEPTIONS" || unexcused+=("$id")
      done
      if ((${#unexcused[@]})); then
        status=1
        summary="$summary; not excepted: ${unexcused[*]}"
      else
        summary="$summary; all called ones are reviewed exceptions ($(echo $called)) in ${EXCEPTIONS#$PWD/}"
      fi
      ;;
    *) status=1; summary="govulncheck failed (exit $rc) ${summary}" ;;
  esac
  summaries+=("vulncheck: $label ($((SECONDS - t)) s): ${summary:-no summary line}")
}
scan "shipped code"
scan "with tests, -tags e2e,integration" -test -tags e2e,integration

printf '%s\n' "${summaries[@]}"
echo "vulncheck: $( ((status == 0)) && echo passed || echo FAILED ) in $((SECONDS - start)) s"
exit "$status"
