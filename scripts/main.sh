#!/usr/bin/env bash
# The main job, from a bare machine: install dependencies, build, run the word-index experiment
# on the default model. That is GPT-2 Small when its weights are on the model search path; when
# they are not, GPT-2 Small is downloaded into ./models (548 MB, scripts/download_models.sh)
# where there is a network, and otherwise the embedded stories260K is used, said in one line.
# PATCHBAY_OFFLINE=1 skips the download attempt. Arguments go to `patchbay word-index`
# (--model DIR chooses the model and skips the download).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

model_given=0
for arg in "$@"; do case "$arg" in --model|--model=*) model_given=1 ;; esac; done
default_model=$(build/patchbay models --default 2>/dev/null || true)
if [ "$model_given" = 0 ] && [ "$(basename "${default_model:-none}")" != gpt2 ]; then
  if [ "${PATCHBAY_OFFLINE:-0}" = 1 ]; then
    echo "main: PATCHBAY_OFFLINE=1, not downloading GPT-2 Small; running on ${default_model:-no model}"
  else
    # Without a network this prints one line saying so, and the run below uses stories260K.
    status=0
    scripts/download_models.sh --dest models gpt2 || status=$?
    # 3: no network (the script said so in one line); anything else is a real failure.
    [ "$status" = 0 ] || [ "$status" = 3 ] || exit "$status"
  fi
fi
# The word-index experiment on the default model; --force regenerates the canonical result.
build/patchbay word-index --force "$@"
