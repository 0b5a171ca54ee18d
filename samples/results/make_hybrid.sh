#!/usr/bin/env bash
# The README's picture of `--method hybrid` with any style image (no per-style model, so the
# default arbitrary-style network, microast, paints the optimizer's head start): tubingen at
# 384 px, VGG19, style starry_night; left to right: the style image, `--method optimize` with
# its defaults (150 iterations), `--method hybrid` with its defaults (50 iterations).
# flowstyle-bench hybrid-any measures the same jobs.
#   samples/results/make_hybrid.sh [path/to/flowstyle]   -> samples/results/tubingen_hybrid.jpg
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fs=${1:-$root/build/tools/flowstyle}
shared=$root/../shared/media
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
content=$shared/stills/tubingen.jpg
style=$shared/styles/starry_night.jpg
"$fs" image "$content" --style "$style" --max-side 384 -o "$work/optimize.png" >/dev/null 2>&1
"$fs" image "$content" --method hybrid --style "$style" --max-side 384 -o "$work/hybrid.png" >/dev/null 2>&1
h=$(ffprobe -v error -select_streams v:0 -show_entries stream=height -of csv=p=0 "$work/optimize.png")
ffmpeg -v error -y -i "$style" -vf "scale=-2:$h" "$work/style.png"
ffmpeg -v error -y -i "$work/style.png" -i "$work/optimize.png" -i "$work/hybrid.png" \
  -filter_complex "[0][1][2]hstack=3" -q:v 3 "$root/samples/results/tubingen_hybrid.jpg"
echo "samples/results/tubingen_hybrid.jpg"
