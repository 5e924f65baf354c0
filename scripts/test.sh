#!/usr/bin/env bash
# The whole test suite, from a bare machine: install dependencies, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 900
