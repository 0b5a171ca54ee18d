#include "models/multistyle.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/image_tensor.hpp"
#include "models/onnx_reader.hpp"

namespace flowstyle::models {
namespace {

namespace F = torch::nn::functional;
using Shape = std::vector<std::int64_t>;

constexpr const char* kArch = "multistyle26";
constexpr double kEpsilon = 1e-5;  // the graph's "variance + 1e-5"

// One convolution of the architecture: name, channels, kernel, stride, reflect padding,
// upsampled 2x before, activation after the norm.
struct ConvSpec {
  std::string name;
  std::int64_t in, out, kernel, stride, pad;
  bool upsample, relu;
};

const std::vector<ConvSpec>& convSpecs() {
  static const std::vector<ConvSpec> specs = [] {
    std::vector<ConvSpec> v = {
        {"contract.0", 3, 32, 9, 1, 4, false, true},
        {"contract.1", 32, 32, 3, 2, 1, false, true},
        {"contract.2", 32, 32, 3, 2, 1, false, true},
    };
    for (int r = 0; r < 6; ++r) {
      v.push_back({"res." + std::to_string(r) + ".0", 32, 32, 3, 1, 1, false, true});
      v.push_back({"res." + std::to_string(r) + ".1", 32, 32, 3, 1, 1, false, false});
    }
    v.push_back({"expand.0", 32, 8, 3, 1, 1, true, true});
    v.push_back({"expand.1", 8, 4, 3, 1, 1, true, true});
    v.push_back({"expand.2", 4, 3, 9, 1, 4, false, false});
    return v;
  }();
  return specs;
}

std::string shapeOf(const torch::Tensor& t) { return onnxShapeText(Shape(t.sizes().begin(), t.sizes().end())); }

torch::Tensor tensorFrom(const OnnxTensor& t) {
  return torch::tensor(t.toFloat(), torch::kFloat).reshape(t.dims).clone();
}

void checkGraphInputs(const OnnxModel& m) {
  bool image = false, weights = false;
  for (const OnnxValueInfo& v : m.inputs) {
    if (v.name == "image") image = v.dims.size() == 4 && (v.dims[1] == 3 || v.dims[1] < 0);
    if (v.name == "style_weights") weights = v.dims == Shape{kMultistyleStyles};
  }
  if (!image || !weights)
    throw std::runtime_error(m.path + ": graph inputs are not 'image' [1,3,h,w] and 'style_weights' [26] "
                                      "(not the 26-style network)");
}

// A key of the file, with its shape checked.
torch::Tensor take(const TensorFile& file, const std::string& source, const std::string& key, const Shape& shape) {
  auto it = file.tensors.find(key);
  if (it == file.tensors.end())
    throw std::runtime_error(source + ": '" + key + "' is missing (expected shape " + onnxShapeText(shape) + ")");
  if (Shape(it->second.sizes().begin(), it->second.sizes().end()) != shape)
    throw std::runtime_error(source + ": '" + key + "' has shape " + shapeOf(it->second) + ", expected " +
                             onnxShapeText(shape));
  return it->second.to(torch::kFloat).contiguous();
}

// A convolution without bias followed by an instance norm whose scale and shift are the
// style weights' mix of 26 per-style rows.
struct CondConvImpl : torch::nn::Module {
  CondConvImpl(const TensorFile& file, const std::string& source, const ConvSpec& spec) : spec_(spec) {
    weight = register_buffer("w", take(file, source, spec.name + ".w", {spec.out, spec.in, spec.kernel, spec.kernel}));
    gamma = register_buffer("gamma", take(file, source, spec.name + ".norm.gamma", {kMultistyleStyles, spec.out}));
    beta = register_buffer("beta", take(file, source, spec.name + ".norm.beta", {kMultistyleStyles, spec.out}));
  }
  // x: [N,C,H,W]; styleWeights: [26].
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& styleWeights) {
    if (spec_.upsample)
      x = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
    x = F::pad(x, F::PadFuncOptions({spec_.pad, spec_.pad, spec_.pad, spec_.pad}).mode(torch::kReflect));
    x = torch::conv2d(x, weight, {}, torch::IntArrayRef{spec_.stride, spec_.stride});
    const torch::Tensor g = styleWeights.matmul(gamma).reshape({1, -1, 1, 1});
    const torch::Tensor b = styleWeights.matmul(beta).reshape({1, -1, 1, 1});
    const torch::Tensor mean = x.mean({2, 3}, true);
    const torch::Tensor centred = x - mean;
    const torch::Tensor var = (centred * centred).mean({2, 3}, true);
    torch::Tensor y = centred * (var + kEpsilon).sqrt().reciprocal() * g + b;
    return spec_.relu ? y.relu_() : y;
  }
  torch::Tensor weight, gamma, beta;
  ConvSpec spec_;
};
TORCH_MODULE(CondConv);

struct MultistyleNetImpl : torch::nn::Module {
  MultistyleNetImpl(const TensorFile& file, const std::string& source) {
    for (const ConvSpec& s : convSpecs()) {
      std::string name = s.name;
      std::replace(name.begin(), name.end(), '.', '_');
      convs.push_back(register_module(name, CondConv(file, source, s)));
    }
  }
  // rgb: [N,3,H,W] in [0,1], H and W multiples of 4 and >= 8. Returns [N,3,H,W] in (0,1).
  torch::Tensor forward(const torch::Tensor& rgb, const torch::Tensor& styleWeights) {
    torch::Tensor x = rgb;
    for (std::size_t i = 0; i < 3; ++i) x = convs[i]->forward(x, styleWeights);
    for (std::size_t r = 0; r < 6; ++r) {
      const torch::Tensor h = convs[3 + 2 * r]->forward(x, styleWeights);
      x = x + convs[4 + 2 * r]->forward(h, styleWeights);
    }
    for (std::size_t i = 15; i < 18; ++i) x = convs[i]->forward(x, styleWeights);
    return x.sigmoid();
  }
  std::vector<CondConv> convs;
};
TORCH_MODULE(MultistyleNet);

torch::Tensor weightsOf(const StyleCode& code) {
  if (code.arch != kArch || code.tensors.size() != 1 || code.tensors[0].numel() != kMultistyleStyles)
    throw std::invalid_argument("multistyle26: the style code is not a mix of its 26 styles (arch '" + code.arch +
                                "'); use multistyleCode");
  return code.tensors[0].to(torch::kFloat).reshape({kMultistyleStyles});
}

class Multistyle final : public ArbitraryStyleNetwork {
 public:
  Multistyle(const TensorFile& file, const std::string& source, const torch::Device& device)
      : net_(file, source), device_(device) {
    net_->eval();
    net_->to(device_);
  }

  std::string arch() const override { return kArch; }

  StyleCode encodeStyle(const cv::Mat&) override {
    throw std::invalid_argument(
        "multistyle26 has 26 built-in styles and reads no style image: choose one with a style index (0..25)");
  }

  StyleCode blend(const std::vector<StyleCode>& codes, const std::vector<double>& weights) const override {
    if (codes.empty() || codes.size() != weights.size())
      throw std::invalid_argument("multistyle26: blend needs one weight per style code");
    std::vector<double> mix(kMultistyleStyles, 0.0);
    double total = 0;
    for (const double w : weights) {
      if (!(w >= 0)) throw std::invalid_argument("multistyle26: blend weights must be >= 0");
      total += w;
    }
    if (!(total > 0)) throw std::invalid_argument("multistyle26: blend weights sum to 0");
    for (std::size_t i = 0; i < codes.size(); ++i) {
      const torch::Tensor w = weightsOf(codes[i]);
      for (int s = 0; s < kMultistyleStyles; ++s) mix[s] += w[s].item<double>() * weights[i] / total;
    }
    return multistyleCode(mix);
  }

  // strength < 1 mixes the stylized frame with the frame itself (the network has no
  // "no style" code).
  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames, const StyleCode& style,
                                  double strength) override {
    if (!(strength >= 0 && strength <= 1))
      throw std::invalid_argument("multistyle26: strength " + std::to_string(strength) + " is outside [0,1]");
    const torch::Tensor weights = weightsOf(style).to(device_);
    std::vector<cv::Mat> out;
    c10::InferenceMode guard;
    for (const cv::Mat& frame : frames) {
      if (frame.size() != frames.front().size())
        throw std::invalid_argument("multistyle26: frames of one call must share a size");
      const torch::Tensor x = rgbFramesToTensor01({frame}, "multistyle26: a frame").to(device_);
      const std::int64_t h = x.size(2), w = x.size(3);
      const std::int64_t ph = std::max<std::int64_t>((h + 3) / 4 * 4, 8) - h;
      const std::int64_t pw = std::max<std::int64_t>((w + 3) / 4 * 4, 8) - w;
      const torch::Tensor in = ph || pw ? F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate)) : x;
      torch::Tensor y = net_->forward(in, weights).index(
          {0, torch::indexing::Slice(), torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)});
      if (strength < 1) y = y * strength + x[0] * (1 - strength);
      out.push_back(tensor01ToRgbFrames(y.unsqueeze(0)).front());
    }
    return out;
  }

 private:
  MultistyleNet net_;
  torch::Device device_;
};

}  // namespace

TensorFile importMultistyle26(const std::string& onnxPath) {
  const OnnxModel m = readOnnx(onnxPath);
  checkGraphInputs(m);
  std::map<std::string, const OnnxNode*> convByWeight;
  for (const OnnxNode& n : m.nodes)
    if (n.opType == "Conv" && n.inputs.size() >= 2) convByWeight[n.inputs[1]] = &n;
  TensorFile file;
  for (const ConvSpec& s : convSpecs()) {
    for (const char* suffix : {".w", ".norm.gamma", ".norm.beta"}) {
      const std::string key = s.name + suffix;
      auto it = m.initializers.find(key);
      if (it == m.initializers.end())
        throw std::runtime_error(onnxPath + ": no initializer '" + key + "' (not the 26-style network)");
      if (it->second.dtype != OnnxDtype::Float)
        throw std::runtime_error(onnxPath + ": initializer '" + key + "' is not float32");
      file.tensors[key] = tensorFrom(it->second);
    }
    auto conv = convByWeight.find(s.name + ".w");
    if (conv == convByWeight.end())
      throw std::runtime_error(onnxPath + ": initializer '" + s.name + ".w' is not a convolution's weight");
    const OnnxNode& n = *conv->second;
    if (n.inputs.size() > 2 && !n.inputs[2].empty())
      throw std::runtime_error(onnxPath + ": convolution '" + s.name + "' has a bias, which the architecture has not");
    Shape strides{1, 1};
    if (auto a = n.attributes.find("strides"); a != n.attributes.end()) strides = a->second.ints;
    if (strides != Shape{s.stride, s.stride})
      throw std::runtime_error(onnxPath + ": convolution '" + s.name + "' has strides " + onnxShapeText(strides) +
                               ", expected " + onnxShapeText({s.stride, s.stride}));
  }
  file.metadata["flowstyle.arch"] = kArch;
  file.metadata["flowstyle.preprocess"] = "rgb_0_1";
  file.metadata["flowstyle.name"] = kArch;
  (void)MultistyleNet(file, onnxPath);  // every key and shape, as the network takes them
  return file;
}

bool isMultistyle26Onnx(const std::string& onnxPath) {
  try {
    checkGraphInputs(readOnnx(onnxPath));
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

std::unique_ptr<ArbitraryStyleNetwork> makeMultistyle26(const TensorFile& file, const std::string& source,
                                                        const torch::Device& device) {
  return std::make_unique<Multistyle>(file, source, device);
}

StyleCode multistyleCode(int index) {
  if (index < 0 || index >= kMultistyleStyles)
    throw std::invalid_argument("style index " + std::to_string(index) + " is outside 0.." +
                                std::to_string(kMultistyleStyles - 1));
  std::vector<double> w(kMultistyleStyles, 0.0);
  w[static_cast<std::size_t>(index)] = 1.0;
  return multistyleCode(w);
}

StyleCode multistyleCode(const std::vector<double>& weights) {
  if (weights.size() != static_cast<std::size_t>(kMultistyleStyles))
    throw std::invalid_argument("multistyle26 takes " + std::to_string(kMultistyleStyles) + " style weights, got " +
                                std::to_string(weights.size()));
  double total = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!(weights[i] >= 0))
      throw std::invalid_argument("style weight " + std::to_string(i) + " is " + std::to_string(weights[i]) +
                                  "; weights must be >= 0");
    total += weights[i];
  }
  if (!(total > 0)) throw std::invalid_argument("style weights sum to 0");
  torch::Tensor t = torch::empty({kMultistyleStyles});
  for (int i = 0; i < kMultistyleStyles; ++i) t[i] = weights[static_cast<std::size_t>(i)] / total;
  return {kArch, {t}};
}

}  // namespace flowstyle::models
