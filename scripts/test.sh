#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite with ctest.
# Tests labelled `hil` need real hardware and are left out unless
# LIGHTLOOP_HIL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exclude=(-LE hil)
[ "${LIGHTLOOP_HIL:-0}" = 1 ] && exclude=()
ctest --test-dir build -j "${LIGHTLOOP_JOBS:-2}" --output-on-failure --timeout 300 "${exclude[@]}"
# The smoke regression suite, as a partner's CI would run it: JUnit XML in
# build/suites/ for the CI to collect.
build/bin/lightloop suite testbench/suites/smoke.yaml --jobs "${LIGHTLOOP_JOBS:-2}" --out build/suites/smoke \
  --junit build/suites/smoke-junit.xml
