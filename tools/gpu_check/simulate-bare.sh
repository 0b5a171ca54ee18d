#!/usr/bin/env bash
# Runs tools/gpu-check.sh as the bare GPU machine would see this checkout: in a private mount
# namespace (root; unshare -m) where the development files of FFmpeg, OpenCV, oneTBB, Boost and
# Debian's LibTorch are hidden (empty folders / /dev/null bound over them), so that any use of
# them by the LibTorch-only build fails. Needs a python with torch: PYTHON=.venv-torch/bin/python.
#
#   PYTHON=.venv-torch/bin/python tools/gpu_check/simulate-bare.sh [gpu-check.sh arguments]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
exec unshare -m --propagation private bash -c '
  set -euo pipefail
  empty=$(mktemp -d)
  hidden=0
  for d in /usr/include/{ATen,boost,c10,caffe2,oneapi,opencv4,tbb,torch} \
           /usr/include/x86_64-linux-gnu/{libavcodec,libavformat,libavutil,libswscale,libswresample} \
           /usr/lib/x86_64-linux-gnu/cmake/{Torch,Caffe2,opencv4,TBB,Boost-1.74.0,boost_headers-1.74.0}; do
    [ -d "$d" ] && mount --bind "$empty" "$d" && hidden=$((hidden + 1))
  done
  for f in /usr/lib/x86_64-linux-gnu/lib{torch,torch_cpu,c10,opencv_core,tbb,boost_program_options,avcodec,avformat}.so; do
    [ -e "$f" ] && mount --bind /dev/null "$(readlink -f "$f")" && hidden=$((hidden + 1))
  done
  echo "== simulate-bare: $hidden folders/libraries hidden"
  exec "$0"/tools/gpu-check.sh "$@"
' "$root" "$@"
