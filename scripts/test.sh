#!/usr/bin/env bash
# The whole test suite, from a bare machine: install dependencies (with Chromium, for the
# report's browser test), build, run ctest; then the
# suite (less its [e2e] cases) under AddressSanitizer + UndefinedBehaviorSanitizer, then a short libFuzzer run of
# every fuzz target ($PATCHBAY_FUZZ_SECONDS each, default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
PATCHBAY_WITH_BROWSER=1 scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900 --parallel "$(nproc)"
scripts/sanitize.sh
scripts/fuzz.sh
