#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS from its seed corpus (fuzz/corpus/<target>, copied:
# the repository's seeds are not changed) and fails on any crash, leak, timeout or
# sanitizer report. Usage: fuzz/run.sh [BUILD_DIR (build-fuzz)] [SECONDS (30)] [TARGET...]
# Findings are kept in BUILD_DIR/fuzz-findings/<target>-crash-<sha1>; replay one with
#   BUILD_DIR/fuzz/fuzz_<target> BUILD_DIR/fuzz-findings/<file>
# A target with fuzz/dict/<target>.dict gets it as -dict (tokens it cannot learn from
# comparisons in uninstrumented libraries). FLOWSTYLE_FUZZ_JOBS targets run at once (default:
# the number of cores; each gets its full SECONDS).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "${1:-$root/build-fuzz}" && pwd)
seconds=${2:-30}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors torch_reader onnx_reader ml5_manifest options sequence_pattern farm_metadata farm_job_folder)
findings=$build/fuzz-findings
mkdir -p "$findings"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}
jobs=${FLOWSTYLE_FUZZ_JOBS:-$(nproc)}  # targets at a time: libFuzzer runs one thread each
# One target; its summary (and its findings on failure) go to $build/fuzz-$t.summary.
fuzz_one() {
  local t=$1 exe=$build/fuzz/fuzz_$1 log=$build/fuzz-$1.log out=$build/fuzz-$1.summary
  echo 1 >"$build/fuzz-$t.rc"
  if [ ! -x "$exe" ]; then echo "fuzz: $exe missing (build the fuzz_all target)" >"$out"; return; fi
  local work start rc runs
  work=$(mktemp -d)
  start=$(date +%s)
  local dict=(); [ -f "$root/fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
  "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 "${dict[@]}" \
    -artifact_prefix="$findings/$t-" -print_final_stats=1 "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz $t: exit $rc, ${runs:-?} inputs in $(( $(date +%s) - start )) s (load $(cut -d' ' -f1 /proc/loadavg))" >"$out"
  [ $rc -eq 0 ] || grep -E "ERROR|runtime error|SUMMARY|Test unit written|==[0-9]+==" "$log" | head -20 >>"$out"
  rm -rf "$work"
  echo $rc >"$build/fuzz-$t.rc"
}
for t in "${targets[@]}"; do
  while (( $(jobs -rp | wc -l) >= jobs )); do wait -n || true; done
  fuzz_one "$t" &
done
wait
failed=0
for t in "${targets[@]}"; do
  cat "$build/fuzz-$t.summary"
  [ "$(cat "$build/fuzz-$t.rc")" = 0 ] || failed=1
done
exit $failed
