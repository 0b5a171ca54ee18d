#include "models/multistyle.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "models/channels_last_norm.hpp"
#include "models/image_tensor.hpp"
#include "models/onnx_reader.hpp"
#include "models/tile_window.hpp"

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

torch::Tensor nearest2(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
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
    if (spec_.upsample) x = nearest2(x);
    x = F::pad(x, F::PadFuncOptions({spec_.pad, spec_.pad, spec_.pad, spec_.pad}).mode(torch::kReflect));
    return norm(conv(x), styleWeights);
  }
  // The convolution alone on an already padded (and upsampled) input.
  torch::Tensor conv(const torch::Tensor& padded) const {
    return torch::conv2d(padded, weight, {}, torch::IntArrayRef{spec_.stride, spec_.stride});
  }
  // The norm (and ReLU) on the whole of x, the convolution's fresh output (overwritten:
  // the same operations as "(x - mean) / sqrt(var + eps) * g + b" without temporaries).
  torch::Tensor norm(torch::Tensor x, const torch::Tensor& styleWeights) const {
    const torch::Tensor mean = x.mean({2, 3}, true);
    x.sub_(mean);
    const torch::Tensor var = x.square().mean({2, 3}, true);
    return normalize(x, var.add_(kEpsilon).sqrt_().reciprocal_(), styleWeights);
  }
  // centred * rstd * g + b, then the ReLU where the spec has one; in place on `centred`.
  torch::Tensor normalize(torch::Tensor centred, const torch::Tensor& rstd, const torch::Tensor& styleWeights) const {
    const torch::Tensor g = styleWeights.matmul(gamma).reshape({1, -1, 1, 1});
    const torch::Tensor b = styleWeights.matmul(beta).reshape({1, -1, 1, 1});
    centred.mul_(rstd).mul_(g).add_(b);
    return spec_.relu ? centred.relu_() : centred;
  }
  torch::Tensor weight, gamma, beta;
  ConvSpec spec_;
};
TORCH_MODULE(CondConv);

// ---- Tiles (setTile) ----------------------------------------------------------------
// Every convolution is followed by an instance norm, so each norm needs the whole frame's
// per-channel mean and variance before any tile reads its output. Per stage, the cheaper
// of "keep it whole" and "recompute it per tile":
//   - contract.0 (9x9, full resolution, 32 channels: 128 bytes per input pixel, 1 GiB at
//     4K) and contract.1 (half resolution, 32 bytes per input pixel) are recomputed per
//     tile: one statistics pass per norm (contract.0's raw output over each core; then
//     contract.0, its norm and contract.1's raw output), then one pass of the whole chain
//     into contract.2's raw output, kept whole at quarter resolution (8 bytes per input
//     pixel). contract.0 thus runs three times; keeping contract.1's raw output whole
//     instead would save one of them at 32 bytes per input pixel, more than the tiles hold.
//   - contract.2's norm and the six residual blocks run whole at quarter resolution, as in
//     the whole frame (the same operations, so the same values).
//   - the expansion (nearest x2, 3x3, norm, nearest x2, 3x3, norm, 9x9, norm, sigmoid) runs
//     per tile once for each of its three norms' statistics and once for the output, as in
//     Magenta (models/magenta.cpp): its full-resolution layers are small (4 and 3
//     channels) but a whole-frame copy of each would still be 16 bytes per input pixel.
// A tile's statistics are merged exactly (Chan's pairwise update in double,
// detail::ChannelMoments as the ml5 network's tiles); only the float rounding of the sums
// differs from the whole frame. Each step reads a window of the previous step's values:
// the real neighbours inside the frame, the frame's reflection where the window leaves it
// (every convolution is reflection-padded, after the upsampling where there is one).

// One step of a tiled chain: a convolution (its reflection padding read from the
// neighbours or the frame's reflection), a norm with its whole frame's mean and rstd
// (and its ReLU), or the nearest x2 upsampling.
struct TileStep {
  enum Kind { Conv, Norm, Upsample } kind = Conv;
  CondConvImpl* layer = nullptr;
  torch::Tensor mean, rstd;  // Norm: the whole frame's, set before a tile reads its output
  torch::Tensor styleWeights;  // Norm: [26]
};

Span needSpan(const TileStep& s, const Span& out) {
  switch (s.kind) {
    case TileStep::Conv: {
      const ConvSpec& c = s.layer->spec_;
      return {out.lo * c.stride - c.pad, (out.hi - 1) * c.stride - c.pad + c.kernel};
    }
    case TileStep::Upsample: return {floorHalf(out.lo), floorHalf(out.hi - 1) + 1};
    case TileStep::Norm: return out;
  }
  return out;
}
Box outFrame(const TileStep& s, const Box& in) {
  if (s.kind == TileStep::Upsample) return scaled(in, 2, 1);
  if (s.kind == TileStep::Conv && s.layer->spec_.stride == 2) return scaled(in, 1, 2);
  return in;
}
torch::Tensor runStep(const TileStep& s, const torch::Tensor& x, const Box& have, const Box& out, const Box& frame) {
  switch (s.kind) {
    case TileStep::Conv:
      return s.layer->conv(reflectedWindow(x, have, {needSpan(s, out.y), needSpan(s, out.x)}, frame).contiguous());
    case TileStep::Norm: {
      // The convolution's fresh output over exactly `out` (the chain computes what the next
      // step reads), normalized in place.
      torch::Tensor t = cut(x, have, out);
      return s.layer->normalize(t.sub_(s.mean), s.rstd, s.styleWeights);
    }
    case TileStep::Upsample: {
      const Box in = clipBox({needSpan(s, out.y), needSpan(s, out.x)}, frame);
      return cut(nearest2(cut(x, have, in)), scaled(in, 2, 1), out).contiguous();
    }
  }
  return x;
}

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
    x = residuals(x, styleWeights);
    for (std::size_t i = 15; i < 18; ++i) x = convs[i]->forward(x, styleWeights);
    return x.sigmoid();
  }

  // The six residual blocks on contract.2's output.
  torch::Tensor residuals(torch::Tensor x, const torch::Tensor& styleWeights) {
    for (std::size_t r = 0; r < 6; ++r) {
      const torch::Tensor h = convs[3 + 2 * r]->forward(x, styleWeights);
      x = x + convs[4 + 2 * r]->forward(h, styleWeights);
    }
    return x;
  }

  // The same on one image ([1,3,H,W]) in the tiles of `grid` (see "Tiles" above).
  torch::Tensor forwardTiled(const torch::Tensor& rgb, const torch::Tensor& styleWeights, const TileGrid& grid) {
    const std::int64_t H = rgb.size(2), W = rgb.size(3);
    auto eachTile = [&](std::int64_t num, std::int64_t den, const std::function<void(const Box&)>& f) {
      for (int r = 0; r < grid.rows; ++r)
        for (int c = 0; c < grid.cols; ++c) f(scaled(grid.core(c, r), num, den));
    };
    // The statistics passes of a chain's norms, in order: norm i's input over each tile's
    // core (in its grid, `frames[i]`), merged; then its mean and rstd as the whole frame's.
    auto statistics = [&](std::vector<TileStep>& steps, const torch::Tensor& input) {
      std::vector<Box> frames{frameOf(input)};
      for (std::size_t i = 0; i < steps.size(); ++i) {
        frames.push_back(outFrame(steps[i], frames.back()));
        if (steps[i].kind != TileStep::Norm) continue;
        detail::ChannelMoments m;
        eachTile(frames[i].y.size(), H,
                 [&](const Box& core) { m.merge(momentsOf(runTileChain(steps, i, input, core))); });
        std::tie(steps[i].mean, steps[i].rstd) = meanAndRstd(m, input.options());
        steps[i].styleWeights = styleWeights;
      }
    };
    // Contraction: the statistics of contract.0's and contract.1's norms, then contract.2's
    // raw output, whole at quarter resolution; its norm as in the whole frame.
    std::vector<TileStep> contract = contractSteps();
    statistics(contract, rgb);
    torch::Tensor x = torch::empty({1, convs[2]->spec_.out, H / 4, W / 4}, rgb.options());
    eachTile(1, 4, [&](const Box& core) { placeBox(x, core, runTileChain(contract, contract.size(), rgb, core)); });
    x = residuals(convs[2]->norm(x, styleWeights), styleWeights);
    // Expansion: its three norms' statistics, then the output per tile.
    std::vector<TileStep> expand = expandSteps();
    statistics(expand, x);
    torch::Tensor y = torch::empty({1, 3, H, W}, rgb.options());
    eachTile(1, 1, [&](const Box& core) { placeBox(y, core, runTileChain(expand, expand.size(), x, core).sigmoid_()); });
    return y;
  }

  // The steps of the tiled chains: the contraction up to contract.2's raw output (input ->
  // quarter resolution) and the expansion (quarter resolution -> the last norm's output).
  std::vector<TileStep> contractSteps() {
    std::vector<TileStep> steps;
    for (std::size_t i = 0; i < 3; ++i) {
      steps.push_back({TileStep::Conv, convs[i].get(), {}, {}, {}});
      if (i < 2) steps.push_back({TileStep::Norm, convs[i].get(), {}, {}, {}});
    }
    return steps;
  }
  std::vector<TileStep> expandSteps() {
    std::vector<TileStep> steps;
    for (std::size_t i = 15; i < 18; ++i) {
      if (convs[i]->spec_.upsample) steps.push_back({TileStep::Upsample, nullptr, {}, {}, {}});
      steps.push_back({TileStep::Conv, convs[i].get(), {}, {}, {}});
      steps.push_back({TileStep::Norm, convs[i].get(), {}, {}, {}});
    }
    return steps;
  }

  // The most the tiled chains read beyond a core, in input pixels: a core of 4
  // quarter-resolution pixels from 8 (input pixels 32..48) in the contraction's output and
  // in the expansion's input.
  int tileHalo() {
    const auto [cLo, cHi] = readBeyond(contractSteps(), {8, 12});
    const auto [eLo, eHi] = readBeyond(expandSteps(), {32, 48});
    return static_cast<int>(std::max({32 - cLo, cHi - 48, 4 * (8 - eLo), 4 * (eHi - 12)}));
  }

  // Per-channel moments of one tile's raw convolution output (float32 var_mean per tile,
  // merged in double).
  static detail::ChannelMoments momentsOf(const torch::Tensor& t) {
    auto [var, mean] = torch::var_mean(t, {2, 3}, /*unbiased=*/false);
    detail::ChannelMoments m;
    m.count = static_cast<double>(t.size(2) * t.size(3));
    const torch::Tensor v = var.to(torch::kCPU, torch::kDouble).reshape({-1}).contiguous();
    const torch::Tensor u = mean.to(torch::kCPU, torch::kDouble).reshape({-1}).contiguous();
    m.mean.assign(u.data_ptr<double>(), u.data_ptr<double>() + u.numel());
    m.m2.assign(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    for (double& x : m.m2) x *= m.count;
    return m;
  }
  // The whole frame's mean and 1 / sqrt(var + eps) as [1,C,1,1] float32, rounded as
  // CondConvImpl::norm rounds them (the variance to float32 before the epsilon).
  static std::pair<torch::Tensor, torch::Tensor> meanAndRstd(const detail::ChannelMoments& m,
                                                             const torch::TensorOptions& options) {
    const auto c = static_cast<std::int64_t>(m.mean.size());
    torch::Tensor mean = torch::empty({c}, torch::kDouble), var = torch::empty({c}, torch::kDouble);
    for (std::int64_t i = 0; i < c; ++i) {
      mean[i] = m.mean[static_cast<std::size_t>(i)];
      var[i] = m.m2[static_cast<std::size_t>(i)] / m.count;
    }
    const torch::Tensor v = var.to(torch::kFloat).reshape({1, c, 1, 1});
    return {mean.to(torch::kFloat).reshape({1, c, 1, 1}).to(options.device()),
            v.add(kEpsilon).sqrt_().reciprocal_().to(options.device())};
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

  void setTile(int side) override {
    if (side < 0) throw std::invalid_argument("multistyle26: the tile side must be >= 0");
    tile_ = side;
  }
  std::string tiling() const override { return tiling_; }

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
      torch::Tensor y = transform(in, weights).index(
          {0, torch::indexing::Slice(), torch::indexing::Slice(0, h), torch::indexing::Slice(0, w)});
      if (strength < 1) y = y * strength + x[0] * (1 - strength);
      out.push_back(tensor01ToRgbFrames(y.unsqueeze(0)).front());
    }
    return out;
  }

  // The network on one image ([1,3,H,W], H and W multiples of 4, >= 8): whole or, with a
  // tile side set and more than one tile, in tiles (tiling() tells which).
  torch::Tensor transform(const torch::Tensor& in, const torch::Tensor& weights) {
    const TileGrid grid = tile_ > 0 ? fastTileGrid(static_cast<int>(in.size(3)), static_cast<int>(in.size(2)), tile_,
                                                   kMultistyleTileHalo)
                                    : TileGrid{};
    tiling_ = grid.tiled() ? grid.describe() : std::string();
    return grid.tiled() ? net_->forwardTiled(in, weights, grid) : net_->forward(in, weights);
  }

  int tileHalo() { return net_->tileHalo(); }

  // For multistyleRaw.
  torch::Tensor raw(const torch::Tensor& x, const StyleCode& code) {
    c10::InferenceMode guard;
    return transform(x.to(device_), weightsOf(code).to(device_));
  }

 private:
  MultistyleNet net_;
  torch::Device device_;
  int tile_ = 0;        // setTile
  std::string tiling_;  // how the last frame was tiled
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

int multistyleTileHalo(ArbitraryStyleNetwork& net) {
  auto* m = dynamic_cast<Multistyle*>(&net);
  if (m == nullptr) throw std::invalid_argument("multistyleTileHalo: " + net.arch() + " is not multistyle26");
  return m->tileHalo();
}

torch::Tensor multistyleRaw(ArbitraryStyleNetwork& net, const torch::Tensor& x, const StyleCode& code, int tile) {
  auto* m = dynamic_cast<Multistyle*>(&net);
  if (m == nullptr) throw std::invalid_argument("multistyleRaw: " + net.arch() + " is not multistyle26");
  m->setTile(tile);
  return m->raw(x, code);
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
