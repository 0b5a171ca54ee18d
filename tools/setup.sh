#!/usr/bin/env bash
# flowstyle set-up on Debian 12: installs the packages it needs, builds Release,
# installs the weights, makes the sample clip and stylizes it.
#
#   tools/setup.sh                 everything (README command 1)
#   tools/setup.sh --no-demo       packages, build, weights; no demo run (what CI uses)
#   tools/setup.sh --torch pypi    the same against LibTorch 2.x with CUDA from the `torch`
#                                  wheel (pinned below), installed into the project's own
#                                  virtual environment .venv-torch/, built in build-torch2/;
#                                  needs the CUDA toolkit (nvcc) and ~5 GB. Default: --torch debian
#                                  (Debian's libtorch-dev 1.13, CPU only).
#
# Environment:
#   FLOWSTYLE_BUILD_DIR   build folder (default: build; build-torch2 with --torch pypi)
#   FLOWSTYLE_TORCH_VENV  the virtual environment of --torch pypi (default: .venv-torch)
#   FLOWSTYLE_MIRROR      a local folder with the weights (default: ../shared/models when
#                         present); otherwise they are downloaded from their public
#                         sources and checked against the SHA-256 sums in models/weights.sha256
set -euo pipefail
SECONDS=0
phase_start=0
took() {  # took WHAT: prints the time since the previous phase ended (where set-up time goes)
  echo "== setup: $1 took $((SECONDS - phase_start)) s"
  phase_start=$SECONDS
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FLOWSTYLE_BUILD_DIR:-$root/build}
demo=1
torch=debian
# The torch wheel of --torch pypi: 2.11.0 is the borrowed GPU machine's PyTorch (CUDA 13.0).
torch_wheel=torch==2.11.0
while (($#)); do
  case $1 in
    --no-demo) demo=0 ;;
    --torch)
      torch=${2:-}
      [ "$torch" = debian ] || [ "$torch" = pypi ] || { echo "setup.sh: --torch debian|pypi" >&2; exit 2; }
      shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$torch" = pypi ]; then
  build=${FLOWSTYLE_BUILD_DIR:-$root/build-torch2}
  venv=${FLOWSTYLE_TORCH_VENV:-$root/.venv-torch}
fi

packages=(
  cmake ninja-build pkg-config g++ ffmpeg
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  libopencv-dev libopencv-contrib-dev libtbb-dev libboost-program-options-dev
  libgtest-dev
  libonnx-dev libprotobuf-dev nlohmann-json3-dev libzip-dev
)
if [ "$torch" = pypi ]; then packages+=(python3-venv); else packages+=(libtorch-dev libdnnl-dev); fi
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
took "Debian packages (${#missing[@]} missing)"

torch_args=()
if [ "$torch" = pypi ]; then
  command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || {
    echo "setup.sh: --torch pypi needs the CUDA toolkit (nvcc; the torch wheel's CMake files look for it)" >&2
    exit 1
  }
  if [ ! -x "$venv/bin/python" ]; then
    echo "== making the virtual environment $venv"
    /usr/bin/python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '${torch_wheel#torch==}')" 2>/dev/null; then
    echo "== installing $torch_wheel into $venv (with its CUDA libraries, ~5 GB)"
    "$venv/bin/pip" install --progress-bar off "$torch_wheel"
  fi
  torch_dir=$("$venv/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)/Torch
  torch_args=(-DTorch_DIR="$torch_dir")
  took "torch wheel ($venv)"
fi

echo "== building ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${torch_args[@]}" ${FLOWSTYLE_CMAKE_ARGS:-}
took "configure"
cmake --build "$build" --parallel "$(nproc)"
took "build"

"$root/tools/get_weights.sh" "$build/tools/flowstyle"
took "weights"

if ((demo)); then
  echo "== making the sample clip"
  "$root/samples/make_sample.sh"
  mkdir -p "$root/samples/out"
  echo "== stylizing it with the fast method (style network 'wave')"
  "$build/tools/flowstyle" video "$root/samples/sample.mp4" -o "$root/samples/out/sample_wave.mp4" \
    --method fast --model wave
  took "demo (sample clip, stylized)"
  echo "== done: samples/out/sample_wave.mp4"
fi
echo "== setup: all of it ${SECONDS} s"
