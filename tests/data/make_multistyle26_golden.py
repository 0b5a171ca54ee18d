# Golden outputs of the 26-style network for tests/models_arbitrary_onnx_test.cpp, made once
# with onnxruntime (pip: onnxruntime numpy pillow) from the repository root:
#   python3 tests/data/make_multistyle26_golden.py ../shared tests/data
# Output PNG = round(clip(stylized, 0, 1) * 255), RGB.
import sys
import numpy as np, onnxruntime as ort
from PIL import Image
shared, out = sys.argv[1], sys.argv[2]
s = ort.InferenceSession(shared + '/models/arbitrary/multistyle26/multistyle26.onnx', providers=['CPUExecutionProvider'])
img = np.asarray(Image.open(shared + '/models/reference/tubingen_96x72.png').convert('RGB'), np.float32) / 255
x = img.transpose(2, 0, 1)[None].copy()
cases = {'index0': {0: 1.0}, 'index17': {17: 1.0}, 'blend3_20': {3: 0.25, 20: 0.75}}
for name, mix in cases.items():
    w = np.zeros(26, np.float32)
    for k, v in mix.items(): w[k] = v
    y = s.run(None, {'image': x, 'style_weights': w})[0][0]
    png = np.clip(np.round(np.clip(y, 0, 1) * 255), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(png).save(out + '/multistyle26_%s_tubingen_96x72.png' % name)
    print(name, y.shape, float(y.min()), float(y.max()))
