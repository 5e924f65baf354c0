#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer) into
# build-fuzz/ and runs each for $PATCHBAY_FUZZ_SECONDS seconds (default 50), starting from the
# seed corpus in tests/fuzz/corpus/. A crash fails the run; its input is kept under
# build-fuzz/fuzz-work/NAME/: add it to tests/fuzz/regressions/NAME/ (ctest replays those) and fix.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${PATCHBAY_FUZZ_SECONDS:-50}"  # six targets: five minutes in all
build=build-fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang-16 CXX=clang++-16 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DPATCHBAY_FUZZ=ON -DPATCHBAY_BUILD_TESTS=OFF
fi
cmake --build "$build" --parallel "$(nproc)"

# Third-party libraries keep allocations until exit; leaks are checked by the sanitizer test run.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
for bin in "$build"/tests/fuzz/fuzz-*; do
  name="${bin##*/fuzz-}"
  work="$build/fuzz-work/$name"
  mkdir -p "$work/corpus"
  cp -n tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null || true
  seeds=("$work/corpus")
  [ -d "tests/fuzz/regressions/$name" ] && seeds+=("tests/fuzz/regressions/$name")
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=6144 -print_final_stats=1 \
        -artifact_prefix="$work/" "${seeds[@]}" > "$work/log" 2>&1; then
    echo "fuzz: $name FAILED; see $work/log; crashing input(s): $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')" >&2
    tail -40 "$work/log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done " "$work/log" | tail -2
  fi
done
exit $status
