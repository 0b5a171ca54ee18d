#!/usr/bin/env bash
# CI step (issue 13): builds the libFuzzer targets (fuzz/build.sh: build-fuzz, clang 14,
# ASan + UBSan) and runs each for FLOWSTYLE_FUZZ_SECONDS (30) from its seed corpus with
# LeakSanitizer on (fuzz/run.sh). Fails on any crash, leak, timeout or sanitizer report.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/fuzz/build.sh" fuzz_all
"$root/fuzz/run.sh" "${FLOWSTYLE_FUZZ_BUILD_DIR:-$root/build-fuzz}" "${FLOWSTYLE_FUZZ_SECONDS:-30}"
