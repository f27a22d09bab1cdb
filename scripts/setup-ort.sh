#!/usr/bin/env bash
# Provisions the ONNX Runtime CPU shared library into .ort/ from the npm
# package onnxruntime-node, checking the tarball and the library against
# pinned checksums. Idempotent: does nothing when the library is in place.
set -euo pipefail

ORT_VERSION=1.30.0
TARBALL_SHA256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
TARBALL_SHA512_B64='twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw=='
LIB_SHA256_x64=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.ort"
cache="$root/.cache/npm"
lib="$dest/libonnxruntime.so.1"

case "$(uname -m)" in
  x86_64|amd64) arch=x64; lib_sha256=$LIB_SHA256_x64 ;;
  aarch64|arm64) arch=arm64; lib_sha256="" ;;
  *) echo "setup-ort: unsupported machine $(uname -m); point infer at an ONNX Runtime build with --ort-lib" >&2; exit 1 ;;
esac

check_lib() {
  [ -f "$lib" ] || return 1
  [ -z "$lib_sha256" ] && return 0
  echo "$lib_sha256  $lib" | sha256sum --check --status
}

if check_lib; then
  exit 0
fi

command -v npm >/dev/null || { echo "setup-ort: npm is needed to fetch onnxruntime-node@$ORT_VERSION (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache" "$dest"
tgz="$cache/onnxruntime-node-$ORT_VERSION.tgz"
if [ ! -f "$tgz" ] || ! echo "$TARBALL_SHA256  $tgz" | sha256sum --check --status; then
  rm -f "$tgz"
  echo "setup-ort: fetching onnxruntime-node@$ORT_VERSION (113 MB)" >&2
  (cd "$cache" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
fi
echo "$TARBALL_SHA256  $tgz" | sha256sum --check --status || { echo "setup-ort: $tgz does not match its pinned sha256" >&2; exit 1; }
# npm's integrity is base64(sha512); node comes with npm, openssl may not.
got512=$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
[ "$got512" = "$TARBALL_SHA512_B64" ] || { echo "setup-ort: $tgz does not match its pinned sha512 integrity" >&2; exit 1; }

tmp=$(mktemp -d "$dest/.extract.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" "package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
src="$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
if [ -n "$lib_sha256" ]; then
  echo "$lib_sha256  $src" | sha256sum --check --status || { echo "setup-ort: extracted library does not match its pinned sha256" >&2; exit 1; }
fi
mv -f "$src" "$lib"
echo "setup-ort: ONNX Runtime $ORT_VERSION CPU library at $lib" >&2
