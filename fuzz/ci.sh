#!/usr/bin/env bash
# CI step (issue 13): builds the libFuzzer targets with Debian's clang 14 in build-fuzz and
# runs each for FLOWSTYLE_FUZZ_SECONDS (30) from its seed corpus. Fails on any finding.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
if ! command -v clang++-14 >/dev/null || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y --no-install-recommends clang-14 libclang-rt-14-dev
fi
build=${FLOWSTYLE_FUZZ_BUILD_DIR:-$root/build-fuzz}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
    -DFLOWSTYLE_FUZZ=ON -DFLOWSTYLE_BUILD_TESTS=OFF
fi
cmake --build "$build" --parallel "$(nproc)" --target fuzz_all
"$root/fuzz/run.sh" "$build" "${FLOWSTYLE_FUZZ_SECONDS:-30}"
