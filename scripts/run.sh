#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start: installs what is missing, builds, starts a memnode on
# loopback and runs the transport benchmark against it.
#   scripts/run.sh                      # shm
#   scripts/run.sh --provider tcp --sizes 4K,1M
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --target lightloop

provider=shm
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --provider) provider="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

out=$(mktemp)
build/bin/lightloop memnode --provider "$provider" --listen 127.0.0.1:0 --capacity 1GiB >"$out" &
memnode=$!
trap 'kill "$memnode" 2>/dev/null; wait "$memnode" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do
  grep -q "^memnode ready" "$out" && break
  kill -0 "$memnode" 2>/dev/null || { echo "run.sh: memnode failed to start" >&2; exit 1; }
  sleep 0.1
done
ready=$(grep "^memnode ready" "$out") || { echo "run.sh: memnode not ready after 10 s" >&2; exit 1; }
echo "$ready"
address=$(sed -n 's/.*control=\([^ ]*\).*/\1/p' <<<"$ready")
mkdir -p build/reports
build/bin/lightloop bench transport --memnode "$address" --provider "$provider" \
  --sizes 4K,64K,1M,16M --depth 16 --json build/reports/bench-transport.json "${args[@]}"
