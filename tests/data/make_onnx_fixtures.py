# Small ONNX fixtures for the reader's tests and the fuzz seed corpus.
import numpy as np, onnx, sys
from onnx import helper, TensorProto, numpy_helper
out = sys.argv[1]
def model(inits, nodes, name):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2, 'h', 'w'])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 2, 'h', 'w'])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)]); m.ir_version = 8
    return m
w = numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(2, 2, 1, 1), 'conv.weight')
b = helper.make_tensor('conv.bias', TensorProto.FLOAT, [2], [0.5, -0.5])  # float_data, not raw
wq = numpy_helper.from_array(np.array([[1, -2], [3, -128]], np.int8), 'q.weight')
conv = helper.make_node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c'], name='conv', kernel_shape=[1, 1], strides=[1, 1])
relu = helper.make_node('Relu', ['c'], ['y'], name='relu')
ok = model([w, b, wq], [conv, relu], 'tiny')
onnx.save(ok, out + '/onnx_tiny.onnx')
bad = model([w, b], [conv, relu], 'bad'); bad.graph.initializer[0].raw_data = bad.graph.initializer[0].raw_data[:12]
bad.graph.initializer[0].dims[:] = [2, 2]
onnx.save(bad, out + '/onnx_wrong_bytes.onnx')
ext = model([w, b], [conv, relu], 'ext'); t = ext.graph.initializer[0]; t.ClearField('raw_data')
t.data_location = TensorProto.EXTERNAL; e = t.external_data.add(); e.key = 'location'; e.value = 'weights.bin'
onnx.save(ext, out + '/onnx_external.onnx')
h = model([numpy_helper.from_array(np.ones((2, 2, 1, 1), np.float16), 'conv.weight'), b], [conv, relu], 'f16')
onnx.save(h, out + '/onnx_float16.onnx')
# A shape that claims 400 TB with two values behind it: refused by the count, before any allocation.
huge = model([helper.make_tensor('conv.bias', TensorProto.FLOAT, [2], [0.5, -0.5]), w], [conv, relu], 'huge')
huge.graph.initializer[0].dims[:] = [10000000, 10000000]
onnx.save(huge, out + '/onnx_huge_shape.onnx')
