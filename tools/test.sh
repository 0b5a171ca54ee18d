#!/usr/bin/env bash
# README command 2: builds (if needed) and runs the whole test suite with ctest.
# Needs ../shared (media and weights) beside the checkout, and tools/setup.sh run once.
#
# The farm's Slurm tests need a Slurm: when SLURM_CONF names one that answers, it is used
# as it is; otherwise this starts the local one-node Slurm (tools/slurm-local.sh, in the
# build folder) and stops it when the tests end, pass or fail. Where it cannot start
# (no slurm-wlm and no way to install it, ports taken by another Slurm, ...) the tests run
# anyway and the Slurm tests skip, saying why. FLOWSTYLE_NO_SLURM=1: do not start one.
# Arguments go to ctest (e.g. -R Cli_Join).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_BUILD_DIR:-$root/build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" --parallel "$(nproc)"

# slurm-local keeps its folder in the build folder it is given.
export FLOWSTYLE_BUILD_DIR=$build
slurm=$root/tools/slurm-local.sh
if [ -n "${SLURM_CONF:-}" ] && sinfo -h >/dev/null 2>&1; then
  echo "test.sh: using the Slurm of SLURM_CONF=$SLURM_CONF" >&2
elif [ "${FLOWSTYLE_NO_SLURM:-0}" = 1 ]; then
  echo "test.sh: FLOWSTYLE_NO_SLURM=1: no local Slurm; the Slurm farm tests will skip" >&2
elif "$slurm" status >/dev/null 2>&1; then
  eval "$("$slurm" env)"
  echo "test.sh: using the local Slurm already running in $build/slurm-local" >&2
elif "$slurm" start >/dev/null; then
  eval "$("$slurm" env)"
  # Stopped when this script ends, pass or fail: left running, its daemons hold ports
  # 6817/6818 and the next local Slurm cannot start.
  trap '"$slurm" stop >/dev/null 2>&1 || true' EXIT
else
  echo "test.sh: the local Slurm did not start (its messages above); the Slurm farm tests will skip" >&2
fi

cd "$build"
ctest --output-on-failure --timeout 900 -j "${FLOWSTYLE_TEST_JOBS:-2}" "$@"
