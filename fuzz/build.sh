#!/usr/bin/env bash
# The instrumented build of issue 13 (build-fuzz): Debian's clang 14, -DFLOWSTYLE_FUZZ=ON,
# which compiles every library, tool and test with -fsanitize=address,undefined (UBSan
# fatal) plus libFuzzer's coverage hooks (-fsanitize=fuzzer-no-link; inert outside a
# fuzzer). One build serves the fuzz targets (fuzz/ci.sh) and the sanitized test suite
# (tools/test-sanitized.sh). Installs clang-14 and its runtime when missing, configures
# once, then builds the given targets. Usage: fuzz/build.sh TARGET... (fuzz_all, tests/all)
# Environment: FLOWSTYLE_FUZZ_BUILD_DIR (default build-fuzz).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if ! command -v clang++-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends clang-14 libclang-rt-14-dev
fi
build=${FLOWSTYLE_FUZZ_BUILD_DIR:-$root/build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DFLOWSTYLE_FUZZ=ON -DFLOWSTYLE_BUILD_TESTS=ON -DFLOWSTYLE_BUILD_GPU_CHECK=OFF
fi
cmake --build "$build" --parallel "$(nproc)" --target "$@"
