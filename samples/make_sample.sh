#!/usr/bin/env bash
# Makes samples/sample.mp4: 3 s, 320x180, 25 fps, H.264, moving test pattern with a
# panning texture and a 440 Hz tone, from FFmpeg's lavfi sources (no download needed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/sample.mp4}
[ -s "$out" ] && { echo "sample exists: $out"; exit 0; }
tmp="$out.tmp.mp4"
ffmpeg -loglevel error -y \
  -f lavfi -i "mandelbrot=size=480x270:rate=25:end_scale=0.02,crop=320:180:x='40+40*t':y='30+15*t'" \
  -f lavfi -i "sine=frequency=440:sample_rate=44100" \
  -t 3 -map 0:v -map 1:a -c:v libx264 -pix_fmt yuv420p -crf 20 -c:a aac -b:a 96k -shortest "$tmp"
mv "$tmp" "$out"
echo "made $out"
