#!/usr/bin/env bash
# Install what is needed, build the ASan+UBSan test build and the libFuzzer
# build, and run every test: unit (Criterion), integration (real clients and
# servers on loopback) and a short run of every fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
./toolchain/install-deps.sh --test
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
JOBS=$(nproc)

cmake --preset asan >/dev/null
cmake --build --preset asan -j "$JOBS"
ctest --preset asan -j "$JOBS"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$JOBS"
ctest --preset fuzz -j "$JOBS"
