#!/usr/bin/env bash
# README command 2: builds (if needed) and runs the whole test suite with ctest.
# Needs ../shared (media and weights) beside the checkout, and tools/setup.sh run once.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_BUILD_DIR:-$root/build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --parallel "$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 900 -j "${FLOWSTYLE_TEST_JOBS:-2}" "$@"
