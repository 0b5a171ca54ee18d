#!/usr/bin/env python3
"""flowstyle-bench peer: MicroAST in PyTorch eager mode (float32, NCHW), the way its authors
run it, on the same weights and frames. Prints @key=value lines.
  microast_eager.py FOLDER CONTENT STYLE WIDTH HEIGHT FRAMES THREADS"""
import glob, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
import numpy as np

folder, content, style, width, height, frames, threads = sys.argv[1:8]
width, height, frames, threads = int(width), int(height), int(frames), int(threads)
torch.set_num_threads(threads)

class Conv(nn.Module):  # reflection pad k//2, then a convolution (state_dict key: conv_layer)
    def __init__(s, cin, cout, k, stride=1, groups=1):
        super().__init__()
        s.pad = k // 2
        s.conv_layer = nn.Conv2d(cin, cout, k, stride, groups=groups)
    def forward(s, x):
        return s.conv_layer(F.pad(x, [s.pad] * 4, mode="reflect") if s.pad else x)

class Res(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.conv1, s.conv2 = Conv(c, c, 3), Conv(c, c, 3)
    def forward(s, x):
        return x + s.conv2(F.relu(s.conv1(x)))
    def modulated(s, x, w, b):
        y = F.relu(w * s.conv1(x) + b * x)
        return x + w * s.conv2(y) + b * y

class Encoder(nn.Module):
    def __init__(s):
        super().__init__()
        s.enc1 = nn.Sequential(Conv(3, 16, 9), nn.ReLU(), Conv(16, 32, 3, 2, 16), nn.ReLU(), Conv(32, 32, 1),
                               nn.ReLU(), Conv(32, 64, 3, 2, 32), nn.ReLU(), Conv(64, 64, 1), nn.ReLU(), Res(64))
        s.enc2 = nn.Sequential(Res(64))
    def forward(s, x):
        a = s.enc1(x)
        return a, s.enc2(a)

class Modulator(nn.Module):
    def __init__(s):
        super().__init__()
        for n in ("weight1", "bias1", "weight2", "bias2"):
            setattr(s, n, nn.Sequential(Conv(64, 64, 3, 1, 64)))

class Decoder(nn.Module):
    def __init__(s):
        super().__init__()
        s.dec1, s.dec2 = Res(64), Res(64)
        s.dec3 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), Conv(64, 32, 3, 1, 32), nn.ReLU(),
                               Conv(32, 32, 1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear"),
                               Conv(32, 16, 3, 1, 16), nn.ReLU(), Conv(16, 16, 1), nn.ReLU(), Conv(16, 3, 9))

def mean_std(x):
    v, m = torch.var_mean(x.flatten(2), dim=2, unbiased=True, keepdim=True)
    return m.unsqueeze(-1), (v + 1e-5).sqrt().unsqueeze(-1)

def adain(x, m, s):
    xm, xs = mean_std(x)
    return (x - xm) / xs * s + m

def load(module, stem):
    path = glob.glob(os.path.join(folder, stem + "_*.pth*"))[0]
    module.load_state_dict(torch.load(path, map_location="cpu"), strict=True)
    return module.eval()

ce, se, mod, dec = load(Encoder(), "content_encoder"), load(Encoder(), "style_encoder"), \
    load(Modulator(), "modulator"), load(Decoder(), "decoder")

def image(path, w, h):
    img = Image.open(path).convert("RGB")
    if w:
        img = img.resize((w, h), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()

def stylize(c, s1, s2, w1, b1, w2, b2):
    _, c2 = ce(c)
    x = dec.dec1.modulated(adain(c2, *mean_std(s2)), w2, b2)
    x = dec.dec2.modulated(adain(x, *mean_std(s1)), w1, b1)
    return dec.dec3(x)

with torch.no_grad():
    st = image(style, 0, 0)
    s1, s2 = se(st)
    code = (s1, s2, mod.weight1(s1).mean((2, 3), True), mod.bias1(s1).mean((2, 3), True),
            mod.weight2(s2).mean((2, 3), True), mod.bias2(s2).mean((2, 3), True))
    c = image(content, width, height)
    out = stylize(c, *code)  # warm-up
    t0 = time.perf_counter()
    for _ in range(frames):
        out = stylize(c, *code)
    dt = time.perf_counter() - t0
print(f"@fps={frames / dt:.4f}")
print(f"@seconds_per_frame={dt / frames:.5f}")
print(f"@out_mean={float(out.clamp(0, 1).mean()):.5f}")
print(f"@torch_version={torch.__version__.split('+')[0]}")
