#!/usr/bin/env bash
# flowstyle set-up on Debian 12: installs the packages it needs, builds Release,
# installs the weights, makes the sample clip and stylizes it.
#
#   tools/setup.sh                 everything (README command 1)
#   tools/setup.sh --no-demo       packages, build, weights; no demo run (what CI uses)
#
# Environment:
#   FLOWSTYLE_BUILD_DIR   build folder (default: build)
#   FLOWSTYLE_MIRROR      a local folder with the weights (default: ../shared/models when
#                         present); otherwise they are downloaded from their public
#                         sources and checked against the SHA-256 sums in models/weights.sha256
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_BUILD_DIR:-$root/build}
demo=1
for arg in "$@"; do
  case $arg in
    --no-demo) demo=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(
  cmake ninja-build pkg-config g++ ffmpeg
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  libopencv-dev libopencv-contrib-dev libtbb-dev libboost-program-options-dev
  libtorch-dev libgtest-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

echo "== building ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release ${FLOWSTYLE_CMAKE_ARGS:-}
cmake --build "$build" --parallel "$(nproc)"

"$root/tools/get_weights.sh" "$build/tools/flowstyle"

if ((demo)); then
  echo "== making the sample clip"
  "$root/samples/make_sample.sh"
  mkdir -p "$root/samples/out"
  echo "== stylizing it with the fast method (style network 'wave')"
  "$build/tools/flowstyle" video "$root/samples/sample.mp4" -o "$root/samples/out/sample_wave.mp4" \
    --method fast --model wave
  echo "== done: samples/out/sample_wave.mp4"
fi
