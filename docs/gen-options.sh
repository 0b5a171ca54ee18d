#!/usr/bin/env bash
# Regenerates the block of docs/options.md between the "generated from flowstyle --help"
# markers from the --help texts of a built flowstyle (tools/options.cpp, tools/farm.cpp,
# tools/main.cpp), so the reference cannot drift from the parser.
#
#   docs/gen-options.sh [FLOWSTYLE]      default: build/tools/flowstyle
#   docs/gen-options.sh --check [FLOWSTYLE]   exit 1 (and show the diff) if the file is stale
#
# `batch` and `preview` take every `video` option: their block shows only their own
# options (the help up to the "Input and output" group), which the reference states once.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
bin=${1:-$root/build/tools/flowstyle}
doc=$root/docs/options.md
begin='<!-- generated from flowstyle --help, do not edit -->'
end='<!-- end of generated text -->'

# The user cache folder `models --help` names depends on the machine: print it as ~/.cache.
unset XDG_CACHE_HOME
export HOME='~'

help() {  # title, command...
  local title=$1; shift
  printf '### `%s`\n\n```text\n' "$title"
  "$bin" "$@" --help | sed 's/ *$//'
  printf '```\n\n'
}
own() {  # batch / preview: the usage and their own group only
  local title=$1; shift
  printf '### `%s`\n\n```text\n' "$title"
  "$bin" "$@" --help | sed 's/ *$//; /^Input and output:/,$d' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
  printf '```\n\nand every [`video`](#flowstyle-video) option.\n\n'
}

generated=$(
  printf '### `flowstyle`\n\n```text\n'; "$bin" --help | sed 's/ *$//'; printf '```\n\n'
  help "flowstyle video" video
  own "flowstyle batch" batch
  own "flowstyle preview" preview
  help "flowstyle image" image
  help "flowstyle join" join
  help "flowstyle eval" eval
  help "flowstyle models" models
  help "flowstyle farm" farm
)

export GENERATED=$generated
new=$(awk -v b="$begin" -v e="$end" '
  $0 == b { print; print ""; print ENVIRON["GENERATED"]; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$doc")

if ((check)); then
  if ! diff -u "$doc" <(printf '%s\n' "$new"); then
    echo "docs/options.md is stale: run docs/gen-options.sh" >&2
    exit 1
  fi
else
  printf '%s\n' "$new" > "$doc"
fi
