#!/usr/bin/env bash
# The folders are layers (../shared/CONVENTIONS.md): a library includes the ones below it,
# never one above. Checks every #include "..." of the libraries against that order:
#
#   stages  <  models  <  pipeline  <  pipeline/farm  <  tools, tests, fuzz
#
# Prints each include that goes up a layer and exits 1 when there is one; run by ctest
# (test "layers") and by hand: tools/check-layers.sh [ROOT].
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"
# layer <folder of a file or of an include>: its rank
rank() {
  case $1 in
    stages|stages/*) echo 1 ;;
    models|models/*) echo 2 ;;
    pipeline/farm|pipeline/farm/*) echo 4 ;;
    pipeline|pipeline/*) echo 3 ;;
    *) echo 9 ;;
  esac
}
bad=0
checked=0
while IFS= read -r file; do
  from=$(rank "$(dirname "$file")")
  while IFS= read -r inc; do
    checked=$((checked + 1))
    to=$(rank "$(dirname "$inc")")
    if [ "$to" -gt "$from" ]; then
      echo "$file includes $inc: a layer above its own" >&2
      bad=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(find stages models pipeline -name '*.hpp' -o -name '*.cpp' | sort)
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "layers: $checked includes in stages/, models/, pipeline/ and pipeline/farm/, none up a layer"
