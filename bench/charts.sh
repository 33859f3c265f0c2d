#!/usr/bin/env bash
# Draws make bench's charts: bench/charts.sh RESULTS.json OUT_DIR.
# matplotlib comes from PyPI into its own virtualenv under
# $HOME/.cache/kafka-upstream/bench-venv (created once; idempotent).
set -euo pipefail
MATPLOTLIB_VERSION=3.11.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$HOME/.cache/kafka-upstream/bench-venv"
stamp="$venv/.matplotlib-$MATPLOTLIB_VERSION"
if [[ ! -f $stamp ]]; then
  echo "charts.sh: installing matplotlib $MATPLOTLIB_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "matplotlib==$MATPLOTLIB_VERSION" >&2
  touch "$stamp"
fi
MPLBACKEND=Agg "$venv/bin/python" "$root/bench/charts.py" "$@"
