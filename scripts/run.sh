#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start: installs what is missing, builds, and runs the quick-start
# scenario (a small Llama computed for real on a burst of Azure requests)
# on every target, then prints the runs side by side. The generated tokens
# must be identical everywhere ("tokens identical: yes").
#   scripts/run.sh                    # nic over shm
#   scripts/run.sh --provider tcp     # nic over tcp
# Reports land in build/reports/quickstart-<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --target lightloop

provider=shm
while [ $# -gt 0 ]; do
  case "$1" in
    --provider) provider="$2"; shift 2 ;;
    *) echo "run.sh: unknown argument $1 (only --provider NAME)" >&2; exit 2 ;;
  esac
done

mkdir -p build/reports
scenario=testbench/scenarios/quickstart.yaml
if [ "$provider" != shm ]; then  # the nic target's provider, over the quick start
  printf 'include: %s\ntargets: {nic: {provider: %s}}\n' "$PWD/$scenario" "$provider" \
    >build/reports/quickstart-$provider.yaml
  scenario=build/reports/quickstart-$provider.yaml
fi

reports=()
for target in local nic sim fpga; do
  out=build/reports/quickstart-$target
  if build/bin/lightloop run "$scenario" --target "$target" --out "$out" --quiet >"$out.log" 2>&1; then
    reports+=("$out/report.json")
  else
    echo "run.sh: --target $target: $(grep -m1 'error' "$out.log" || tail -1 "$out.log")"
  fi
done
# The same on the local target with room for every sequence: no KV offload.
out=build/reports/quickstart-kv-local
build/bin/lightloop run testbench/scenarios/quickstart-kv-local.yaml --target local --out "$out" --quiet >"$out.log" 2>&1 &&
  reports+=("$out/report.json")

echo
build/bin/lightloop compare "${reports[@]}"
