#!/usr/bin/env bash
# The bench-only Python of flowstyle-bench arbitrary's peers (PyTorch eager, onnxruntime):
# a virtual environment .venv-bench/ in the checkout, from PyPI. Never used by flowstyle itself.
#   tools/bench/peers/setup.sh          (then: flowstyle-bench --threads 2 arbitrary)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
venv=${FLOWSTYLE_BENCH_VENV:-$root/.venv-bench}
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install --progress-bar off numpy pillow onnxruntime torch
echo "bench Python: $venv/bin/python"
