#!/usr/bin/env bash
# Behaviour check for refactors: runs a handful of short jobs with default options on real
# clips and writes one framemd5 per output (ffmpeg -f framemd5: the decoded frames, not the
# container), so that two builds can be compared frame for frame.
#
#   tools/framemd5-check.sh [FLOWSTYLE] OUT_DIR     # FLOWSTYLE: default build/tools/flowstyle
#   diff -r OUT_BEFORE OUT_AFTER                    # no output: same frames
#
# Jobs: video fast and optimize (a few frames of chaplin at a small size), hybrid, copy, image
# optimize on a small still, and two fast chunks (pre-roll and overlap) joined with each blend
# join offers without chunk options, plus optimize chunks joined with each blend. The default
# blend became `auto` (fitted for fast parts and for optimize parts without chunk options,
# restyle for optimize parts with them), so a default join compares with the explicit one.
# Needs ../shared beside the checkout (FLOWSTYLE_SHARED_DIR overrides) and ffmpeg.
# About 2-4 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ $# -eq 2 ]; then bin=$1; out=$2; elif [ $# -eq 1 ]; then bin=$root/build/tools/flowstyle; out=$1
else echo "usage: $0 [FLOWSTYLE] OUT_DIR" >&2; exit 2; fi
shared=${FLOWSTYLE_SHARED_DIR:-$root/../shared}
clip=$shared/media/clips/chaplin.mp4
still=$shared/media/stills/tubingen.jpg
style=$shared/media/styles/starry_night.jpg
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { "$bin" "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }; }
# The style networks imported once into the work folder (never the user's cache).
export XDG_CACHE_HOME=$work/cache
mkdir -p "$work/models" "$XDG_CACHE_HOME"
unset FLOWSTYLE_MODELS
for net in wave scream; do run models install "$shared/models/ml5/$net" --to "$work/models"; done
export FLOWSTYLE_MODELS=$work/models:$shared/models

md5() {  # md5 NAME FILE
  ffmpeg -v error -i "$2" -map 0:v -f framemd5 - | grep -v '^#' >"$out/$1.framemd5"
  echo "$1: $(wc -l <"$out/$1.framemd5") frames"
}
run video "$clip" -o "$work/fast.mp4" --method fast --model wave --frames 0-7 --max-side 96
md5 video-fast "$work/fast.mp4"
run video "$clip" -o "$work/optimize.mp4" --style "$style" --frames 0-2 --max-side 48
md5 video-optimize "$work/optimize.mp4"
run video "$clip" -o "$work/hybrid.mkv" --method hybrid --model scream --style "$style" --frames 0-2 --max-side 48
md5 video-hybrid "$work/hybrid.mkv"
run video "$clip" -o "$work/copy.mp4" --method copy --frames 10-19
md5 video-copy "$work/copy.mp4"
run image "$still" --style "$style" -o "$work/image.png" --max-side 48
md5 image-optimize "$work/image.png"

# Fast chunks: 0-9 and 10-19 with --preroll 4 --overlap 4, joined.
run video "$clip" -o "$work/c0.mkv" --method fast --model wave --frames 0-9 --preroll 4 --overlap 4 --max-side 96
run video "$clip" -o "$work/c1.mkv" --method fast --model wave --frames 10-19 --preroll 4 --overlap 4 --max-side 96
md5 chunk-fast-0 "$work/c0.mkv"
md5 chunk-fast-1 "$work/c1.mkv"
run join "$work/c0.mkv" "$work/c1.mkv" -o "$work/join-default.mkv" --codec ffv1
md5 join-fast-default "$work/join-default.mkv"
for blend in ramp fitted; do
  run join "$work/c0.mkv" "$work/c1.mkv" -o "$work/join-$blend.mkv" --codec ffv1 --blend "$blend"
  md5 "join-fast-$blend" "$work/join-$blend.mkv"
done

# Optimize chunks: 0-3 and 4-7 with --preroll 2 --overlap 2 at 48 px, joined by default and
# with the restyle (the chunks' options after --).
opt=(--style "$style" --max-side 48)
run video "$clip" -o "$work/o0.mkv" "${opt[@]}" --frames 0-3 --preroll 2 --overlap 2
run video "$clip" -o "$work/o1.mkv" "${opt[@]}" --frames 4-7 --preroll 2 --overlap 2
md5 chunk-optimize-0 "$work/o0.mkv"
md5 chunk-optimize-1 "$work/o1.mkv"
run join "$work/o0.mkv" "$work/o1.mkv" -o "$work/join-opt-default.mkv" --codec ffv1
md5 join-optimize-default "$work/join-opt-default.mkv"
for blend in ramp fitted; do
  run join "$work/o0.mkv" "$work/o1.mkv" -o "$work/join-opt-$blend.mkv" --codec ffv1 --blend "$blend"
  md5 "join-optimize-$blend" "$work/join-opt-$blend.mkv"
done
run join "$work/o0.mkv" "$work/o1.mkv" -o "$work/join-opt-restyle.mkv" --codec ffv1 --blend restyle -- "${opt[@]}"
md5 join-optimize-restyle "$work/join-opt-restyle.mkv"
echo "framemd5s in $out"
