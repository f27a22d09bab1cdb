#!/usr/bin/env bash
# Makes sure protoc (Debian's protobuf-compiler) and the pinned protoc-gen-go
# are available; prints the directory holding protoc-gen-go.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PROTOC_GEN_GO_VERSION=v1.36.12
if ! command -v protoc >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "need-protoc: installing protobuf-compiler" >&2
    apt-get install -y -qq protobuf-compiler >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq protobuf-compiler >/dev/null; }
  else
    echo "need-protoc: protoc not found; install Debian's protobuf-compiler" >&2
    exit 1
  fi
fi
bin="$root/.bin"
if [ ! -x "$bin/protoc-gen-go" ] || [ "$("$bin/protoc-gen-go" --version 2>/dev/null)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
  GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
echo "$bin"
