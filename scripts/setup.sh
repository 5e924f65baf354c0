#!/usr/bin/env bash
# Installs every Debian bookworm package patchbay needs to build, test and run.
# Idempotent: installs only what is missing; uses sudo when not root. Downloads nothing else.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-16 libclang-rt-16-dev
  # libraries
  libtorch-dev libopenblas0-openmp libblas-dev libboost-graph-dev libfmt-dev catch2
  libhdf5-dev nlohmann-json3-dev libcli11-dev libbenchmark-dev libicu-dev
  # tests: XML parsing of reports, PNG decoding of browser screenshots
  libxml2-dev libpng-dev
  # tests: a result file read by an independent HDF5 reader, with only the names docs/FORMAT.md gives
  python3 python3-h5py
  # data: the word list for the word-index experiment
  wamerican
  # scripts/download_models.sh (GPT-2 Small's weights, where there is a network)
  curl ca-certificates
)
# The test command sets this: the report's browser test needs Chromium; GraphViz renders the
# circuit graph with `dot` besides the built-in layout.
if [ "${PATCHBAY_WITH_BROWSER:-0}" = 1 ]; then packages+=(chromium graphviz); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
