#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, configures into build/ (the release preset) and
# builds. Extra arguments go to `cmake --build` (e.g. --target lightloop).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build build -j "${LIGHTLOOP_JOBS:-2}" "$@"
