#!/usr/bin/env bash
# Exploratory fuzzing, beyond CI's short reproducible runs: every libFuzzer
# target (or those named) for SECONDS each (default 300), random seeds, two
# at a time. New coverage stays in build/fuzz/work-<name>/ (merge what is
# worth keeping into fuzz/corpus/<name>/ with -merge=1); a crash is left as
# build/fuzz/crash-* and its path printed: add it to fuzz/corpus/<name>/
# once fixed, so every CI run replays it.
#
#   toolchain/fuzz.sh [SECONDS] [TARGET...]     e.g. toolchain/fuzz.sh 600 http1 h2
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
cd build/fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in fuzz_*; do [[ -x "$f" && ! -d "$f" ]] && targets+=("${f#fuzz_}"); done
fi
status=0
run() {
  local t=$1
  mkdir -p "work-$t"
  if ASAN_OPTIONS=detect_leaks=1 "./fuzz_$t" -seed=0 -max_total_time="$secs" -rss_limit_mb=2048 \
       -timeout=10 -print_final_stats=1 "work-$t" "../../fuzz/corpus/$t" > "fuzz-$t.log" 2>&1; then
    echo "fuzz_$t: ok ($(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "fuzz-$t.log" || true))"
  else
    echo "fuzz_$t: FAILED, see build/fuzz/fuzz-$t.log and $(grep -o 'crash-[0-9a-f]*' "fuzz-$t.log" | head -n 1)"
    return 1
  fi
}
pids=()
for t in "${targets[@]}"; do
  run "$t" & pids+=($!)
  if ((${#pids[@]} >= $(nproc))); then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
