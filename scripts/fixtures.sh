#!/usr/bin/env bash
# Fetches the real test fixtures into DIR (default testdata/fixtures): the
# ONNX model zoo MNIST CNN with its reference pairs, 10,000 labelled MNIST
# digits as mnist/digits.npz, and ONNX's single-operator conformance cases
# as onnx-node/ (plus the old-opset PyTorch sets as onnx-pytorch-converted/
# and onnx-pytorch-operator/). Every file is checked against a pinned sha256; what is
# already present and right is left alone. Needs go, npm, apt-get and
# dpkg-deb. See internal/tools/fixtures for the details.
#
# usage: scripts/fixtures.sh [DIR]
set -euo pipefail

[ $# -le 1 ] || { echo "usage: scripts/fixtures.sh [DIR]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
args=()
if [ $# -eq 1 ]; then
  # Resolve DIR against the caller's directory before moving to the root.
  case "$1" in
    /*) args=("$1") ;;
    *) args=("$PWD/$1") ;;
  esac
fi
cd "$root"
exec go run ./internal/tools/fixtures fetch "${args[@]}"
