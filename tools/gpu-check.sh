#!/usr/bin/env bash
# The GPU check in one command, on a machine that has only python3 with torch, CMake, ninja
# (and nvcc for a CUDA torch): builds tools/gpu_check against the LibTorch inside python3's
# torch (torch.utils.cmake_prefix_path) and runs flowstyle-gpu-check on the GPU, or on the
# CPU at small sizes when there is none. Its last lines say what it could not run.
#
#   tools/gpu-check.sh [--pack] [-- flowstyle-gpu-check options]
#
#   --pack   on the development machine: copy the weights the check uses (the ml5 network
#            'wave' and VGG19, from the flowstyle model cache) into build-gpu-weights/ and
#            print the size to carry (the checkout's files plus that folder).
#
# Environment:
#   PYTHON                 the python with torch (default python3)
#   FLOWSTYLE_GPU_BUILD    build folder (default build-gpu-check)
#   FLOWSTYLE_GPU_WEIGHTS  weights folder (default build-gpu-weights): wave.safetensors and
#                          vgg19*.safetensors; without VGG19 the check uses random weights
#   FLOWSTYLE_MODELS       the model cache --pack reads (default ~/.cache/flowstyle/models)
# Exit: 0 ok, 1 a check failed or the build failed, 2 usage.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_GPU_BUILD:-$root/build-gpu-check}
weights=${FLOWSTYLE_GPU_WEIGHTS:-$root/build-gpu-weights}
py=${PYTHON:-python3}
pack=0
while (($#)); do
  case $1 in
    --pack) pack=1 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown option $1 (flowstyle-gpu-check options go after --)" >&2; exit 2 ;;
  esac
  shift
done

if ((pack)); then
  models=${FLOWSTYLE_MODELS:-$HOME/.cache/flowstyle/models}
  mkdir -p "$weights"
  for f in wave.safetensors vgg19-caffe-conv1_1-conv5_1.safetensors; do
    [ -f "$models/$f" ] || { echo "gpu-check.sh: $models/$f not found (run tools/get_weights.sh first)" >&2; exit 1; }
    cp "$models/$f" "$weights/"
  done
  tree=$(cd "$root" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
  w=$(du -cb "$weights" | tail -1 | cut -f1)
  echo "== $weights: $((w / 1024)) KiB; with the checkout's files $(((tree + w) / 1024)) KiB to carry (limit 65536 KiB)"
  exit 0
fi

echo "== torch: $("$py" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "devices", torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null)" \
  || { echo "gpu-check.sh: '$py' has no torch (set PYTHON)" >&2; exit 1; }
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
gpu=$("$py" -c 'import torch; print(1 if torch.cuda.is_available() else 0)' 2>/dev/null)

t0=$(date +%s)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
echo "== configuring $build against $prefix/Torch"
mkdir -p "$build"
cmake -S "$root/tools/gpu_check" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DTorch_DIR="$prefix/Torch" "${launcher[@]}" >"$build/configure.log" 2>&1 \
  || { tail -30 "$build/configure.log"; echo "gpu-check.sh: configure failed (log: $build/configure.log)" >&2; exit 1; }
echo "== building flowstyle-gpu-check"
nice -n "${FLOWSTYLE_NICE:-0}" cmake --build "$build" --parallel "${FLOWSTYLE_JOBS:-$(nproc)}" \
  || { echo "gpu-check.sh: build failed" >&2; exit 1; }
echo "== built in $(($(date +%s) - t0)) s"

args=()
model=$weights/wave.safetensors
if [ -f "$model" ]; then args+=(--model "$model"); else echo "== no $model: the fast network is not run"; fi
vgg=$(ls "$weights"/vgg19*.safetensors 2>/dev/null | head -1 || true)
[ -n "$vgg" ] && args+=(--vgg "$vgg")
if [ "$gpu" = 1 ]; then
  args+=(--device cuda)
else
  echo "== no CUDA device: running on the CPU at small sizes (no GPU figures)"
  args+=(--device cpu --quick)
fi
set +e
"$build/flowstyle-gpu-check" "${args[@]}" "$@"
rc=$?
echo "== gpu-check.sh: exit $rc after $(($(date +%s) - t0)) s"
exit $rc
