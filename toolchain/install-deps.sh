#!/usr/bin/env bash
# Installs every Debian 12 package soth-mitm needs to build, test and fuzz.
# Idempotent: packages already present are skipped; apt-get update runs only
# when something is missing.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  clang-format
  liburing-dev node-llhttp libc-ares-dev libyaml-dev
  libnghttp2-dev libdeflate-dev libbrotli-dev libzstd-dev zlib1g-dev
)
TEST_PKGS=(
  libcriterion-dev curl nginx-light openssl python3 python3-h2
  python3-websockets python3-grpcio python3-msgpack nghttp2-client
  iproute2 procps prometheus jq
)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${TEST_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  echo "toolchain: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# wolfSSL with assembly, built once from Debian's source package into
# build/deps/ (a no-op when the cached build is current).
"$(dirname "$0")/build-wolfssl.sh"
