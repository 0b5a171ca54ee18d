#!/usr/bin/env bash
# The test suite under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer
# (issue 13), in the instrumented clang build the fuzz targets use (fuzz/build.sh:
# build-fuzz, -DFLOWSTYLE_FUZZ=ON = -fsanitize=address,undefined on every library, tool and
# test, plus libFuzzer's inert coverage hooks). Extra arguments go to ctest, e.g.
#   tools/test-sanitized.sh -R 'Reliability|Cli'      # the bad-input and CLI tests only
# Fails on a failed test and on any sanitizer report, also one from a `flowstyle` process a
# test started and whose exit code it expected to be an error: every report is written to
# BUILD/sanitizer-reports/ (log_path) and listed at the end. Exit code of a process with a
# report: 86. Tests that need `ulimit -v` skip (ASan cannot start under RLIMIT_AS).
# Environment: FLOWSTYLE_FUZZ_BUILD_DIR (build-fuzz), FLOWSTYLE_TEST_JOBS (ctest -j, 2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_FUZZ_BUILD_DIR:-$root/build-fuzz}
"$root/fuzz/build.sh" tests/all
reports=$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=86:log_path=$reports/report
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=86:log_path=$reports/report
export LSAN_OPTIONS=suppressions=$root/fuzz/lsan.supp:print_suppressions=0
rc=0
(cd "$build" && ctest --output-on-failure --timeout 1800 -j "${FLOWSTYLE_TEST_JOBS:-2}" "$@") || rc=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "test-sanitized: sanitizer reports (also from processes the tests started):" >&2
  for f in "$reports"/*; do echo "== $f" >&2; head -40 "$f" >&2; done
  rc=1
fi
exit $rc
