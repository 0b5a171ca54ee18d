#include "models/wct.hpp"

#include <filesystem>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "models/image_tensor.hpp"
#include "models/module_weights.hpp"
#include "models/tile_window.hpp"
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

// ---- Tiles (setTile) ----------------------------------------------------------------
// The encoders and decoders hold no norm, so each runs per tile: every step is an unpadded
// convolution, a 2x2 max pool or a nearest x2 upsampling on a window of the previous step's
// output that holds the real neighbouring values inside the frame and, where the window
// leaves the frame, the reflection the whole-frame padding makes there. Cores start on
// multiples of 16, so every pool reads the whole frame's 2x2 cells.
struct WctStep {
  enum Kind { Conv, Pool, Upsample } kind;
  torch::nn::Conv2dImpl* conv = nullptr;
  bool relu = false;  // Conv: ReLU after it (every 3x3; not conv0)
};

Span needSpan(const WctStep& s, const Span& out) {
  switch (s.kind) {
    case WctStep::Conv: {
      const std::int64_t p = s.conv->weight.size(2) / 2;
      return {out.lo - p, out.hi + p};
    }
    case WctStep::Pool: return {2 * out.lo, 2 * out.hi};
    case WctStep::Upsample: return {floorHalf(out.lo), floorHalf(out.hi + 1)};
  }
  return out;
}
Box need(const WctStep& s, const Box& out) { return {needSpan(s, out.y), needSpan(s, out.x)}; }
// The step's output grid from its input's (sizes multiples of 16: the pools halve exactly).
Box outFrame(const WctStep& s, const Box& in) {
  if (s.kind == WctStep::Pool) return scaled(in, 1, 2);
  if (s.kind == WctStep::Upsample) return scaled(in, 2, 1);
  return in;
}

// Step s on x (the values of `have` in the grid `frame`): its output over `out`.
torch::Tensor runStep(const WctStep& s, const torch::Tensor& x, const Box& have, const Box& out, const Box& frame) {
  switch (s.kind) {
    case WctStep::Conv: {
      torch::Tensor y = torch::conv2d(reflectedWindow(x, have, need(s, out), frame), s.conv->weight, s.conv->bias);
      return s.relu ? y.relu_() : y;
    }
    case WctStep::Pool: return torch::max_pool2d(cut(x, have, need(s, out)), {2, 2}, {2, 2});
    case WctStep::Upsample: {
      const Box in = clipBox(need(s, out), frame);
      const torch::Tensor c = cut(x, have, in);
      return cut(torch::upsample_nearest2d(c, {c.size(2) * 2, c.size(3) * 2}), scaled(in, 2, 1), out);
    }
  }
  return x;
}

// Level k's encoder (RGB -> features) and decoder (features -> RGB) as tiled chains.
std::vector<WctStep> encoderSteps(WctEncoderImpl& enc) {
  std::vector<WctStep> steps{{WctStep::Conv, enc.conv0.get(), false}};
  for (std::size_t i = 0; i < enc.layers.size(); ++i) {
    if (enc.layers[i].poolBefore) steps.push_back({WctStep::Pool});
    steps.push_back({WctStep::Conv, enc.convs[i].get(), true});
  }
  return steps;
}
std::vector<WctStep> decoderSteps(WctDecoderImpl& dec) {
  std::vector<WctStep> steps;
  for (std::size_t i = 0; i < dec.layers.size(); ++i) {
    steps.push_back({WctStep::Conv, dec.convs[i].get(), true});
    if (dec.layers[i].poolBefore) steps.push_back({WctStep::Upsample});
  }
  return steps;
}

// Levels whose content features stay whole between the two passes instead of being encoded
// again per tile: 4 and 5, 128 channels at 1/8 and 1/16 resolution (2 and 0.5 floats per
// pixel, less than the 3-channel image the cascade keeps whole anyway; 66 MB and 17 MB at
// 3840x2160) and the dearest encoders to run twice. Levels 1..3 hold 24, 8 and 4 floats per
// pixel (796, 265, 133 MB at 3840x2160) from encoders of 1, 3 and 5 convolutions: cheaper to
// encode again what each tile's decoder reads.
constexpr bool keepsFeaturesWhole(int level) { return level >= 4; }

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

// y = M f + b, level k's whitening and colouring mixed with f by `strength` (the authors'
// alpha), from the content's feature mean and covariance (double): float M [C,C], b [C].
struct Transform {
  torch::Tensor m, b;
};
Transform transformFor(const torch::Tensor& cMean, const torch::Tensor& cCov, const StyleCode& style,
                       std::size_t level0, double strength) {
  const torch::Tensor sMean = style.tensors[2 * level0].to(cMean.device(), torch::kDouble);
  const torch::Tensor sCov = style.tensors[2 * level0 + 1].to(cMean.device(), torch::kDouble);
  // target = colour(s) whiten(c) (f - mean_c) + mean_s, mixed with f by alpha, folded into
  // one C x C matrix and an offset.
  const torch::Tensor t = torch::mm(eigenPower(sCov, 0.5), eigenPower(cCov, -0.5));
  const torch::Tensor eye = torch::eye(t.size(0), t.options());
  const torch::Tensor m = strength * t + (1.0 - strength) * eye;
  const torch::Tensor b = strength * (sMean - torch::mv(t, cMean));
  return {m.to(torch::kFloat), b.to(torch::kFloat).unsqueeze(1)};
}
torch::Tensor applyTransform(const Transform& tr, const torch::Tensor& f) {
  const torch::Tensor y = torch::addmm(tr.b, tr.m, f[0].flatten(1));
  return y.view_as(f).contiguous(f.suggest_memory_format());
}

// Per-channel sums of x and x x^T in double over features [1,C,h,w], added up tile by tile:
// the whole frame's mean and (unbiased) covariance, as meanCov.
struct MomentSums {
  torch::Tensor sum, outer;
  std::int64_t count = 0;
  void add(const torch::Tensor& f) {
    const torch::Tensor x = f[0].flatten(1).to(torch::kDouble);
    const torch::Tensor s = x.sum(1), o = torch::mm(x, x.t());
    sum = sum.defined() ? sum.add_(s) : s;
    outer = outer.defined() ? outer.add_(o) : o;
    count += x.size(1);
  }
  std::pair<torch::Tensor, torch::Tensor> meanCov() const {
    const torch::Tensor mean = sum / static_cast<double>(count);
    const torch::Tensor cov = (outer - static_cast<double>(count) * torch::outer(mean, mean))
                                  .div_(static_cast<double>(std::max<std::int64_t>(1, count - 1)));
    return {mean, cov};
  }
};

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
  explicit Impl(const torch::Device& d) : device(d) {}
  Wct16x net;
  torch::Device device;
  std::vector<std::vector<WctStep>> encoderSteps, decoderSteps;  // per level, into net's modules
  int tile = 0;        // setTile
  std::string tiling;  // how the last call was tiled

  // One level of the cascade on img [1,3,H,W] (H, W multiples of 16) in the tiles of `grid`.
  // Pass A encodes each core and sums the moments of its features; one transform from their
  // whole-frame mean and covariance; pass B transforms what each tile's decoder reads (kept
  // whole, or encoded again: keepsFeaturesWhole) and decodes it into the whole output.
  torch::Tensor stylizeLevelTiled(int level, const torch::Tensor& img, const StyleCode& style, double strength,
                                  const TileGrid& grid) {
    const std::size_t i = static_cast<std::size_t>(level - 1);
    const std::vector<WctStep>& enc = encoderSteps[i];
    const std::vector<WctStep>& dec = decoderSteps[i];
    const std::int64_t scale = std::int64_t{1} << (level - 1);
    const Box frame = frameOf(img), featureFrame = scaled(frame, 1, scale);
    const bool keep = keepsFeaturesWhole(level);
    MomentSums sums;
    torch::Tensor features;  // keep: the level's whole features
    for (int r = 0; r < grid.rows; ++r) {
      for (int c = 0; c < grid.cols; ++c) {
        {
          const Box core = scaled(grid.core(c, r), 1, scale);
          const torch::Tensor t = runTileChain(enc, enc.size(), img, core);
          sums.add(t);
          if (keep) {
            if (!features.defined())
              features = torch::empty({1, t.size(1), featureFrame.y.hi, featureFrame.x.hi},
                                      t.options().memory_format(img.suggest_memory_format()));
            placeBox(features, core, t);
          }
        }
        releaseFreedHeap();  // the tile's activations, before the next tile's
      }
    }
    const auto [mean, cov] = sums.meanCov();
    const Transform tr = transformFor(mean, cov, style, i, strength);
    torch::Tensor out = torch::empty_like(img);
    for (int r = 0; r < grid.rows; ++r) {
      for (int c = 0; c < grid.cols; ++c) {
        {
          const Box core = grid.core(c, r);
          const Box reads = tileChainBoxes(dec, dec.size(), featureFrame, core).front();
          const torch::Tensor f =
              keep ? cut(features, featureFrame, reads) : runTileChain(enc, enc.size(), img, reads);
          placeBox(out, core, runTileChain(dec, dec.size(), applyTransform(tr, f), reads, featureFrame, core));
        }
        releaseFreedHeap();
      }
    }
    return out;
  }
};

Wct16xNetwork::Wct16xNetwork(const TensorFile& file, const std::string& origin, const torch::Device& device)
    : impl_(std::make_unique<Impl>(device)) {
  loadParameters(*impl_->net, file, origin);
  impl_->net->eval();
  impl_->net->to(device);
  // CPU: channels-last weights and activations (oneDNN's layout), as the fast path.
  if (device.is_cpu()) {
    torch::NoGradGuard noGrad;
    for (auto& p : impl_->net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  for (int k = 1; k <= kLevels; ++k) {
    impl_->encoderSteps.push_back(encoderSteps(*impl_->net->encoders[static_cast<std::size_t>(k - 1)]));
    impl_->decoderSteps.push_back(decoderSteps(*impl_->net->decoders[static_cast<std::size_t>(k - 1)]));
  }
}

void Wct16xNetwork::setTile(int side) {
  if (side < 0) throw std::invalid_argument("wct16x: the tile side must be >= 0");
  impl_->tile = side;
}

std::string Wct16xNetwork::tiling() const { return impl_->tiling; }

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
  return impl_->net->decoders[i]->forward(applyTransform(transformFor(cMean, cCov, style, i, strength), f));
}

torch::Tensor Wct16xNetwork::stylize(const torch::Tensor& rgb, const StyleCode& style, double strength) {
  if (rgb.dim() != 4 || rgb.size(0) != 1 || rgb.size(1) != 3 || rgb.size(2) % 16 != 0 || rgb.size(3) % 16 != 0 ||
      rgb.size(2) < 32 || rgb.size(3) < 32)
    throw std::invalid_argument("wct16x: stylize needs [1,3,H,W] with H, W multiples of 16, at least 32");
  c10::InferenceMode guard;
  torch::Tensor img = rgb.to(impl_->device);
  if (impl_->device.is_cpu()) img = img.contiguous(at::MemoryFormat::ChannelsLast);
  const int h = static_cast<int>(img.size(2)), w = static_cast<int>(img.size(3));
  const TileGrid grid = impl_->tile > 0 ? fastTileGrid(w, h, impl_->tile, kWct16xTileHalo, 16) : TileGrid{};
  impl_->tiling = grid.tiled() ? grid.describe() : std::string();
  for (int k = kLevels; k >= 1; --k)
    img = grid.tiled() ? impl_->stylizeLevelTiled(k, img, style, strength, grid) : stylizeLevel(k, img, style, strength);
  return img;
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
  for (std::int64_t n = 0; n < padded.size(0); ++n) outputs.push_back(stylize(padded.slice(0, n, n + 1), style, strength));
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

int wct16xTileHalo() {
  Wct16x net;  // the architecture
  std::int64_t halo = 0;
  for (int k = 1; k <= kLevels; ++k) {
    const std::vector<WctStep> enc = encoderSteps(*net->encoders[static_cast<std::size_t>(k - 1)]);
    const std::vector<WctStep> dec = decoderSteps(*net->decoders[static_cast<std::size_t>(k - 1)]);
    // A core of input pixels 64..80 (a multiple of 16), on level k's feature grid.
    const std::int64_t scale = std::int64_t{1} << (k - 1);
    const Span core{64 / scale, 80 / scale};
    const auto [decLo, decHi] = readBeyond(dec, {64, 80});  // on the feature grid
    halo = std::max({halo, (core.lo - decLo) * scale, (decHi - core.hi) * scale});
    // Pass A encodes the core; pass B encodes what the decoder reads unless kept whole.
    const auto [encLo, encHi] = readBeyond(enc, keepsFeaturesWhole(k) ? core : Span{decLo, decHi});
    halo = std::max({halo, 64 - encLo, encHi - 80});
  }
  return static_cast<int>(halo);
}

std::unique_ptr<ArbitraryStyleNetwork> makeWct16x(const TensorFile& file, const std::string& origin,
                                                  const torch::Device& device) {
  return std::make_unique<Wct16xNetwork>(file, origin, device);
}

}  // namespace flowstyle::models
