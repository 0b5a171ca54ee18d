#include "models/magenta.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <opencv2/imgproc.hpp>

#include "models/image_tensor.hpp"
#include "models/onnx_reader.hpp"
#include "models/tile_window.hpp"
#include "models/tiling.hpp"

namespace flowstyle::models {
namespace {

namespace F = torch::nn::functional;
using Shape = std::vector<std::int64_t>;

constexpr int kStyleDims = 100;
constexpr std::int64_t kWidth = 32;  // the distilled transformer's residual width

std::string shapeText(const torch::Tensor& t) {
  return onnxShapeText(Shape(t.sizes().begin(), t.sizes().end()));
}

std::string keyOf(const std::string& prefix, std::string tfName) {
  std::replace(tfName.begin(), tfName.end(), '/', '.');
  return prefix + tfName;
}

// ---- Import: ONNX graph -> named float32 tensors ------------------------------------

torch::Tensor tensorOf(const OnnxTensor& t) {
  const std::vector<float> v = t.toFloat();
  return torch::tensor(v, torch::kFloat).reshape(t.dims).clone();
}

class GraphReader {
 public:
  explicit GraphReader(const OnnxModel& m) : m_(m), producers_(onnxProducers(m)), consumers_(onnxConsumers(m)) {}

  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(m_.path + ": " + what); }

  const OnnxTensor& init(const std::string& name) const {
    auto it = m_.initializers.find(name);
    if (it == m_.initializers.end()) fail("'" + name + "' is not an initializer");
    return it->second;
  }

  // The value of a constant input: an initializer, or DequantizeLinear of initializers.
  // scaleOut: the dequantization scale per element of axis 0 (ones for a float initializer).
  torch::Tensor constant(const std::string& name, std::string* baseName = nullptr,
                         torch::Tensor* scaleOut = nullptr) const {
    if (m_.initializers.count(name)) {
      if (baseName) *baseName = name;
      torch::Tensor v = tensorOf(init(name));
      if (scaleOut) *scaleOut = torch::ones({v.dim() ? v.size(0) : 1});
      return v;
    }
    auto p = producers_.find(name);
    if (p == producers_.end() || p->second->opType != "DequantizeLinear" || p->second->inputs.size() < 2)
      fail("'" + name + "' is not a constant (an initializer or DequantizeLinear of one)");
    const OnnxNode& dq = *p->second;
    const OnnxTensor& x = init(dq.inputs[0]);
    const OnnxTensor& s = init(dq.inputs[1]);
    if (baseName) *baseName = dq.inputs[0];
    torch::Tensor xv = tensorOf(x);
    torch::Tensor sv = tensorOf(s);
    torch::Tensor zv = dq.inputs.size() > 2 && !dq.inputs[2].empty() ? tensorOf(init(dq.inputs[2]))
                                                                        : torch::zeros_like(sv);
    if (zv.sizes() != sv.sizes())
      fail("DequantizeLinear of '" + dq.inputs[0] + "': zero point " + shapeText(zv) + " and scale " +
           shapeText(sv) + " differ in shape");
    if (sv.dim() == 1 && sv.numel() > 1) {
      std::int64_t axis = 1;
      if (auto a = dq.attributes.find("axis"); a != dq.attributes.end()) axis = a->second.i;
      if (axis < 0) axis += xv.dim();
      if (axis < 0 || axis >= xv.dim() || xv.size(axis) != sv.numel())
        fail("DequantizeLinear of '" + dq.inputs[0] + "': " + std::to_string(sv.numel()) +
             " scales do not match axis " + std::to_string(axis) + " of shape " + shapeText(xv));
      Shape view(static_cast<std::size_t>(xv.dim()), 1);
      view[static_cast<std::size_t>(axis)] = sv.numel();
      sv = sv.reshape(view);
      zv = zv.reshape(view);
      if (scaleOut) {
        if (axis != 0) fail("DequantizeLinear of '" + dq.inputs[0] + "' is per-channel on axis " + std::to_string(axis) + ", not 0");
        *scaleOut = sv.flatten().clone();
      }
    } else if (sv.numel() != 1) {
      fail("DequantizeLinear of '" + dq.inputs[0] + "': scale of shape " + shapeText(sv));
    } else if (scaleOut) {
      *scaleOut = sv.reshape({1}).expand({xv.dim() ? xv.size(0) : 1}).clone();
    }
    return ((xv - zv) * sv).contiguous();
  }

  // [scale, zero point, qmin, qmax] of a QuantizeLinear node.
  torch::Tensor quantParams(const OnnxNode& q) const {
    if (q.inputs.size() < 3) fail("QuantizeLinear '" + q.outputs.at(0) + "' lacks its zero point");
    const OnnxTensor& s = init(q.inputs[1]);
    const OnnxTensor& z = init(q.inputs[2]);
    if (s.numel() != 1 || z.numel() != 1)
      fail("QuantizeLinear '" + q.outputs.at(0) + "' is not per-tensor");
    const float scale = s.toFloat()[0];
    if (!(scale > 0) || !std::isfinite(scale))
      fail("QuantizeLinear '" + q.outputs.at(0) + "' has scale " + std::to_string(scale));
    const bool u8 = z.dtype == OnnxDtype::Uint8;
    if (!u8 && z.dtype != OnnxDtype::Int8) fail("QuantizeLinear '" + q.outputs.at(0) + "' is not 8-bit");
    return torch::tensor({scale, z.toFloat()[0], u8 ? 0.f : -128.f, u8 ? 255.f : 127.f});
  }

  // Every Conv: weight, bias, stride and the quantization of its output (after its
  // Relu/Clip), keyed by the weight's name without "/weights" or "/depthwise_weights".
  void convs(const std::string& prefix, TensorFile& out) const {
    for (const OnnxNode& n : m_.nodes) {
      if (n.opType != "Conv") continue;
      if (n.inputs.size() < 3) fail("Conv '" + n.outputs.at(0) + "' has no bias");
      std::string wName;
      torch::Tensor wScale;
      torch::Tensor w = constant(n.inputs[1], &wName, &wScale);
      for (const char* tail : {"/depthwise_weights", "/weights"}) {
        const std::string t = tail;
        if (wName.size() > t.size() && wName.compare(wName.size() - t.size(), t.size(), t) == 0) {
          wName.resize(wName.size() - t.size());
          break;
        }
      }
      const std::string key = keyOf(prefix, wName);
      // The weights as the integers they are (int8: a quarter of float32's bytes) times
      // weight_scale per output channel.
      const torch::Tensor integers = w.div(wScale.reshape({-1, 1, 1, 1})).round();
      if (integers.abs().max().item<float>() > 127 ||
          !torch::allclose(integers * wScale.reshape({-1, 1, 1, 1}), w, 1e-5, 1e-6))
        fail("Conv '" + n.outputs.at(0) + "': weight '" + wName + "' is not int8 times a per-channel scale");
      out.tensors[key + ".weight"] = integers.to(torch::kChar);
      out.tensors[key + ".weight_scale"] = wScale;
      out.tensors[key + ".bias"] = constant(n.inputs[2]);
      std::vector<std::int64_t> stride{1, 1};
      if (auto a = n.attributes.find("strides"); a != n.attributes.end()) stride = a->second.ints;
      out.tensors[key + ".stride"] = torch::tensor(stride, torch::kLong);
      // Follow the single consumer through Relu / Clip to the QuantizeLinear.
      std::string value = n.outputs.at(0);
      for (int hop = 0; hop < 3; ++hop) {
        auto c = consumers_.find(value);
        if (c == consumers_.end() || c->second.size() != 1)
          fail("Conv '" + n.outputs.at(0) + "': its output is not quantized once");
        const OnnxNode& next = *c->second.front();
        if (next.opType == "QuantizeLinear") {
          out.tensors[key + ".out_q"] = quantParams(next);
          break;
        }
        if (next.opType != "Relu" && next.opType != "Clip")
          fail("Conv '" + n.outputs.at(0) + "' is followed by " + next.opType + ", not a quantization");
        value = next.outputs.at(0);
      }
    }
  }

  // Every QuantizeLinear, keyed by its output name.
  void quantizations(const std::string& prefix, TensorFile& out) const {
    for (const OnnxNode& n : m_.nodes)
      if (n.opType == "QuantizeLinear") out.tensors[keyOf(prefix, n.outputs.at(0)) + ".q"] = quantParams(n);
  }

  // Constant second inputs of the norms' "variance + epsilon".
  void epsilons(const std::string& prefix, TensorFile& out) const {
    const std::string tail = "/batchnorm/add_prequant";
    for (const OnnxNode& n : m_.nodes) {
      const std::string& o = n.outputs.empty() ? std::string() : n.outputs[0];
      if (n.opType != "Add" || o.size() <= tail.size() || o.compare(o.size() - tail.size(), tail.size(), tail) != 0)
        continue;
      out.tensors[keyOf(prefix, o.substr(0, o.size() - tail.size())) + ".epsilon"] =
          constant(n.inputs.at(1)).reshape({1});
    }
  }

  void checkInput(const std::string& name, const Shape& nhwcFixed) const {
    for (const OnnxValueInfo& v : m_.inputs) {
      if (v.name != name) continue;
      if (v.dims.size() != nhwcFixed.size())
        fail("graph input '" + name + "' has shape " + onnxShapeText(v.dims) + ", expected " + onnxShapeText(nhwcFixed));
      for (std::size_t i = 0; i < v.dims.size(); ++i)
        if (nhwcFixed[i] >= 0 && v.dims[i] >= 0 && v.dims[i] != nhwcFixed[i])
          fail("graph input '" + name + "' has shape " + onnxShapeText(v.dims) + ", expected " +
               onnxShapeText(nhwcFixed));
      return;
    }
    fail("no graph input '" + name + "' (not Magenta's arbitrary-style network)");
  }

 private:
  const OnnxModel& m_;
  std::map<std::string, const OnnxNode*> producers_;
  std::map<std::string, std::vector<const OnnxNode*>> consumers_;
};

// ---- The network -----------------------------------------------------------------

// The mean over H and W (LibTorch's float sum is as close to the graph's as a double sum:
// the golden output is the same to the last pixel either way).
torch::Tensor spatialMean(const torch::Tensor& x) {
  return x.mean({2, 3}, true);
}

struct QParam {
  float scale = 1, zero = 0, qmin = -128, qmax = 127;
};

// QuantizeLinear then DequantizeLinear: round half to even, as ONNX does. On the CPU one
// pass of scalar code (clamped first, which gives the same integers since the bounds are
// whole, then rounded by adding and removing 1.5 * 2^23, which rounds half to even in the
// default rounding mode for |t| < 2^22); elsewhere LibTorch's ops.
inline float fakeQuantScalar(float v, const QParam& q) {
  float t = v / q.scale;
  t = std::min(std::max(t, q.qmin - q.zero), q.qmax - q.zero);
  t = (t + 12582912.0f) - 12582912.0f;
  return t * q.scale;
}

// False while a network built without its fused kernels runs (tests compare both paths).
thread_local bool tFusedKernels = true;

bool onCpuContiguous(const torch::Tensor& x) {
  return tFusedKernels && x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous();
}

// x * inverse rounded: the integers a quantized tensor stands for.
torch::Tensor integers(const torch::Tensor& x, float inverse) {
  if (!onCpuContiguous(x)) return x.mul(inverse).round_();
  torch::Tensor out = torch::empty_like(x);
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, x.numel(), 1 << 14, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) dst[i] = std::nearbyint(src[i] * inverse);
  });
  return out;
}

torch::Tensor fakeQuant(const torch::Tensor& x, const QParam& q) {
  if (!onCpuContiguous(x))
    return x.div(q.scale).round_().clamp_(q.qmin - q.zero, q.qmax - q.zero).mul_(q.scale);
  torch::Tensor out = torch::empty_like(x);
  const float* src = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, x.numel(), 1 << 14, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) dst[i] = fakeQuantScalar(src[i], q);
  });
  return out;
}

class Weights {
 public:
  Weights(const TensorFile& file, std::string source, std::string prefix)
      : file_(file), source_(std::move(source)), prefix_(std::move(prefix)) {}

  torch::Tensor get(const std::string& tfName, const std::string& suffix, const Shape& shape) const {
    const std::string key = keyOf(prefix_, tfName) + suffix;
    auto it = file_.tensors.find(key);
    if (it == file_.tensors.end())
      throw std::runtime_error(source_ + ": '" + key + "' is missing (expected shape " + onnxShapeText(shape) +
                               "; not Magenta's arbitrary-style network?)");
    const torch::Tensor& t = it->second;
    if (Shape(t.sizes().begin(), t.sizes().end()) != shape)
      throw std::runtime_error(source_ + ": '" + key + "' has shape " + shapeText(t) + ", expected " +
                               onnxShapeText(shape));
    return t.to(torch::kFloat).contiguous();
  }

  QParam q(const std::string& tfName, const std::string& suffix = ".q") const {
    const torch::Tensor t = get(tfName, suffix, {4});
    const auto a = t.accessor<float, 1>();
    if (!(a[0] > 0) || !(a[2] < a[3]))
      throw std::runtime_error(source_ + ": '" + keyOf(prefix_, tfName) + suffix + "' is not a quantization");
    return {a[0], a[1], a[2], a[3]};
  }

  [[noreturn]] void fail(const std::string& tfName, const std::string& suffix, const std::string& what) const {
    throw std::runtime_error(source_ + ": '" + keyOf(prefix_, tfName) + suffix + "' " + what);
  }

  void stride(const std::string& tfName, std::int64_t expected) const {
    const torch::Tensor t = get(tfName, ".stride", {2});
    if (t[0].item<std::int64_t>() != expected || t[1].item<std::int64_t>() != expected)
      throw std::runtime_error(source_ + ": '" + keyOf(prefix_, tfName) + ".stride' is not " +
                               std::to_string(expected) + " (not Magenta's arbitrary-style network?)");
  }

 private:
  const TensorFile& file_;
  std::string source_;
  std::string prefix_;
};

// A quantized convolution as the graph has it: the output rounded after its activation.
// It runs on the integers the quantized input and weights stand for (exact sums in
// float32 below 2^24), then scales, as the graph's float arithmetic does to within
// rounding; float sums of the dequantized values differ from it at more of the rounding
// ties of the output's quantization, and the per-channel norms downstream amplify those.
// Padding is the caller's (TF "SAME" or reflect).
struct QConvImpl : torch::nn::Module {
  enum class Act { None, Relu, Relu6 };
  QConvImpl(const Weights& w, const std::string& name, std::int64_t in, std::int64_t out, std::int64_t k,
            std::int64_t stride, std::int64_t groups, Act act)
      : stride_(stride), groups_(groups), kernel_(k), act_(act) {
    weight = register_buffer("weight", w.get(name, ".weight", {out, in / groups, k, k}));  // integers
    if (!torch::equal(weight, weight.round()) || weight.abs().max().item<float>() > 127)
      w.fail(name, ".weight", "does not hold int8 integers");
    weightScale = register_buffer("weight_scale", w.get(name, ".weight_scale", {out}));
    if (!(weightScale > 0).all().item<bool>()) w.fail(name, ".weight_scale", "has a scale <= 0");
    bias = register_buffer("bias", w.get(name, ".bias", {out}));
    w.stride(name, stride);
    outQ_ = w.q(name, ".out_q");
  }
  // x: a tensor quantized with `in` (from fakeQuant).
  torch::Tensor forward(const torch::Tensor& x, const QParam& in) {
    // x holds whole multiples of in.scale, so multiplying by the reciprocal (cheaper than
    // dividing) lands within an ulp of the same integers.
    const torch::Tensor xi = integers(x, 1.0f / in.scale);
    torch::Tensor y = torch::conv2d(xi, weight, {}, torch::IntArrayRef{stride_, stride_}, torch::IntArrayRef{0, 0},
                                    torch::IntArrayRef{1, 1}, groups_);
    const torch::Tensor multiplier = weightScale * in.scale;
    if (!onCpuContiguous(y) || y.size(0) != 1) {
      y.mul_(multiplier.reshape({1, -1, 1, 1})).add_(bias.reshape({1, -1, 1, 1}));
      if (act_ == Act::Relu) y.relu_();
      if (act_ == Act::Relu6) y.clamp_(0, 6);
      return fakeQuant(y, outQ_);
    }
    // One pass per channel plane: scale, bias, activation, rounding.
    const std::int64_t planes = y.size(1), plane = y.size(2) * y.size(3);
    float* data = y.data_ptr<float>();
    const float* m = multiplier.data_ptr<float>();
    const float* b = bias.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        float* p = data + c * plane;
        for (std::int64_t i = 0; i < plane; ++i) {
          float v = p[i] * m[c] + b[c];
          if (act_ == Act::Relu) v = std::max(v, 0.0f);
          if (act_ == Act::Relu6) v = std::min(std::max(v, 0.0f), 6.0f);
          p[i] = fakeQuantScalar(v, outQ_);
        }
      }
    });
    return y;
  }
  const QParam& outQ() const { return outQ_; }
  // TensorFlow's SAME padding for this kernel and stride (zeros; more after than before).
  torch::Tensor samePadded(const torch::Tensor& x) const {
    auto pads = [&](std::int64_t size) {
      const std::int64_t outSize = (size + stride_ - 1) / stride_;
      const std::int64_t total = std::max<std::int64_t>((outSize - 1) * stride_ + kernel_ - size, 0);
      return std::pair<std::int64_t, std::int64_t>(total / 2, total - total / 2);
    };
    const auto [top, bottom] = pads(x.size(2));
    const auto [left, right] = pads(x.size(3));
    if (top + bottom + left + right == 0) return x;
    return F::pad(x, F::PadFuncOptions({left, right, top, bottom}));
  }
  torch::Tensor weight, weightScale, bias;  // weight: the integers, as float
  std::int64_t stride_, groups_, kernel_;
  Act act_;
  QParam outQ_;
};
TORCH_MODULE(QConv);

// ---- Style predictor: MobileNetV2 (width 1.0) + a 1x1 bottleneck to 100 numbers ----------

struct BlockSpec {
  int expand, in, out, stride;
};
constexpr BlockSpec kBlocks[] = {
    {1, 32, 16, 1},   {6, 16, 24, 2},   {6, 24, 24, 1},   {6, 24, 32, 2},   {6, 32, 32, 1},   {6, 32, 32, 1},
    {6, 32, 64, 2},   {6, 64, 64, 1},   {6, 64, 64, 1},   {6, 64, 64, 1},   {6, 64, 96, 1},   {6, 96, 96, 1},
    {6, 96, 96, 1},   {6, 96, 160, 2},  {6, 160, 160, 1}, {6, 160, 160, 1}, {6, 160, 320, 1},
};

struct InvertedResidualImpl : torch::nn::Module {
  InvertedResidualImpl(const Weights& w, int index, const BlockSpec& s) {
    const std::string base = "MobilenetV2/expanded_conv" + (index ? "_" + std::to_string(index) : std::string());
    const std::int64_t hidden = std::int64_t{s.in} * s.expand;
    if (s.expand != 1)
      expand = register_module("expand", QConv(w, base + "/expand", s.in, hidden, 1, 1, 1, QConvImpl::Act::Relu6));
    depthwise = register_module(
        "depthwise", QConv(w, base + "/depthwise", hidden, hidden, 3, s.stride, hidden, QConvImpl::Act::Relu6));
    project = register_module("project", QConv(w, base + "/project", hidden, s.out, 1, 1, 1, QConvImpl::Act::None));
    residual_ = s.stride == 1 && s.in == s.out;
    if (residual_) addQ_ = w.q(base + "/add");
  }
  // x: quantized with `in`; the result with outQ().
  torch::Tensor forward(const torch::Tensor& x, const QParam& in) {
    torch::Tensor h = expand ? expand->forward(x, in) : x;
    h = depthwise->forward(depthwise->samePadded(h), expand ? expand->outQ() : in);
    h = project->forward(h, depthwise->outQ());
    return residual_ ? fakeQuant(h + x, addQ_) : h;
  }
  const QParam& outQ() const { return residual_ ? addQ_ : project->outQ(); }
  QConv expand{nullptr}, depthwise{nullptr}, project{nullptr};
  bool residual_ = false;
  QParam addQ_;
};
TORCH_MODULE(InvertedResidual);

struct MagentaPredictorImpl : torch::nn::Module {
  explicit MagentaPredictorImpl(const Weights& w) {
    inputQ_ = w.q("style_image_int8");
    conv = register_module("Conv", QConv(w, "MobilenetV2/Conv", 3, 32, 3, 2, 1, QConvImpl::Act::Relu6));
    for (int i = 0; i < static_cast<int>(std::size(kBlocks)); ++i)
      blocks.push_back(register_module("expanded_conv_" + std::to_string(i), InvertedResidual(w, i, kBlocks[i])));
    conv1 = register_module("Conv_1", QConv(w, "MobilenetV2/Conv_1", 320, 1280, 1, 1, 1, QConvImpl::Act::Relu6));
    meanQ_ = w.q("bottleneck/Mean");
    bottleneck = register_module("mobilenet_conv",
                                 QConv(w, "mobilenet_conv/Conv", 1280, kStyleDims, 1, 1, 1, QConvImpl::Act::None));
  }
  // rgb: [N,3,H,W] in [0,1]. Returns [N,100].
  torch::Tensor forward(const torch::Tensor& rgb) {
    torch::Tensor x = fakeQuant(rgb, inputQ_);
    x = conv->forward(conv->samePadded(x), inputQ_);
    const QParam* q = &conv->outQ();
    for (auto& b : blocks) {
      x = b->forward(x, *q);
      q = &b->outQ();
    }
    x = conv1->forward(x, *q);
    x = fakeQuant(spatialMean(x), meanQ_);
    return bottleneck->forward(x, meanQ_).flatten(1);
  }
  QParam inputQ_, meanQ_;
  QConv conv{nullptr}, conv1{nullptr}, bottleneck{nullptr};
  std::vector<InvertedResidual> blocks;
};
TORCH_MODULE(MagentaPredictor);

// ---- Transformer: contract (3 convs), 5 residual blocks, expand (3 convs) ----------------

// Conditional instance norm ("StyleNorm") of one convolution's output, rounded where the
// graph rounds; scale and shift are 1x1 projections of the style vector.
struct StyleNormImpl : torch::nn::Module {
  StyleNormImpl(const Weights& w, const std::string& layer, std::int64_t channels, bool relu) : relu_(relu) {
    const std::string sn = layer + "/StyleNorm/";
    scaleFromStyle = register_module(
        "scale", QConv(w, "style_params/" + sn + "Conv_1", kStyleDims, channels, 1, 1, 1, QConvImpl::Act::None));
    shiftFromStyle = register_module(
        "shift", QConv(w, "style_params/" + sn + "Conv", kStyleDims, channels, 1, 1, 1, QConvImpl::Act::None));
    mean_ = w.q(sn + "moments/mean");
    sqDiff_ = w.q(sn + "moments/SquaredDifference_int8");
    variance_ = w.q(sn + "moments/variance");
    plusEps_ = w.q(sn + "batchnorm/add");
    rsqrt_ = w.q(sn + "batchnorm/Rsqrt_int8");
    mul_ = w.q(sn + "batchnorm/mul");
    mul2_ = w.q(sn + "batchnorm/mul_2");
    sub_ = w.q(sn + "batchnorm/sub");
    mul1_ = w.q(sn + "batchnorm/mul_1");
    out_ = relu ? w.q(layer + "/Relu") : w.q(sn + "batchnorm/add_1");
    epsilon_ = w.get(layer + "/StyleNorm", ".epsilon", {1}).item<float>();
  }
  // styleQ: the quantized style vector [1,100,1,1].
  std::pair<torch::Tensor, torch::Tensor> params(const torch::Tensor& styleQ, const QParam& q) {
    return {scaleFromStyle->forward(styleQ, q), shiftFromStyle->forward(styleQ, q)};
  }
  const QParam& outQ() const { return out_; }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& gamma, const torch::Tensor& beta) {
    if (onCpuContiguous(x) && x.size(0) == 1) return fused(x, gamma.contiguous(), beta.contiguous());
    const torch::Tensor mean = fakeQuant(spatialMean(x), mean_);
    const torch::Tensor centred = x - mean;
    const torch::Tensor sq = fakeQuant(centred * centred, sqDiff_);
    const torch::Tensor var = fakeQuant(spatialMean(sq), variance_);
    const torch::Tensor plus = fakeQuant(var + epsilon_, plusEps_);
    const torch::Tensor rs = fakeQuant(plus.sqrt().reciprocal(), rsqrt_);
    const torch::Tensor mul = fakeQuant(rs * gamma, mul_);
    const torch::Tensor mul2 = fakeQuant(mean * mul, mul2_);
    const torch::Tensor sub = fakeQuant(beta - mul2, sub_);
    torch::Tensor y = fakeQuant(x * mul, mul1_).add_(sub);
    if (relu_) y.relu_();
    return fakeQuant(y, out_);
  }
  // The same steps in three passes over each channel plane (sum; squared deviations;
  // output), the per-channel steps in between on scalars.
  torch::Tensor fused(const torch::Tensor& x, const torch::Tensor& gamma, const torch::Tensor& beta) const {
    torch::Tensor out = torch::empty_like(x);
    const std::int64_t planes = x.size(1), plane = x.size(2) * x.size(3);
    const float* src = x.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const float* g = gamma.data_ptr<float>();
    const float* b = beta.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const float* p = src + c * plane;
        float* o = dst + c * plane;
        double sum = 0;
        for (std::int64_t i = 0; i < plane; ++i) sum += p[i];
        const float mean = fakeQuantScalar(static_cast<float>(sum / static_cast<double>(plane)), mean_);
        double sumSq = 0;
        for (std::int64_t i = 0; i < plane; ++i) sumSq += squaredDeviation(p[i], mean);
        const auto [mul, sub] = coefficients(mean, sumSq / static_cast<double>(plane), g[c], b[c]);
        for (std::int64_t i = 0; i < plane; ++i) o[i] = output(p[i], mul, sub);
      }
    });
    return out;
  }

  // In tiles: x, the rounded output of a convolution (quantized with `in`), takes at most
  // 256 values per channel, so its whole-frame statistics are the per-channel counts of
  // those levels summed over the tiles; from them the fused kernel's mean and variance
  // (the same terms, summed in another order in double).
  // The counts of one tile: [C, 256] int64.
  static torch::Tensor levelCounts(const torch::Tensor& x, const QParam& in) {
    const std::int64_t planes = x.size(1);
    if (onCpuContiguous(x) && x.size(0) == 1) {  // one pass per channel plane
      torch::Tensor counts = torch::zeros({planes, 256}, torch::kLong);
      const std::int64_t plane = x.size(2) * x.size(3);
      const float* src = x.data_ptr<float>();
      std::int64_t* n = counts.data_ptr<std::int64_t>();
      const float inverse = 1.0f / in.scale, lo = in.qmin - in.zero;
      at::parallel_for(0, planes, 1, [&](std::int64_t c0, std::int64_t c1) {
        for (std::int64_t c = c0; c < c1; ++c)
          for (std::int64_t i = 0; i < plane; ++i) {
            const float k = std::nearbyint(src[c * plane + i] * inverse) - lo;
            ++n[c * 256 + static_cast<std::int64_t>(std::min(std::max(k, 0.0f), 255.0f))];
          }
      });
      return counts;
    }
    torch::Tensor level = integers(x.contiguous(), 1.0f / in.scale).sub_(in.qmin - in.zero).clamp_(0, 255);
    const torch::Tensor offset = torch::arange(planes, torch::dtype(torch::kLong).device(x.device())).mul_(256);
    level = level.to(torch::kLong).add_(offset.reshape({1, -1, 1, 1}));
    return torch::bincount(level.flatten(), {}, planes * 256).reshape({planes, 256}).to(torch::kCPU);
  }
  // The norm's per-channel multiplier and shift (output()) from the counts of the whole frame.
  std::pair<torch::Tensor, torch::Tensor> coefficientsFromCounts(const torch::Tensor& counts, const QParam& in,
                                                                 const torch::Tensor& gamma,
                                                                 const torch::Tensor& beta) const {
    const std::int64_t planes = counts.size(0);
    const torch::Tensor g = gamma.to(torch::kCPU).contiguous(), b = beta.to(torch::kCPU).contiguous();
    torch::Tensor mulT = torch::empty({planes}), subT = torch::empty({planes});
    const auto n = counts.accessor<std::int64_t, 2>();
    for (std::int64_t c = 0; c < planes; ++c) {
      double sum = 0, plane = 0;
      auto value = [&](int k) { return static_cast<float>(k + in.qmin - in.zero) * in.scale; };
      for (int k = 0; k < 256; ++k) {
        sum += static_cast<double>(n[c][k]) * value(k);
        plane += static_cast<double>(n[c][k]);
      }
      const float mean = fakeQuantScalar(static_cast<float>(sum / plane), mean_);
      double sumSq = 0;
      for (int k = 0; k < 256; ++k)
        if (n[c][k]) sumSq += static_cast<double>(n[c][k]) * squaredDeviation(value(k), mean);
      const auto [mul, sub] = coefficients(mean, sumSq / plane, g.data_ptr<float>()[c], b.data_ptr<float>()[c]);
      mulT[c] = mul;
      subT[c] = sub;
    }
    return {mulT, subT};
  }
  // The norm's output with given coefficients ([C] on the CPU).
  torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& mul, const torch::Tensor& sub) const {
    if (!onCpuContiguous(x)) {
      torch::Tensor y = fakeQuant(x * mul.to(x.device()).reshape({1, -1, 1, 1}), mul1_)
                            .add_(sub.to(x.device()).reshape({1, -1, 1, 1}));
      if (relu_) y.relu_();
      return fakeQuant(y, out_);
    }
    torch::Tensor out = torch::empty_like(x);
    const std::int64_t plane = x.size(2) * x.size(3), planes = x.size(0) * x.size(1);
    const float* src = x.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    const float* m = mul.data_ptr<float>();
    const float* s = sub.data_ptr<float>();
    at::parallel_for(0, planes, 1, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const std::int64_t ch = c % x.size(1);
        for (std::int64_t i = 0; i < plane; ++i) dst[c * plane + i] = output(src[c * plane + i], m[ch], s[ch]);
      }
    });
    return out;
  }

  // The scalar steps the fused kernel and the tiles share.
  float squaredDeviation(float v, float mean) const {
    const float d = v - mean;
    return fakeQuantScalar(d * d, sqDiff_);
  }
  std::pair<float, float> coefficients(float mean, double meanSq, float g, float b) const {
    const float var = fakeQuantScalar(static_cast<float>(meanSq), variance_);
    const float plus = fakeQuantScalar(var + epsilon_, plusEps_);
    const float rs = fakeQuantScalar(1.0f / std::sqrt(plus), rsqrt_);
    const float mul = fakeQuantScalar(rs * g, mul_);
    const float mul2 = fakeQuantScalar(mean * mul, mul2_);
    return {mul, fakeQuantScalar(b - mul2, sub_)};
  }
  float output(float v, float mul, float sub) const {
    float y = fakeQuantScalar(v * mul, mul1_) + sub;
    if (relu_) y = std::max(y, 0.0f);
    return fakeQuantScalar(y, out_);
  }

  QConv scaleFromStyle{nullptr}, shiftFromStyle{nullptr};
  bool relu_;
  float epsilon_ = 0;
  QParam mean_, sqDiff_, variance_, plusEps_, rsqrt_, mul_, mul2_, sub_, mul1_, out_;
};
TORCH_MODULE(StyleNorm);

torch::Tensor reflectPad(const torch::Tensor& x, std::int64_t p) {
  return F::pad(x, F::PadFuncOptions({p, p, p, p}).mode(torch::kReflect));
}

torch::Tensor nearest2(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
}

// ---- Tiles (setTile) ----------------------------------------------------------------
// The contraction (no norm) runs per tile in one pass into its whole quarter-resolution
// output; the residual blocks run on that whole; the expansion (nearest x2, 3x3, norm,
// nearest x2, 3x3, norm, 9x9, norm) runs per tile once for each norm's statistics
// (StyleNormImpl::levelCounts, summed over the tiles) and once for the output. Each step
// reads a window of the previous step's values: the real neighbours inside the frame, the
// frame's reflection where the window leaves it (every convolution is reflection-padded).

// One step of a tiled chain: a convolution (pad: the whole frame's reflection; in: its
// input's rounding, applied first where it takes the network's input), a conditional norm
// with its whole frame's coefficients, or the nearest x2 upsampling.
struct TileStep {
  enum Kind { Conv, Norm, Upsample } kind = Conv;
  QConvImpl* conv = nullptr;
  std::int64_t pad = 0;
  const QParam* in = nullptr;
  bool roundInput = false;
  StyleNormImpl* norm = nullptr;
  torch::Tensor mul, sub;  // Norm: set from the whole frame's statistics before a tile reads it

  static TileStep convolution(QConvImpl* c, std::int64_t pad, const QParam* in) {
    TileStep s;
    s.conv = c;
    s.pad = pad;
    s.in = in;
    return s;
  }
  static TileStep of(Kind kind, StyleNormImpl* norm = nullptr) {
    TileStep s;
    s.kind = kind;
    s.norm = norm;
    return s;
  }
};

Span needSpan(const TileStep& s, const Span& out) {
  switch (s.kind) {
    case TileStep::Conv:
      return {out.lo * s.conv->stride_ - s.pad, (out.hi - 1) * s.conv->stride_ - s.pad + s.conv->kernel_};
    case TileStep::Upsample: return {floorHalf(out.lo), floorHalf(out.hi - 1) + 1};
    case TileStep::Norm: return out;
  }
  return out;
}
Box outFrame(const TileStep& s, const Box& in) {
  if (s.kind == TileStep::Upsample) return scaled(in, 2, 1);
  if (s.kind == TileStep::Conv && s.conv->stride_ == 2) return scaled(in, 1, 2);
  return in;
}
torch::Tensor runStep(const TileStep& s, const torch::Tensor& x, const Box& have, const Box& out, const Box& frame) {
  switch (s.kind) {
    case TileStep::Conv: {
      torch::Tensor w = reflectedWindow(x, have, {needSpan(s, out.y), needSpan(s, out.x)}, frame).contiguous();
      if (s.roundInput) w = fakeQuant(w, *s.in);
      return s.conv->forward(w, *s.in);
    }
    case TileStep::Norm: return s.norm->apply(cut(x, have, out).contiguous(), s.mul, s.sub);
    case TileStep::Upsample: {
      const Box in = clipBox({needSpan(s, out.y), needSpan(s, out.x)}, frame);
      return cut(nearest2(cut(x, have, in)), scaled(in, 2, 1), out).contiguous();
    }
  }
  return x;
}

struct MagentaTransformerImpl : torch::nn::Module {
  explicit MagentaTransformerImpl(const Weights& w) {
    using Act = QConvImpl::Act;
    styleQ_ = w.q("mobilenet_conv/Conv/BiasAdd_int8");
    inputQ_ = w.q("transformer/contract/MirrorPad_int8");
    contract1 = register_module("contract_conv1", QConv(w, "transformer/contract/conv1", 3, 8, 9, 1, 1, Act::Relu));
    contract2 = register_module("contract_conv2", QConv(w, "transformer/contract/conv2", 8, 16, 3, 2, 1, Act::Relu));
    contract3 = register_module("contract_conv3", QConv(w, "transformer/contract/conv3", 16, 32, 3, 2, 1, Act::Relu));
    for (int r = 1; r <= 5; ++r) {
      const std::string base = "transformer/residual/residual" + std::to_string(r);
      const std::string n = "residual" + std::to_string(r);
      resConv.push_back(register_module(n + "_conv1", QConv(w, base + "/conv1", kWidth, kWidth, 3, 1, 1, Act::None)));
      resNorm.push_back(register_module(n + "_norm1", StyleNorm(w, base + "/conv1", kWidth, true)));
      resConv.push_back(register_module(n + "_conv2", QConv(w, base + "/conv2", kWidth, kWidth, 3, 1, 1, Act::None)));
      resNorm.push_back(register_module(n + "_norm2", StyleNorm(w, base + "/conv2", kWidth, false)));
      addQ_.push_back(w.q(base + "/add"));
    }
    const std::int64_t channels[] = {kWidth, 16, 8, 3};
    const std::int64_t kernels[] = {3, 3, 9};
    for (int e = 1; e <= 3; ++e) {
      const std::string layer = "transformer/expand/conv" + std::to_string(e) + "/conv";
      const std::string n = "expand_conv" + std::to_string(e);
      expConv.push_back(register_module(
          n, QConv(w, layer, channels[e - 1], channels[e], kernels[e - 1], 1, 1, Act::None)));
      expNorm.push_back(register_module(n + "_norm", StyleNorm(w, layer, channels[e], e != 3)));
    }
    outQ_ = w.q("transformer/expand/conv3/conv/Sigmoid_int8");
  }

  // rgb: [N,3,H,W] in [0,1], H and W multiples of 4 and >= 8; style: [1,100] (blended
  // vector). Returns [N,3,H,W] in [0,1] on 256 levels.
  torch::Tensor forward(const torch::Tensor& rgb, const torch::Tensor& style) {
    const Params p = params(style);
    torch::Tensor x = fakeQuant(reflectPad(rgb, 4), inputQ_);
    x = contract1->forward(x, inputQ_);
    x = contract2->forward(reflectPad(x, 1), contract1->outQ());
    x = contract3->forward(reflectPad(x, 1), contract2->outQ());
    x = residuals(x, p);
    const QParam* q = &addQ_.back();
    for (std::size_t e = 0; e < 3; ++e) {
      if (e < 2) x = nearest2(x);
      x = expConv[e]->forward(reflectPad(x, e < 2 ? 1 : 4), *q);
      x = expNorm[e]->forward(x, p.exp[e].first, p.exp[e].second);
      q = &expNorm[e]->outQ();
    }
    return fakeQuant(x.sigmoid(), outQ_);
  }

  // The same on one image ([1,3,H,W]) in the tiles of `grid` (see "Tiles" above).
  torch::Tensor forwardTiled(const torch::Tensor& rgb, const torch::Tensor& style, const TileGrid& grid) {
    const Params p = params(style);
    const std::int64_t H = rgb.size(2);
    auto eachTile = [&](std::int64_t num, std::int64_t den, const std::function<void(const Box&)>& f) {
      for (int r = 0; r < grid.rows; ++r)
        for (int c = 0; c < grid.cols; ++c) f(scaled(grid.core(c, r), num, den));
    };
    const std::vector<TileStep> contract = contractSteps();
    torch::Tensor x = torch::empty({1, kWidth, H / 4, rgb.size(3) / 4}, rgb.options());
    eachTile(1, 4, [&](const Box& core) { placeBox(x, core, runTileChain(contract, contract.size(), rgb, core)); });
    x = residuals(x, p);
    std::vector<TileStep> expand = expandSteps();
    std::vector<Box> frames{frameOf(x)};
    std::size_t e = 0;  // the expansion norm
    for (std::size_t i = 0; i < expand.size(); ++i) {
      frames.push_back(outFrame(expand[i], frames.back()));
      if (expand[i].kind != TileStep::Norm) continue;
      // The statistics pass of this norm: its input over each tile, counted.
      const QParam& in = expand[i - 1].conv->outQ();
      torch::Tensor counts;
      eachTile(frames[i].y.size(), H, [&](const Box& core) {
        const torch::Tensor n = StyleNormImpl::levelCounts(runTileChain(expand, i, x, core), in);
        counts = counts.defined() ? counts.add_(n) : n;
      });
      std::tie(expand[i].mul, expand[i].sub) =
          expand[i].norm->coefficientsFromCounts(counts, in, p.exp[e].first, p.exp[e].second);
      ++e;
    }
    torch::Tensor y = torch::empty({1, 3, H, rgb.size(3)}, rgb.options());
    eachTile(1, 1, [&](const Box& core) {
      placeBox(y, core, fakeQuant(runTileChain(expand, expand.size(), x, core).sigmoid(), outQ_));
    });
    return y;
  }

  // The most the tiled chains read beyond a core, in input pixels: a core of 4
  // quarter-resolution pixels from 8 (input pixels 32..48) in the contraction's output and
  // in the expansion's input.
  int tileHalo() {
    const auto [cLo, cHi] = readBeyond(contractSteps(), {8, 12});
    const auto [eLo, eHi] = readBeyond(expandSteps(), {32, 48});
    return static_cast<int>(std::max({32 - cLo, cHi - 48, 4 * (8 - eLo), 4 * (eHi - 12)}));
  }

  // The steps of the tiled chains: the contraction (input -> quarter resolution) and the
  // expansion (quarter resolution -> the last norm's output).
  std::vector<TileStep> contractSteps() {
    std::vector<TileStep> steps{TileStep::convolution(contract1.get(), 4, &inputQ_),
                                TileStep::convolution(contract2.get(), 1, &contract1->outQ()),
                                TileStep::convolution(contract3.get(), 1, &contract2->outQ())};
    steps[0].roundInput = true;
    return steps;
  }
  std::vector<TileStep> expandSteps() {
    std::vector<TileStep> steps;
    const QParam* q = &addQ_.back();
    for (std::size_t e = 0; e < 3; ++e) {
      if (e < 2) steps.push_back(TileStep::of(TileStep::Upsample));
      steps.push_back(TileStep::convolution(expConv[e].get(), e < 2 ? 1 : 4, q));
      steps.push_back(TileStep::of(TileStep::Norm, expNorm[e].get()));
      q = &expNorm[e]->outQ();
    }
    return steps;
  }

  // The style's norm parameters: scale and shift of each residual and expansion norm.
  struct Params {
    std::vector<std::pair<torch::Tensor, torch::Tensor>> res, exp;
  };
  Params params(const torch::Tensor& style) {
    const torch::Tensor s = fakeQuant(style.reshape({1, kStyleDims, 1, 1}), styleQ_);
    Params p;
    for (auto& n : resNorm) p.res.push_back(n->params(s, styleQ_));
    for (auto& n : expNorm) p.exp.push_back(n->params(s, styleQ_));
    return p;
  }

  // The five residual blocks on contract3's output.
  torch::Tensor residuals(torch::Tensor x, const Params& p) {
    const QParam* q = &contract3->outQ();
    for (std::size_t r = 0; r < 5; ++r) {
      torch::Tensor h = resConv[2 * r]->forward(reflectPad(x, 1), *q);
      h = resNorm[2 * r]->forward(h, p.res[2 * r].first, p.res[2 * r].second);
      h = resConv[2 * r + 1]->forward(reflectPad(h, 1), resNorm[2 * r]->outQ());
      h = resNorm[2 * r + 1]->forward(h, p.res[2 * r + 1].first, p.res[2 * r + 1].second);
      x = fakeQuant(x + h, addQ_[r]);
      q = &addQ_[r];
    }
    return x;
  }

  QParam styleQ_, inputQ_, outQ_;
  std::vector<QParam> addQ_;
  QConv contract1{nullptr}, contract2{nullptr}, contract3{nullptr};
  std::vector<QConv> resConv, expConv;
  std::vector<StyleNorm> resNorm, expNorm;
};
TORCH_MODULE(MagentaTransformer);

// ---- The ArbitraryStyleNetwork ----------------------------------------------------------

constexpr int kContentVectorSize = 256;  // the content's own style vector: the frame at 256x256

class Magenta final : public ArbitraryStyleNetwork {
 public:
  Magenta(const TensorFile& file, const std::string& source, const torch::Device& device, bool fusedKernels)
      : predictor_(Weights(file, source, "predict.")),
        transformer_(Weights(file, source, "transform.")),
        device_(device),
        fused_(fusedKernels) {
    predictor_->eval();
    transformer_->eval();
    predictor_->to(device_);
    transformer_->to(device_);
  }

  std::string arch() const override { return "magenta"; }

  void setTile(int side) override {
    if (side < 0) throw std::invalid_argument("magenta: the tile side must be >= 0");
    tile_ = side;
  }
  std::string tiling() const override { return tiling_; }

  StyleCode encodeStyle(const cv::Mat& styleRgb) override {
    if (styleRgb.rows < 2 || styleRgb.cols < 2)
      throw std::invalid_argument("magenta: the style image is " + std::to_string(styleRgb.cols) + "x" +
                                  std::to_string(styleRgb.rows) + ", at least 2x2 is needed");
    c10::InferenceMode guard;
    const KernelChoice kernels(fused_);
    const torch::Tensor x = rgbFramesToTensor01({styleRgb}, "magenta: the style image").to(device_);
    StyleCode code;
    code.arch = arch();
    code.tensors.push_back(predictor_->forward(x).reshape({kStyleDims}).to(torch::kCPU).clone());
    return code;
  }

  StyleCode blend(const std::vector<StyleCode>& codes, const std::vector<double>& weights) const override {
    if (codes.empty() || codes.size() != weights.size())
      throw std::invalid_argument("magenta: blend needs one weight per style code");
    double total = 0;
    for (const double w : weights) {
      if (!(w >= 0)) throw std::invalid_argument("magenta: blend weights must be >= 0");
      total += w;
    }
    if (!(total > 0)) throw std::invalid_argument("magenta: blend weights sum to 0");
    torch::Tensor mix = torch::zeros({kStyleDims});
    for (std::size_t i = 0; i < codes.size(); ++i) mix += vectorOf(codes[i]) * (weights[i] / total);
    return {arch(), {mix}};
  }

  // The transformer on one image ([1,3,H,W], H and W multiples of 4, >= 8): whole or, with
  // a tile side set and more than one tile, in tiles (tiling() tells which).
  torch::Tensor transform(const torch::Tensor& in, const torch::Tensor& vec) {
    const TileGrid grid = tile_ > 0 ? fastTileGrid(static_cast<int>(in.size(3)), static_cast<int>(in.size(2)), tile_,
                                                   kMagentaTileHalo)
                                    : TileGrid{};
    tiling_ = grid.tiled() ? grid.describe() : std::string();
    return grid.tiled() ? transformer_->forwardTiled(in, vec, grid) : transformer_->forward(in, vec);
  }

  int tileHalo() { return transformer_->tileHalo(); }

  // For magentaRaw.
  torch::Tensor raw(const torch::Tensor& x, const StyleCode& code) {
    c10::InferenceMode guard;
    const KernelChoice kernels(fused_);
    return transform(x.to(device_), vectorOf(code).to(device_));
  }

  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames, const StyleCode& style,
                                  double strength) override {
    if (!(strength >= 0 && strength <= 1))
      throw std::invalid_argument("magenta: strength " + std::to_string(strength) + " is outside [0,1]");
    const torch::Tensor styleVec = vectorOf(style);
    std::vector<cv::Mat> out;
    if (frames.empty()) return out;
    c10::InferenceMode guard;
    const KernelChoice kernels(fused_);
    for (const cv::Mat& frame : frames) {
      if (frame.size() != frames.front().size())
        throw std::invalid_argument("magenta: frames of one call must share a size");
      const torch::Tensor x = rgbFramesToTensor01({frame}, "magenta: a frame").to(device_);
      torch::Tensor vec = styleVec.to(device_);
      if (strength < 1) {
        const torch::Tensor small = F::interpolate(
            x, F::InterpolateFuncOptions()
                   .size(std::vector<std::int64_t>{kContentVectorSize, kContentVectorSize})
                   .mode(torch::kBilinear)
                   .align_corners(false));
        vec = vec * strength + predictor_->forward(small).reshape({kStyleDims}) * (1 - strength);
      }
      // Replicate-pad to multiples of 4 (two stride-2 stages) and at least 8 (the 9x9
      // reflect padding), run, crop back.
      const std::int64_t h = x.size(2), w = x.size(3);
      const std::int64_t ph = std::max<std::int64_t>((h + 3) / 4 * 4, 8) - h;
      const std::int64_t pw = std::max<std::int64_t>((w + 3) / 4 * 4, 8) - w;
      torch::Tensor in = x;
      if (ph || pw) in = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
      torch::Tensor y = transform(in, vec);
      y = y.index({0, torch::indexing::Slice(), torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)});
      out.push_back(tensor01ToRgbFrames(y.unsqueeze(0)).front());
    }
    return out;
  }

 private:
  torch::Tensor vectorOf(const StyleCode& code) const {
    if (code.arch != arch() || code.tensors.size() != 1 || code.tensors[0].numel() != kStyleDims)
      throw std::invalid_argument("magenta: the style code is not a Magenta style vector (arch '" + code.arch +
                                  "')");
    return code.tensors[0].to(torch::kFloat).reshape({kStyleDims});
  }

  // Sets tFusedKernels for one call on this thread.
  struct KernelChoice {
    explicit KernelChoice(bool fused) : saved(tFusedKernels) { tFusedKernels = fused; }
    ~KernelChoice() { tFusedKernels = saved; }
    bool saved;
  };

  MagentaPredictor predictor_;
  MagentaTransformer transformer_;
  torch::Device device_;
  bool fused_;
  int tile_ = 0;         // setTile
  std::string tiling_;   // how the last frame was tiled
};

}  // namespace

TensorFile importMagenta(const std::string& predictOnnx, const std::string& transformOnnx) {
  const OnnxModel predict = readOnnx(predictOnnx);
  const OnnxModel transform = readOnnx(transformOnnx);
  TensorFile file;
  {
    const GraphReader g(predict);
    g.checkInput("style_image", {1, -1, -1, 3});
    g.convs("predict.", file);
    g.quantizations("predict.", file);
  }
  {
    const GraphReader g(transform);
    g.checkInput("content_image", {1, -1, -1, 3});
    g.checkInput("mobilenet_conv/Conv/BiasAdd", {1, 1, 1, kStyleDims});
    g.convs("transform.", file);
    g.quantizations("transform.", file);
    g.epsilons("transform.", file);
  }
  file.metadata["flowstyle.arch"] = "magenta";
  file.metadata["flowstyle.preprocess"] = "rgb_0_1";
  file.metadata["flowstyle.name"] = "magenta";
  // Build both halves once: every key the architecture needs, with its shape.
  (void)MagentaPredictor(Weights(file, predictOnnx, "predict."));
  (void)MagentaTransformer(Weights(file, transformOnnx, "transform."));
  return file;
}

int magentaTileHalo(ArbitraryStyleNetwork& net) {
  auto* m = dynamic_cast<Magenta*>(&net);
  if (m == nullptr) throw std::invalid_argument("magentaTileHalo: " + net.arch() + " is not Magenta");
  return m->tileHalo();
}

torch::Tensor magentaRaw(ArbitraryStyleNetwork& net, const torch::Tensor& x, const StyleCode& code, int tile) {
  auto* m = dynamic_cast<Magenta*>(&net);
  if (m == nullptr) throw std::invalid_argument("magentaRaw: " + net.arch() + " is not Magenta");
  m->setTile(tile);
  return m->raw(x, code);
}

std::unique_ptr<ArbitraryStyleNetwork> makeMagenta(const TensorFile& file, const std::string& source,
                                                   const torch::Device& device, bool fusedCpuKernels) {
  return std::make_unique<Magenta>(file, source, device, fusedCpuKernels);
}

}  // namespace flowstyle::models

