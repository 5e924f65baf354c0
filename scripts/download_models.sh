#!/usr/bin/env bash
# Fetches published model files into a models directory, for machines with network access.
# patchbay never downloads at run time; scripts/main.sh calls this when GPT-2 Small is missing.
#
#   scripts/download_models.sh [--dest DIR] [gpt2|stories260K|all]     (default: gpt2 into ./models)
#
# Each file of scripts/models.manifest for the model is fetched to FILE.part (resumed when a
# .part is there), checked against its pinned size and SHA-256, and only then renamed to its
# final name: a partial or corrupt download is never left under the final name. A file already
# there is kept when its SHA-256 is right and refused when it is not.
#   PATCHBAY_DOWNLOAD_URL       server (default https://huggingface.co)
#   PATCHBAY_DOWNLOAD_MANIFEST  the file list (default scripts/models.manifest)
# Exit status: 0 done; 1 a download failed (server error, wrong checksum, disk); 2 bad usage;
# 3 no network (the server could not be reached): one line says so.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
base="${PATCHBAY_DOWNLOAD_URL:-https://huggingface.co}"
manifest="${PATCHBAY_DOWNLOAD_MANIFEST:-$here/models.manifest}"
dest=models
which=gpt2

usage() { echo "usage: $0 [--dest DIR] [gpt2|stories260K|all]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) [ $# -ge 2 ] || usage; dest="$2"; shift 2 ;;
    -*) usage ;;
    *) which="$1"; shift ;;  # a model of the manifest, or all
  esac
done
command -v curl >/dev/null || { echo "download_models: curl is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
[ -r "$manifest" ] || { echo "download_models: cannot read the manifest $manifest" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# curl's exit status for a failure to reach the server at all (resolve, connect, time out).
unreachable() { case "$1" in 5|6|7|28|35|45) return 0 ;; *) return 1 ;; esac; }

# curl's error output goes here, not beside the download.
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Downloads url into part, resuming what part holds. Sets curl_status and http_code.
transfer() {
  local url="$1" part="$2" progress=(-sS)
  [ -t 2 ] && progress=(--progress-bar)
  curl_status=0
  http_code=$(curl -fL "${progress[@]}" --connect-timeout 15 --retry 2 -C - -o "$part" -w '%{http_code}' "$url" \
              2>"$log") || curl_status=$?
}

# Whether the server answers at all (any HTTP status will do), asked once before the first
# transfer so that without a network the only output is one line saying so.
checked_network=0
require_network() {
  [ "$checked_network" = 1 ] && return
  checked_network=1
  local status=0
  curl -sS -o /dev/null --connect-timeout 10 --head "$base/" 2>"$log" || status=$?
  if unreachable "$status"; then no_network; fi
}
no_network() {
  echo "download_models: no network: could not reach $base ($(tail -n1 "$log" | sed 's/^curl: //'))" >&2
  remove_empty_dirs
  exit 3
}

# Directories this run made, removed again when a failure leaves them empty.
made_dirs=()
make_dir() {
  local d="$1" missing=()
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  [ ${#missing[@]} -eq 0 ] && return
  mkdir -p "$1"
  made_dirs=("${missing[@]}" "${made_dirs[@]}")
}
remove_empty_dirs() {
  local i
  for ((i = ${#made_dirs[@]} - 1; i >= 0; i--)); do rmdir "${made_dirs[$i]}" 2>/dev/null || true; done
}

fail_download() {  # url message...
  local url="$1"; shift
  echo "download_models: $* ($url)" >&2
  remove_empty_dirs
  exit 1
}

fetch() {  # model file path bytes sha256
  local model="$1" file="$2" url="$base/$3" bytes="$4" sha="$5"
  local target="$dest/$model/$file" part="$dest/$model/$file.part"
  if [ -e "$target" ]; then
    [ "$(sha256_of "$target")" = "$sha" ] && { echo "have $target"; return; }
    echo "download_models: $target exists but its SHA-256 is not the published $sha; move it away to download again" >&2
    exit 1
  fi
  require_network
  make_dir "$dest/$model"
  if [ -e "$part" ] && [ "$(size_of "$part")" -gt "$bytes" ]; then rm -f "$part"; fi
  echo "fetching $url ($bytes bytes)$([ -s "$part" ] && echo ", resuming after $(size_of "$part")")"
  if [ ! -e "$part" ] || [ "$(size_of "$part")" -lt "$bytes" ]; then
    transfer "$url" "$part"
    if [ "$curl_status" = 33 ]; then  # the server cannot resume: start again
      rm -f "$part"
      transfer "$url" "$part"
    fi
    if unreachable "$curl_status"; then no_network; fi
    if [ "$curl_status" != 0 ]; then
      [ "${http_code:-000}" -ge 400 ] && fail_download "$url" "server error (HTTP $http_code)"
      fail_download "$url" "transfer failed ($(tail -n1 "$log" | sed 's/^curl: //')); run again to resume from $part"
    fi
  fi
  local got
  got=$(size_of "$part")
  [ "$got" = "$bytes" ] || { rm -f "$part"; fail_download "$url" "got $got bytes, expected $bytes"; }
  got=$(sha256_of "$part")
  [ "$got" = "$sha" ] || { rm -f "$part"; fail_download "$url" "SHA-256 mismatch: got $got, expected $sha"; }
  mv -f "$part" "$target"
  echo "verified $target"
}

found=0
while read -r model file path bytes sha; do
  case "$model" in ''|'#'*) continue ;; esac
  [ "$which" = all ] || [ "$which" = "$model" ] || continue
  found=1
  fetch "$model" "$file" "$path" "$bytes" "$sha"
done < "$manifest"
if [ "$found" = 0 ]; then
  echo "download_models: the manifest $manifest lists no model '$which'; it has: $(grep -v '^#' "$manifest" | awk 'NF {print $1}' | sort -u | tr '\n' ' ')all" >&2
  exit 2
fi
echo "models are in $dest (patchbay looks there when it is ./models, or set PATCHBAY_MODELS=$dest)"
