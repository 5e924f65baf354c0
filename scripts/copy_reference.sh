#!/usr/bin/env bash
# Copies the independent reference data (../shared/reference beside the checkout, or the
# directory given) into tests/data/reference, byte for byte, replacing what is there. Run it
# when the reference changes; the test reference_copy_identical fails until it is re-run.
# Never put anything computed by patchbay there: the references are other implementations'.
set -euo pipefail
cd "$(dirname "$0")/.."
source="${1:-../shared/reference}"
[ -d "$source" ] || { echo "copy_reference: no reference directory $source" >&2; exit 1; }
target=tests/data/reference
rm -rf "$target.new"
mkdir -p "$target.new"
cp -R "$source"/. "$target.new"/
chmod -R u+rw,go+r "$target.new"
rm -rf "$target"
mv "$target.new" "$target"
echo "copy_reference: $(find "$target" -type f | wc -l) files from $source into $target"
