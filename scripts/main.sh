#!/usr/bin/env bash
# The main job, from a bare machine: install dependencies, build, run the word-index experiment
# on the default model (GPT-2 Small when its weights are present, otherwise stories260K).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
# The word-index experiment on the default model; --force regenerates the canonical result.
build/patchbay word-index --force "$@"
