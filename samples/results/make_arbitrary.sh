#!/usr/bin/env bash
# The README's picture of the arbitrary-style networks: tubingen under three styles, one row
# per style: the style image, microast, magenta, wct16x, optimize (VGG19, the defaults), 256 px.
#   samples/results/make_arbitrary.sh [path/to/flowstyle]   -> samples/results/tubingen_arbitrary.jpg
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fs=${1:-$root/build/tools/flowstyle}
shared=$root/../shared/media
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
content=$shared/stills/tubingen.jpg
rows=()
for style in starry_night the_scream shipwreck; do
  s=$shared/styles/$style.jpg
  ffmpeg -v error -y -i "$s" -vf "scale=256:192:force_original_aspect_ratio=decrease,pad=256:192:(ow-iw)/2:(oh-ih)/2" "$work/$style-0.png"
  i=1
  for model in microast magenta wct16x; do
    "$fs" image "$content" --model $model --style "$s" --max-side 256 -o "$work/$style-$i.png" >/dev/null 2>&1
    i=$((i + 1))
  done
  "$fs" image "$content" --style "$s" --max-side 256 -o "$work/$style-4.png" >/dev/null 2>&1
  ffmpeg -v error -y -i "$work/$style-0.png" -i "$work/$style-1.png" -i "$work/$style-2.png" -i "$work/$style-3.png" \
    -i "$work/$style-4.png" -filter_complex "[0][1][2][3][4]hstack=5" "$work/row-$style.png"
  rows+=(-i "$work/row-$style.png")
done
ffmpeg -v error -y "${rows[@]}" -filter_complex "[0][1][2]vstack=3" -q:v 3 "$root/samples/results/tubingen_arbitrary.jpg"
echo "samples/results/tubingen_arbitrary.jpg"
