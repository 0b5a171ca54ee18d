# How much onnxruntime's own output of Magenta's quantized transformer moves when one input
# pixel changes by 1/255 (the reason tests/models_arbitrary_onnx_test.cpp holds the Magenta
# golden image to an envelope, not to max |Δ| <= 2). From the repository root:
#   /tmp/v/bin/pip install onnxruntime numpy pillow
#   /tmp/v/bin/python tests/data/magenta_sensitivity.py ../shared
# Measured (onnxruntime 1.32.0, CPU): seeds 1 and 3 max 48 / 64, mean 5.0 / 6.9, 5 % of pixels
# within 2; seeds 0 and 2 no change at all.
import sys
import numpy as np, onnxruntime as ort
from PIL import Image
R = sys.argv[1] + '/models/reference/'
M = sys.argv[1] + '/models/arbitrary/magenta/'
s = ort.InferenceSession(M + 'arbitrary_transform.onnx', providers=['CPUExecutionProvider'])
ct = np.asarray(Image.open(R + 'tubingen_384x384.png').convert('RGB'), np.float32)[None] / 255
gold = np.asarray(Image.open(R + 'magenta_starry_tubingen_384x384.png').convert('RGB'), np.float32)
gv = np.load(R + 'magenta_starry_style_vector.npy')
def run(c):
    o = s.run(None, {'content_image': c, 'mobilenet_conv/Conv/BiasAdd': gv})[0][0]
    return np.clip(np.round(o * 255), 0, 255)
print('unchanged input: max', np.abs(run(ct) - gold).max())
for seed in range(4):
    rng = np.random.default_rng(seed + 10)
    c = ct.copy()
    i, j, ch = rng.integers(0, 384), rng.integers(0, 384), rng.integers(0, 3)
    c[0, i, j, ch] = np.clip(c[0, i, j, ch] + 1 / 255, 0, 1)
    d = np.abs(run(c) - gold)
    print('seed', seed, 'max', d.max(), 'mean', d.mean(), 'pixels within 2', (d.max(2) <= 2).mean())
