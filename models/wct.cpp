#include "models/wct.hpp"

#include <filesystem>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "models/image_tensor.hpp"
#include "models/module_weights.hpp"
#include "models/torch_reader.hpp"

namespace flowstyle::models {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

constexpr int kLevels = 5;
// Eigenvalues at or below this are left out of whitening and colouring (as the original
// PyTorch WCT of Li et al.; the distilled repository's 1e-100 keeps numerical zeros of
// dead channels, whose inverse square roots only amplify rounding noise).
constexpr double kEigenFloor = 1e-5;

struct Layer {
  const char* name;
  std::int64_t out, in;
  bool poolBefore;  // encoder: 2x2 max pool before this conv
};

// VGG19 (16x compressed) up to conv51, in order.
std::vector<Layer> encoderLayers(int level) {
  const std::vector<Layer> all = {
      {"conv11", level == 1 ? 24 : 16, 3, false}, {"conv12", 16, 16, false}, {"conv21", 32, 16, true},
      {"conv22", 32, 32, false},  {"conv31", 64, 32, true},   {"conv32", 64, 64, false},
      {"conv33", 64, 64, false},  {"conv34", 64, 64, false},  {"conv41", 128, 64, true},
      {"conv42", 128, 128, false}, {"conv43", 128, 128, false}, {"conv44", 128, 128, false},
      {"conv51", 128, 128, true}};
  const std::size_t count[] = {1, 3, 5, 9, 13};
  return std::vector<Layer>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(count[level - 1]));
}

// The decoder mirrors the encoder: conv{k}1 first; `poolBefore` here means "upsample after".
std::vector<Layer> decoderLayers(int level) {
  std::vector<Layer> enc = encoderLayers(level);
  std::vector<Layer> dec;
  for (auto it = enc.rbegin(); it != enc.rend(); ++it) {
    Layer l = *it;
    std::swap(l.out, l.in);
    dec.push_back(l);
  }
  return dec;
}

std::int64_t auxOut(const std::string& name) {
  const char c = name[4];  // conv{c}1_aux
  return c == '1' ? 64 : c == '2' ? 128 : c == '3' ? 256 : 512;
}

struct WctEncoderImpl : torch::nn::Module {
  explicit WctEncoderImpl(int level) : layers(encoderLayers(level)) {
    conv0 = register_module("conv0", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 3, 1)));
    for (const Layer& l : layers)
      convs.push_back(register_module(l.name, torch::nn::Conv2d(torch::nn::Conv2dOptions(l.in, l.out, 3))));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::conv2d(x, conv0->weight, conv0->bias);
    for (std::size_t i = 0; i < layers.size(); ++i) {
      if (layers[i].poolBefore) x = torch::max_pool2d(x, {2, 2}, {2, 2});
      x = torch::conv2d(reflectPad2d(x, 1), convs[i]->weight, convs[i]->bias).relu_();
    }
    return x;
  }
  std::vector<Layer> layers;
  torch::nn::Conv2d conv0{nullptr};
  std::vector<torch::nn::Conv2d> convs;
};
TORCH_MODULE(WctEncoder);

struct WctDecoderImpl : torch::nn::Module {
  explicit WctDecoderImpl(int level) : layers(decoderLayers(level)) {
    for (const Layer& l : layers)
      convs.push_back(register_module(l.name, torch::nn::Conv2d(torch::nn::Conv2dOptions(l.in, l.out, 3))));
  }
  torch::Tensor forward(torch::Tensor x) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      x = torch::conv2d(reflectPad2d(x, 1), convs[i]->weight, convs[i]->bias).relu_();
      if (layers[i].poolBefore) x = torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
    }
    return x;
  }
  std::vector<Layer> layers;
  std::vector<torch::nn::Conv2d> convs;
};
TORCH_MODULE(WctDecoder);

struct Wct16xImpl : torch::nn::Module {
  Wct16xImpl() {
    for (int k = 1; k <= kLevels; ++k) {
      encoders.push_back(register_module("encoder" + std::to_string(k), WctEncoder(k)));
      decoders.push_back(register_module("decoder" + std::to_string(k), WctDecoder(k)));
    }
  }
  std::vector<WctEncoder> encoders;
  std::vector<WctDecoder> decoders;
};
TORCH_MODULE(Wct16x);

// Features [1,C,H,W] -> (mean [C], covariance [C,C]) in double, as the authors (unbiased).
std::pair<torch::Tensor, torch::Tensor> meanCov(const torch::Tensor& f) {
  const torch::Tensor x = f[0].flatten(1).to(torch::kDouble);
  const torch::Tensor mean = x.mean(1);
  const torch::Tensor c = x - mean.unsqueeze(1);
  return {mean, torch::mm(c, c.t()).div_(static_cast<double>(std::max<std::int64_t>(1, x.size(1) - 1)))};
}

// V diag(e^p) V^T over the eigenvalues above kEigenFloor of a symmetric matrix.
torch::Tensor eigenPower(const torch::Tensor& cov, double p) {
  const auto [e, v] = torch::linalg_eigh(cov);
  const torch::Tensor keep = e > kEigenFloor;
  const torch::Tensor d = torch::where(keep, e.clamp_min(kEigenFloor).pow(p), torch::zeros_like(e));
  return torch::mm(v * d.unsqueeze(0), v.t());
}

const char* const kEncoderStems[] = {"20191110-133713", "20191110-132713", "20191110-132705", "20191110-132643",
                                     "20191109-211322"};
const char* const kDecoderStems[] = {"20191111-091942", "20191111-091932", "20191111-091929", "20191111-092553",
                                     "20191110-204615"};

fs::path findStem(const fs::path& dir, const std::string& stem) {
  fs::path found;
  int count = 0;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string n = e.path().filename().string();
      if (e.is_regular_file() && n.rfind(stem, 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".pth") == 0) {
        found = e.path();
        ++count;
      }
    }
  if (count != 1)
    throw std::runtime_error(dir.string() + ": expected one " + stem + "*.pth, found " + std::to_string(count));
  return found;
}

}  // namespace

struct Wct16xNetwork::Impl {
  Wct16x net;
  torch::Device device;
};

Wct16xNetwork::Wct16xNetwork(const TensorFile& file, const std::string& origin, const torch::Device& device)
    : impl_(std::make_unique<Impl>(Impl{Wct16x(), device})) {
  loadParameters(*impl_->net, file, origin);
  impl_->net->eval();
  impl_->net->to(device);
  // CPU: channels-last weights and activations (oneDNN's layout), as the fast path.
  if (device.is_cpu()) {
    torch::NoGradGuard noGrad;
    for (auto& p : impl_->net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

Wct16xNetwork::~Wct16xNetwork() = default;

torch::Tensor Wct16xNetwork::encode(int level, const torch::Tensor& rgb) {
  if (level < 1 || level > kLevels) throw std::invalid_argument("wct16x: level must be 1..5");
  c10::InferenceMode guard;
  return impl_->net->encoders[static_cast<std::size_t>(level - 1)]->forward(rgb.to(impl_->device));
}

torch::Tensor Wct16xNetwork::decode(int level, const torch::Tensor& features) {
  if (level < 1 || level > kLevels) throw std::invalid_argument("wct16x: level must be 1..5");
  c10::InferenceMode guard;
  return impl_->net->decoders[static_cast<std::size_t>(level - 1)]->forward(features.to(impl_->device));
}

StyleCode Wct16xNetwork::encodeStyle(const cv::Mat& styleRgb) {
  if (styleRgb.empty() || styleRgb.type() != CV_8UC3 || styleRgb.cols < 2 || styleRgb.rows < 2)
    throw std::invalid_argument("wct16x: the style image must be CV_8UC3 RGB of at least 2x2");
  c10::InferenceMode guard;
  // Level 5 pools four times and pads by 1: at least 32 pixels on the short side.
  cv::Mat style = styleRgb;
  const int shortSide = std::min(style.cols, style.rows);
  if (shortSide < 32) {
    const double f = 32.0 / shortSide;
    cv::resize(styleRgb, style, cv::Size(static_cast<int>(std::lround(style.cols * f)),
                                          static_cast<int>(std::lround(style.rows * f))), 0, 0, cv::INTER_CUBIC);
  }
  const torch::Tensor x = rgbFramesToTensor01({style}, "wct16x style").to(impl_->device);
  StyleCode code;
  code.arch = arch();
  for (int k = 1; k <= kLevels; ++k) {
    const auto [mean, cov] = meanCov(impl_->net->encoders[static_cast<std::size_t>(k - 1)]->forward(x));
    code.tensors.push_back(mean.to(torch::kCPU, torch::kFloat).contiguous());
    code.tensors.push_back(cov.to(torch::kCPU, torch::kFloat).contiguous());
  }
  return code;
}

StyleCode Wct16xNetwork::blend(const std::vector<StyleCode>& codes, const std::vector<double>& weights) const {
  if (codes.empty() || codes.size() != weights.size())
    throw std::invalid_argument("wct16x: blend needs one weight per style code");
  double sum = 0;
  for (std::size_t i = 0; i < codes.size(); ++i) {
    if (codes[i].arch != arch() || codes[i].tensors.size() != 2 * kLevels)
      throw std::invalid_argument("wct16x: style code " + std::to_string(i) + " is not a WCT-16x code");
    if (!(weights[i] >= 0)) throw std::invalid_argument("wct16x: blend weights must be >= 0");
    sum += weights[i];
  }
  if (!(sum > 0)) throw std::invalid_argument("wct16x: blend weights sum to 0");
  StyleCode out;
  out.arch = arch();
  for (std::size_t k = 0; k < 2 * kLevels; ++k) {
    torch::Tensor t = torch::zeros_like(codes[0].tensors[k]);
    for (std::size_t i = 0; i < codes.size(); ++i) t += codes[i].tensors[k] * (weights[i] / sum);
    out.tensors.push_back(t);
  }
  return out;
}

torch::Tensor Wct16xNetwork::stylizeLevel(int level, const torch::Tensor& rgb, const StyleCode& style,
                                          double strength) {
  if (level < 1 || level > kLevels) throw std::invalid_argument("wct16x: level must be 1..5");
  c10::InferenceMode guard;
  const std::size_t i = static_cast<std::size_t>(level - 1);
  const torch::Tensor f = impl_->net->encoders[i]->forward(rgb.to(impl_->device));
  const auto [cMean, cCov] = meanCov(f);
  const torch::Tensor sMean = style.tensors[2 * i].to(impl_->device, torch::kDouble);
  const torch::Tensor sCov = style.tensors[2 * i + 1].to(impl_->device, torch::kDouble);
  // target = colour(s) whiten(c) (f - mean_c) + mean_s, mixed with f by alpha, folded into
  // one C x C matrix and an offset: y = M f + b.
  const torch::Tensor t = torch::mm(eigenPower(sCov, 0.5), eigenPower(cCov, -0.5));
  const torch::Tensor eye = torch::eye(t.size(0), t.options());
  const torch::Tensor m = strength * t + (1.0 - strength) * eye;
  const torch::Tensor b = strength * (sMean - torch::mv(t, cMean));
  const torch::Tensor y = torch::addmm(b.to(torch::kFloat).unsqueeze(1), m.to(torch::kFloat), f[0].flatten(1));
  return impl_->net->decoders[i]->forward(y.view_as(f).contiguous(f.suggest_memory_format()));
}

std::vector<cv::Mat> Wct16xNetwork::operator()(const std::vector<cv::Mat>& frames, const StyleCode& style,
                                               double strength) {
  if (style.arch != arch() || style.tensors.size() != 2 * kLevels)
    throw std::invalid_argument("wct16x: the style code was not made by WCT-16x");
  if (!(strength >= 0 && strength <= 1)) throw std::invalid_argument("wct16x: strength must be in 0..1");
  c10::InferenceMode guard;
  const torch::Tensor input = rgbFramesToTensor01(frames, "wct16x").to(impl_->device);
  const std::int64_t h = input.size(2), w = input.size(3);
  const std::int64_t ph = std::max<std::int64_t>(32, (h + 15) / 16 * 16) - h;
  const std::int64_t pw = std::max<std::int64_t>(32, (w + 15) / 16 * 16) - w;
  const torch::Tensor padded =
      (ph || pw) ? F::pad(input, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate)) : input;
  std::vector<torch::Tensor> outputs;
  for (std::int64_t n = 0; n < padded.size(0); ++n) {
    torch::Tensor img = padded.slice(0, n, n + 1);
    if (impl_->device.is_cpu()) img = img.contiguous(at::MemoryFormat::ChannelsLast);
    for (int k = kLevels; k >= 1; --k) img = stylizeLevel(k, img, style, strength);
    outputs.push_back(img);
  }
  torch::Tensor out = torch::cat(outputs, 0);
  if (ph || pw) out = out.slice(2, 0, h).slice(3, 0, w);
  return tensor01ToRgbFrames(out.contiguous());
}

TensorFile importWct16x(const std::string& folder) {
  const fs::path root(folder);
  if (!fs::is_directory(root / "encoders") || !fs::is_directory(root / "decoders"))
    throw std::runtime_error(folder + ": not a WCT-16x folder (expected encoders/ and decoders/)");
  Wct16x reference;
  const auto params = reference->named_parameters();
  TensorFile out;
  for (int k = 1; k <= kLevels; ++k) {
    for (const bool enc : {true, false}) {
      const fs::path path = findStem(root / (enc ? "encoders" : "decoders"), (enc ? kEncoderStems : kDecoderStems)[k - 1]);
      const TensorFile file = readTorchStateDict(path.string());
      const std::string prefix = (enc ? "encoder" : "decoder") + std::to_string(k) + ".";
      for (const auto& [key, t] : file.tensors) {
        std::vector<std::int64_t> want;
        if (const auto* p = params.find(prefix + key)) {
          want = p->sizes().vec();
        } else if (enc && key.size() > 9 && key.find("_aux.") == 6) {  // conv{X}1_aux.{weight,bias}
          const std::string base = key.substr(0, 6);
          const auto* main = params.find(prefix + base + ".weight");
          if (!main) throw std::runtime_error(path.string() + ": unexpected key '" + key + "'");
          const std::int64_t in = main->size(0);
          want = key.compare(key.size() - 5, 5, ".bias") == 0 ? std::vector<std::int64_t>{auxOut(key)}
                                                              : std::vector<std::int64_t>{auxOut(key), in, 1, 1};
        } else {
          throw std::runtime_error(path.string() + ": unexpected key '" + key + "'");
        }
        checkWeight(path.string(), key, t, want);
        if (params.contains(prefix + key)) out.tensors[prefix + key] = t;
      }
      checkNoneMissing(path.string(), prefix, params, file);
    }
  }
  out.metadata["flowstyle.arch"] = "wct16x";
  out.metadata["flowstyle.preprocess"] = "rgb_0_1";
  out.metadata["flowstyle.name"] = "wct16x";
  return out;
}

std::unique_ptr<ArbitraryStyleNetwork> makeWct16x(const TensorFile& file, const std::string& origin,
                                                  const torch::Device& device) {
  return std::make_unique<Wct16xNetwork>(file, origin, device);
}

}  // namespace flowstyle::models
