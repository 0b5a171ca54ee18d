#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (issue 13): builds in
# build-asan with FLOWSTYLE_SANITIZE=address,undefined and runs ctest there; extra
# arguments go to ctest (e.g. -R 'test_cli|test_reliability' for the CLI and bad-input tests).
# Any sanitizer report fails its test (halt_on_error). LeakSanitizer is off: LibTorch and
# OpenCV keep process-lifetime allocations that it would report at every exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_ASAN_BUILD_DIR:-$root/build-asan}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-g1 \
    -DFLOWSTYLE_SANITIZE=address,undefined
fi
cmake --build "$build" --parallel "$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
cd "$build"
ctest --output-on-failure --timeout 1800 -j "${FLOWSTYLE_TEST_JOBS:-2}" "$@"
