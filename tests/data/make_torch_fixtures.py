#!/usr/bin/env python3
"""Writes tiny state_dict files in the two layouts torch.save uses, without torch:
the pickle names the same globals and persistent ids torch writes, through stand-in
modules. Used for tests/data/torch_zip_tiny.pt and the fuzz seed corpus.

  python3 tests/data/make_torch_fixtures.py OUT_DIR
writes OUT_DIR/zip_tiny.pt (zip, torch >= 1.6) and OUT_DIR/legacy_tiny.pt (legacy).
Tensors: 'conv.weight' float32 [2,1,2,2] = 0..7 * 0.5, 'conv.bias' float32 [2] = [-1, 2],
't.weight' float32 [2,3] = transposed view (stride (1,2)) of storage 0..5,
'bn.num_batches_tracked' int64 scalar = 7 (the last three share nothing)."""
import collections, io, pickle, struct, sys, types, zipfile

torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
class FloatStorage: pass
class LongStorage: pass
for c in (FloatStorage, LongStorage): c.__module__ = "torch"; setattr(torch, c.__name__, c)

class Storage:
    def __init__(self, key, kind, values): self.key, self.kind, self.values = key, kind, values
    def raw(self):
        return struct.pack("<%d%s" % (len(self.values), "f" if self.kind is FloatStorage else "q"), *self.values)

class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())
    def __reduce__(self): return (_rebuild_tensor_v2, self.args)

S = [Storage("0", FloatStorage, [i * 0.5 for i in range(8)]), Storage("1", FloatStorage, [-1.0, 2.0]),
     Storage("2", FloatStorage, [float(i) for i in range(6)]), Storage("3", LongStorage, [7])]
sd = collections.OrderedDict([
    ("conv.weight", Tensor(S[0], 0, (2, 1, 2, 2), (4, 4, 2, 1))),
    ("conv.bias", Tensor(S[1], 0, (2,), (1,))),
    ("t.weight", Tensor(S[2], 0, (2, 3), (1, 2))),
    ("bn.num_batches_tracked", Tensor(S[3], 0, (), ())),
])

class Pickler(pickle.Pickler):
    def __init__(self, f, legacy):
        super().__init__(f, protocol=2); self.legacy = legacy
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            pid = ("storage", obj.kind, obj.key, "cpu", len(obj.values))
            return pid + (None,) if self.legacy else pid
        return None

def dumps(obj, legacy):
    f = io.BytesIO(); Pickler(f, legacy).dump(obj); return f.getvalue()

def zip_file(path):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("tiny/data.pkl", dumps(sd, False))
        z.writestr("tiny/byteorder", "little")
        for s in S: z.writestr("tiny/data/" + s.key, s.raw())
        z.writestr("tiny/version", "3\n")

def legacy_file(path):
    out = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
    out += pickle.dumps({"protocol_version": 1001, "little_endian": True,
                         "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    out += dumps({"epoch": 3, "state_dict": sd}, True)
    out += pickle.dumps([s.key for s in S], protocol=2)
    for s in S: out += struct.pack("<q", len(s.values)) + s.raw()
    open(path, "wb").write(out)

if __name__ == "__main__":
    zip_file(sys.argv[1] + "/zip_tiny.pt"); legacy_file(sys.argv[1] + "/legacy_tiny.pt")
