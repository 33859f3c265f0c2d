#!/usr/bin/env bash
# Installs the tools `make proto` needs, if missing (idempotent):
#   protoc          Debian's protobuf-compiler (3.21 on Debian 12)
#   protoc-gen-go   pinned to the google.golang.org/protobuf version in go.mod
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v protoc >/dev/null; then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq protobuf-compiler >/dev/null
fi
version="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)"
bin="$(go env GOPATH)/bin/protoc-gen-go"
if ! [[ -x "$bin" ]] || ! "$bin" --version 2>/dev/null | grep -q "${version}"; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@${version}"
fi
