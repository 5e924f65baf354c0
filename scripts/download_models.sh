#!/usr/bin/env bash
# Fetches the public model files into a models directory (default ./models), for machines
# with network access. patchbay never downloads at run time; this is the only script that does.
#   models/gpt2/        config.json vocab.json merges.txt model.safetensors   (Hugging Face "gpt2")
#   models/stories260K/ model.bin tokenizer.bin   (karpathy/tinyllamas stories260K.bin + tok512.bin)
set -euo pipefail
dest="${1:-models}"
hf="https://huggingface.co"

fetch() {  # url target
  local url="$1" target="$2"
  if [ -s "$target" ]; then echo "have $target"; return; fi
  mkdir -p "$(dirname "$target")"
  echo "fetching $url"
  if command -v curl >/dev/null; then
    curl -fL --connect-timeout 15 --retry 2 -o "$target.part" "$url" || {
      rm -f "$target.part"
      echo "error: could not download $url (no network access?). Copy the files by hand into $(dirname "$target")." >&2
      exit 1
    }
  elif command -v wget >/dev/null; then
    wget -q --timeout=15 -O "$target.part" "$url" || {
      rm -f "$target.part"
      echo "error: could not download $url (no network access?). Copy the files by hand into $(dirname "$target")." >&2
      exit 1
    }
  else
    echo "error: neither curl nor wget is installed" >&2
    exit 1
  fi
  mv "$target.part" "$target"
}

for f in config.json vocab.json merges.txt model.safetensors; do
  fetch "$hf/gpt2/resolve/main/$f" "$dest/gpt2/$f"
done
fetch "$hf/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin" "$dest/stories260K/model.bin"
fetch "$hf/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin" "$dest/stories260K/tokenizer.bin"
echo "models are in $dest (patchbay looks in \$PATCHBAY_MODELS, ./models, ../shared/models)"
