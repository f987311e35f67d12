#!/usr/bin/env bash
# Install what is needed, build the optimised binary and run the proxy with
# its defaults (127.0.0.1:8080). Extra arguments go to soth-mitm.
set -euo pipefail
cd "$(dirname "$0")/.."
./toolchain/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec ./build/release/soth-mitm "$@"
