#!/usr/bin/env bash
# Installs flowstyle's weights into the per-user cache (flowstyle models install).
#   tools/get_weights.sh [path/to/flowstyle]
# Source: $FLOWSTYLE_MIRROR (a local folder laid out like the public sources; default
# ../shared/models beside the checkout), else the public sources below. Every file is
# checked against models/weights.sha256 before it is installed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
flowstyle=${1:-$root/build/tools/flowstyle}
[ -d "$flowstyle" ] && flowstyle=$flowstyle/tools/flowstyle
sums=$root/models/weights.sha256
mirror=${FLOWSTYLE_MIRROR:-$root/../shared/models}

# Public sources (used only when there is no mirror):
#  - VGG19 / SqueezeNet as flowstyle safetensors: built from Oxford VGG's VGG19 (CC BY 4.0)
#    and SqueezeNet 1.1 (BSD-2); see README "Weights" for the origin of each file.
#  - ml5 style networks: ml5js/ml5-data-and-models, models/style-transfer/<style>/ (MIT).
#  - arbitrary-style networks (no download here; docs/models.md names their sources): a
#    mirror's arbitrary/{microast,wct16x,magenta,multistyle26} folders.
ml5_base=${FLOWSTYLE_ML5_URL:-https://raw.githubusercontent.com/ml5js/ml5-data-and-models/main/models/style-transfer}
styles=(la_muse mathura matilde_perez matta rain_princess scream udnie wave wreck)

if [ ! -d "$mirror" ]; then
  echo "== no local mirror ($mirror): downloading the style networks from their public source"
  mirror=$(mktemp -d)
  trap 'rm -rf "$mirror"' EXIT
  for s in "${styles[@]}"; do
    mkdir -p "$mirror/ml5/$s"
    grep " ml5/$s/" "$sums" | while read -r _ f; do
      curl -fsSL --retry 3 -o "$mirror/$f" "$ml5_base/$s/${f##*/}"
    done
  done
  echo "   The loss networks (VGG19, SqueezeNet) have no public safetensors download of this"
  echo "   exact file; install a torchvision/timm VGG19 .safetensors with:"
  echo "   flowstyle models install PATH/TO/vgg19.safetensors"
fi

echo "== checking SHA-256 of the weights in $mirror"
(cd "$mirror" && sha256sum --quiet -c --ignore-missing "$sums")

to_install=()
for f in vgg19-caffe-conv1_1-conv5_1.safetensors squeezenet1_1-caffe-trunk.safetensors; do
  [ -f "$mirror/$f" ] && to_install+=("$mirror/$f")
done
[ -d "$mirror/ml5" ] && to_install+=("$mirror/ml5")
# The arbitrary-style networks (any style image, one pass) as their authors publish them.
for d in microast wct16x magenta multistyle26; do
  [ -d "$mirror/arbitrary/$d" ] && to_install+=("$mirror/arbitrary/$d")
done
echo "== installing ${#to_install[@]} item(s)"
"$flowstyle" models install "${to_install[@]}"
