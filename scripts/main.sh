#!/usr/bin/env bash
# The main job, from a bare machine: install dependencies, build, run the default experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/patchbay run "$@"
