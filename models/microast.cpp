#include "models/microast.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "models/fast_network.hpp"
#include "models/image_tensor.hpp"
#include "models/module_weights.hpp"
#include "models/tile_window.hpp"
#include "models/tiling.hpp"
#include "models/torch_reader.hpp"

namespace flowstyle::models {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

// ---- modules (named as the authors' state_dict keys) ------------------------------

struct ConvLayerImpl : torch::nn::Module {
  ConvLayerImpl(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t groups)
      : conv_layer(register_module(
            "conv_layer", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).groups(groups)))),
        pad(k / 2), stride(stride), groups(groups) {}
  torch::Tensor forward(const torch::Tensor& x) { return forwardValid(pad == 0 ? x : reflectPad2d(x, pad)); }
  // The convolution on an input already padded by `pad` on every side (by reflection or,
  // in a tile, by the real neighbouring values).
  torch::Tensor forwardValid(const torch::Tensor& p) {
    if (s2dWeight.defined() && p.size(2) % 2 == 0 && p.size(3) % 2 == 0) {
      // A 9x9 convolution as a 5x5 one on the 2x-coarser grid (pixel_unshuffle), without
      // padding: output fine row j reads padded rows j..j+8, as the plain valid convolution.
      return torch::pixel_shuffle(torch::conv2d(torch::pixel_unshuffle(p, 2), s2dWeight, s2dBias), 2);
    }
    return torch::conv2d(p, conv_layer->weight, conv_layer->bias, torch::IntArrayRef{stride, stride},
                         torch::IntArrayRef{0, 0}, torch::IntArrayRef{1, 1}, groups);
  }
  // After the weights are loaded: channels-last weights, and the 9x9 convolutions' coarse-grid
  // form (models/fast_network.hpp detail::spaceToDepthConvWeight; measured faster on CPU).
  void prepare(bool channelsLast) {
    torch::NoGradGuard noGrad;
    const auto mf = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    conv_layer->weight.set_data(conv_layer->weight.contiguous(mf));
    if (pad == 4 && stride == 1 && groups == 1) {
      s2dWeight = detail::spaceToDepthConvWeight(conv_layer->weight.contiguous()).contiguous(mf);
      s2dBias = conv_layer->bias.repeat_interleave(4).contiguous();
    }
  }
  torch::nn::Conv2d conv_layer;
  std::int64_t pad, stride, groups;
  torch::Tensor s2dWeight, s2dBias;  // not parameters: derived at load
};
TORCH_MODULE(ConvLayer);

struct ResidualLayerImpl : torch::nn::Module {
  explicit ResidualLayerImpl(std::int64_t c)
      : conv1(register_module("conv1", ConvLayer(c, c, 3, 1, 1))),
        conv2(register_module("conv2", ConvLayer(c, c, 3, 1, 1))) {}
  torch::Tensor forward(const torch::Tensor& x) { return conv2(conv1(x).relu_()).add_(x); }
  // The decoder's filter modulation: per-channel weight w and bias b from the modulator.
  torch::Tensor modulated(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
    // x3 = relu(w conv1(x) + b x); x + (w conv2(x3) + b x3), in place on the fresh outputs.
    const torch::Tensor x3 = conv1(x).mul_(w).addcmul_(x, b).relu_();
    return conv2(x3).mul_(w).addcmul_(x3, b).add_(x);
  }
  ConvLayer conv1, conv2;
};
TORCH_MODULE(ResidualLayer);

struct EncoderImpl : torch::nn::Module {
  EncoderImpl() {
    enc1 = register_module("enc1", torch::nn::Sequential(
        ConvLayer(3, 16, 9, 1, 1), torch::nn::ReLU(true), ConvLayer(16, 32, 3, 2, 16), torch::nn::ReLU(true),
        ConvLayer(32, 32, 1, 1, 1), torch::nn::ReLU(true), ConvLayer(32, 64, 3, 2, 32), torch::nn::ReLU(true),
        ConvLayer(64, 64, 1, 1, 1), torch::nn::ReLU(true), ResidualLayer(64)));
    enc2 = register_module("enc2", torch::nn::Sequential(ResidualLayer(64)));
  }
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x) {
    torch::Tensor x1 = enc1->forward(x);
    torch::Tensor x2 = enc2->forward(x1);
    return {x1, x2};
  }
  torch::nn::Sequential enc1{nullptr}, enc2{nullptr};
};
TORCH_MODULE(Encoder);

struct ModulatorImpl : torch::nn::Module {
  ModulatorImpl()
      : weight1(register_module("weight1", torch::nn::Sequential(ConvLayer(64, 64, 3, 1, 64)))),
        bias1(register_module("bias1", torch::nn::Sequential(ConvLayer(64, 64, 3, 1, 64)))),
        weight2(register_module("weight2", torch::nn::Sequential(ConvLayer(64, 64, 3, 1, 64)))),
        bias2(register_module("bias2", torch::nn::Sequential(ConvLayer(64, 64, 3, 1, 64)))) {}
  static torch::Tensor pooled(torch::nn::Sequential& s, const torch::Tensor& x) {
    return s->forward(x).mean({2, 3}, /*keepdim=*/true);
  }
  torch::nn::Sequential weight1, bias1, weight2, bias2;
};
TORCH_MODULE(Modulator);

struct DecoderImpl : torch::nn::Module {
  DecoderImpl()
      : dec1(register_module("dec1", ResidualLayer(64))), dec2(register_module("dec2", ResidualLayer(64))) {
    dec3 = register_module("dec3", torch::nn::Sequential(
        torch::nn::Identity(), ConvLayer(64, 32, 3, 1, 32), torch::nn::ReLU(), ConvLayer(32, 32, 1, 1, 1),
        torch::nn::ReLU(), torch::nn::Identity(), ConvLayer(32, 16, 3, 1, 16), torch::nn::ReLU(),
        ConvLayer(16, 16, 1, 1, 1), torch::nn::ReLU(), ConvLayer(16, 3, 9, 1, 1)));
  }
  ResidualLayer dec1, dec2;
  torch::nn::Sequential dec3{nullptr};  // 0 and 5 are the bilinear x2 upsamplings
};
TORCH_MODULE(Decoder);

struct MicroAstImpl : torch::nn::Module {
  MicroAstImpl()
      : content_encoder(register_module("content_encoder", Encoder())),
        style_encoder(register_module("style_encoder", Encoder())),
        modulator(register_module("modulator", Modulator())),
        decoder(register_module("decoder", Decoder())) {}
  Encoder content_encoder, style_encoder;
  Modulator modulator;
  Decoder decoder;
};
TORCH_MODULE(MicroAst);

const char* const kParts[] = {"content_encoder", "style_encoder", "modulator", "decoder"};

// Mean and std (unbiased variance + 1e-5, as the authors' calc_mean_std) per channel.
std::pair<torch::Tensor, torch::Tensor> meanStd(const torch::Tensor& x) {
  const auto [var, mean] = torch::var_mean(x.flatten(2), {2}, /*unbiased=*/true, /*keepdim=*/true);
  return {mean.unsqueeze(-1), (var + 1e-5).sqrt().unsqueeze(-1)};
}

torch::Tensor adain(const torch::Tensor& x, const torch::Tensor& mean, const torch::Tensor& std, double alpha) {
  const auto [m, s] = meanStd(x);
  // (x - m) / s * std + mean, mixed with x by alpha: one scale and one shift per channel.
  const torch::Tensor scale = alpha * std / s + (1.0 - alpha);
  const torch::Tensor shift = alpha * (mean - m * std / s);
  return x.mul(scale).add_(shift);
}

torch::Tensor upsample2(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 2.0})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

// ---- Tiles (setTile) ----------------------------------------------------------------
// The content encoder and the decoder hold no norm, so each runs per tile in one pass: every
// step is an unpadded convolution (or upsampling) on a window of the previous step's output
// that holds the real neighbouring values inside the frame and, where the window leaves the
// frame, the reflection the whole-frame padding makes there (the window then starts or ends
// at the frame's edge, so reflecting the window is reflecting the frame). A tile's values
// are the whole frame's up to float rounding (the convolutions block differently).

// One step of a tiled chain: a ConvLayer (its ReLU after or not), a plain ResidualLayer
// (two 3x3 and the skip), or the decoder's bilinear x2 upsampling.
struct TileStep {
  enum Kind { Conv, Residual, Upsample } kind;
  ConvLayerImpl* conv = nullptr;
  ResidualLayerImpl* residual = nullptr;
  bool relu = false;
};

Span needSpan(const TileStep& s, const Span& out) {
  switch (s.kind) {
    case TileStep::Conv: {
      const std::int64_t k = s.conv->conv_layer->weight.size(2), st = s.conv->stride, p = s.conv->pad;
      return {out.lo * st - p, (out.hi - 1) * st - p + k};
    }
    case TileStep::Residual: return {out.lo - 2, out.hi + 2};
    case TileStep::Upsample:
      // align_corners false: fine pixel i reads coarse i/2 - 0.25 rounded down and up (the
      // frame's edge clamps), so [lo, hi) reads [floor((lo-1)/2), floor(hi/2) + 1).
      return {floorHalf(out.lo - 1), out.hi / 2 + 1};
  }
  return out;
}
// The input a step reads for `out`, before clipping to the frame.
Box need(const TileStep& s, const Box& out) { return {needSpan(s, out.y), needSpan(s, out.x)}; }
// The step's output grid from its input's (sizes multiples of 4: the stride-2 steps halve).
Box outFrame(const TileStep& s, const Box& in) {
  if (s.kind == TileStep::Upsample) return scaled(in, 2, 1);
  if (s.kind == TileStep::Conv && s.conv->stride == 2) return scaled(in, 1, 2);
  return in;
}

// Step s on x (the values of `have` in the grid `frame`): its output over `out`.
torch::Tensor runStep(const TileStep& s, const torch::Tensor& x, const Box& have, const Box& out, const Box& frame) {
  switch (s.kind) {
    case TileStep::Conv: {
      torch::Tensor y = s.conv->forwardValid(reflectedWindow(x, have, need(s, out), frame));
      return s.relu ? y.relu_() : y;
    }
    case TileStep::Residual: {
      const Box mid = clipBox(grow(out, 1), frame);
      const torch::Tensor h = s.residual->conv1->forwardValid(reflectedWindow(x, have, grow(mid, 1), frame)).relu_();
      return s.residual->conv2->forwardValid(reflectedWindow(h, mid, grow(out, 1), frame)).add_(cut(x, have, out));
    }
    case TileStep::Upsample: {
      const Box in = clipBox(need(s, out), frame);
      const Box fine = scaled(in, 2, 1);
      return cut(upsample2(cut(x, have, in)), fine, out);
    }
  }
  return x;
}

// The steps of the tiled chains of `net`: the content encoder (input -> quarter resolution)
// and the decoder's upsampling part (quarter resolution -> RGB).
std::vector<TileStep> encoderSteps(MicroAstImpl& net) {
  auto& enc = net.content_encoder;
  std::vector<TileStep> steps;
  for (std::size_t i : {0, 2, 4, 6, 8}) steps.push_back({TileStep::Conv, enc->enc1[i]->as<ConvLayerImpl>(), nullptr, true});
  steps.push_back({TileStep::Residual, nullptr, enc->enc1[10]->as<ResidualLayerImpl>(), false});
  steps.push_back({TileStep::Residual, nullptr, enc->enc2[0]->as<ResidualLayerImpl>(), false});
  return steps;
}
std::vector<TileStep> decoderSteps(MicroAstImpl& net) {
  auto& dec3 = net.decoder->dec3;
  auto conv = [&](std::size_t i, bool relu) { return TileStep{TileStep::Conv, dec3[i]->as<ConvLayerImpl>(), nullptr, relu}; };
  return {{TileStep::Upsample}, conv(1, true), conv(3, true),  {TileStep::Upsample},
          conv(6, true),        conv(8, true), conv(10, false)};
}

class MicroAstNetwork final : public ArbitraryStyleNetwork {
 public:
  MicroAstNetwork(const TensorFile& file, const std::string& origin, const torch::Device& device)
      : device_(device) {
    loadParameters(*net_, file, origin);
    net_->eval();
    net_->to(device_);
    channelsLast_ = device_.is_cpu();
    for (const auto& m : net_->modules(/*include_self=*/false))
      if (auto* c = m->as<ConvLayerImpl>()) c->prepare(channelsLast_);
    encoderSteps_ = encoderSteps(*net_);
    decoderSteps_ = decoderSteps(*net_);
  }

  void setTile(int side) override {
    if (side < 0) throw std::invalid_argument("microast: the tile side must be >= 0");
    tile_ = side;
  }
  std::string tiling() const override { return tiling_; }

  std::string arch() const override { return "microast"; }

  StyleCode encodeStyle(const cv::Mat& styleRgb) override {
    if (styleRgb.empty() || styleRgb.type() != CV_8UC3 || styleRgb.cols < 2 || styleRgb.rows < 2)
      throw std::invalid_argument("microast: the style image must be CV_8UC3 RGB of at least 2x2");
    c10::InferenceMode guard;
    // The encoder's 9x9 reflection pad needs 5 pixels; enlarge tiny styles to 16 on the short side.
    cv::Mat style = styleRgb;
    const int shortSide = std::min(style.cols, style.rows);
    if (shortSide < 16) {
      const double f = 16.0 / shortSide;
      cv::resize(styleRgb, style, cv::Size(static_cast<int>(std::lround(style.cols * f)),
                                            static_cast<int>(std::lround(style.rows * f))), 0, 0, cv::INTER_CUBIC);
    }
    const torch::Tensor x = layout(rgbFramesToTensor01({style}, "microast style").to(device_));
    const auto [s1, s2] = net_->style_encoder(x);
    StyleCode code;
    code.arch = arch();
    code.tensors.resize(kMicroAstCodeSize);
    std::tie(code.tensors[kStyleMean1], code.tensors[kStyleStd1]) = meanStd(s1);
    std::tie(code.tensors[kStyleMean2], code.tensors[kStyleStd2]) = meanStd(s2);
    auto& m = net_->modulator;
    code.tensors[kFilterWeight1] = ModulatorImpl::pooled(m->weight1, s1);
    code.tensors[kFilterBias1] = ModulatorImpl::pooled(m->bias1, s1);
    code.tensors[kFilterWeight2] = ModulatorImpl::pooled(m->weight2, s2);
    code.tensors[kFilterBias2] = ModulatorImpl::pooled(m->bias2, s2);
    for (auto& t : code.tensors) t = t.to(torch::kCPU, torch::kFloat).contiguous().clone();
    return code;
  }

  StyleCode blend(const std::vector<StyleCode>& codes, const std::vector<double>& weights) const override {
    if (codes.empty() || codes.size() != weights.size())
      throw std::invalid_argument("microast: blend needs one weight per style code");
    double sum = 0;
    for (std::size_t i = 0; i < codes.size(); ++i) {
      if (codes[i].arch != arch() || codes[i].tensors.size() != kMicroAstCodeSize)
        throw std::invalid_argument("microast: style code " + std::to_string(i) + " is not a MicroAST code");
      if (!(weights[i] >= 0)) throw std::invalid_argument("microast: blend weights must be >= 0");
      sum += weights[i];
    }
    if (!(sum > 0)) throw std::invalid_argument("microast: blend weights sum to 0");
    StyleCode out;
    out.arch = arch();
    for (int k = 0; k < kMicroAstCodeSize; ++k) {
      torch::Tensor t = torch::zeros_like(codes[0].tensors[static_cast<std::size_t>(k)]);
      for (std::size_t i = 0; i < codes.size(); ++i) t += codes[i].tensors[static_cast<std::size_t>(k)] * (weights[i] / sum);
      out.tensors.push_back(t);
    }
    return out;
  }

  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames, const StyleCode& style,
                                  double strength) override {
    if (style.arch != arch() || style.tensors.size() != kMicroAstCodeSize)
      throw std::invalid_argument("microast: the style code was not made by MicroAST");
    if (!(strength >= 0 && strength <= 1)) throw std::invalid_argument("microast: strength must be in 0..1");
    c10::InferenceMode guard;
    torch::Tensor x = rgbFramesToTensor01(frames, "microast").to(device_);
    const std::int64_t h = x.size(2), w = x.size(3);
    // Bottom/right to a multiple of 4 (two stride-2 convolutions) and at least 8 (the 9x9
    // reflection pad), repeating the edge; cropped back after.
    const std::int64_t ph = std::max<std::int64_t>(8, (h + 3) / 4 * 4) - h;
    const std::int64_t pw = std::max<std::int64_t>(8, (w + 3) / 4 * 4) - w;
    if (ph || pw) x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
    std::vector<torch::Tensor> s;
    for (const auto& t : style.tensors) s.push_back(t.to(device_));
    torch::Tensor y = forwardFrames(layout(x), s);
    // Strength mixes pictures, not features: with MicroAST's modulated decoder the authors'
    // feature alpha at 0 is far from the frame (mean |d| 72 of 255 on tubingen), a mix is exact.
    if (strength < 1.0) y = y.mul_(strength).add_(x, 1.0 - strength);
    if (ph || pw) y = y.slice(2, 0, h).slice(3, 0, w);
    return tensor01ToRgbFrames(y.contiguous());
  }

  // For microAstRaw: forwardFrames on x in this network's layout.
  torch::Tensor rawFrames(const torch::Tensor& x, const std::vector<torch::Tensor>& s) {
    return forwardFrames(layout(x), s);
  }

  // The network on content [N,3,H,W] (H, W multiples of 4, at least 8), whole or, with a
  // tile side set and more than one tile, in tiles frame by frame (tiling() tells which).
  torch::Tensor forwardFrames(const torch::Tensor& content, const std::vector<torch::Tensor>& s) {
    const int h = static_cast<int>(content.size(2)), w = static_cast<int>(content.size(3));
    const TileGrid grid = tile_ > 0 ? fastTileGrid(w, h, tile_, kMicroAstTileHalo) : TileGrid{};
    if (!grid.tiled()) {
      tiling_.clear();
      return forward(content, s, 1.0);
    }
    tiling_ = grid.describe();
    std::vector<torch::Tensor> out;
    for (std::int64_t i = 0; i < content.size(0); ++i) out.push_back(forwardTiled(content.narrow(0, i, 1), s, grid));
    return out.size() == 1 ? out.front() : torch::cat(out, 0);
  }

  // The authors' TestNet.forward after the style encoder: content -> RGB (not clamped).
  torch::Tensor forward(const torch::Tensor& content, const std::vector<torch::Tensor>& s, double alpha) {
    const auto [c1, c2] = net_->content_encoder(content);
    (void)c1;  // the decoder uses only the content encoder's second output
    return decode(modulate(c2, s, alpha));
  }

  // The same on one image in tiles: the content encoder per tile into its whole
  // quarter-resolution output, the AdaIN statistics and modulated residual layers on it
  // whole, the decoder per tile into the whole output.
  torch::Tensor forwardTiled(const torch::Tensor& content, const std::vector<torch::Tensor>& s, const TileGrid& grid) {
    const std::int64_t H = content.size(2), W = content.size(3);
    auto wholeLike = [&](const torch::Tensor& part, std::int64_t h, std::int64_t w) {
      return torch::empty({1, part.size(1), h, w}, part.options().memory_format(layoutFormat()));
    };
    torch::Tensor c2;
    for (int r = 0; r < grid.rows; ++r) {
      for (int c = 0; c < grid.cols; ++c) {
        const Box core = scaled(grid.core(c, r), 1, 4);
        const torch::Tensor t = runTileChain(encoderSteps_, encoderSteps_.size(), content, core);
        if (!c2.defined()) c2 = wholeLike(t, H / 4, W / 4);
        placeBox(c2, core, t);
      }
    }
    const torch::Tensor m = modulate(c2, s, 1.0);
    c2 = torch::Tensor();
    torch::Tensor y;
    for (int r = 0; r < grid.rows; ++r) {
      for (int c = 0; c < grid.cols; ++c) {
        const Box core = grid.core(c, r);
        const torch::Tensor t = runTileChain(decoderSteps_, decoderSteps_.size(), m, core);
        if (!y.defined()) y = wholeLike(t, H, W);
        placeBox(y, core, t);
      }
    }
    return y;
  }

  // AdaIN and the modulated residual layers on the content encoder's second output.
  torch::Tensor modulate(const torch::Tensor& c2, const std::vector<torch::Tensor>& s, double alpha) {
    auto& d = net_->decoder;
    torch::Tensor x = adain(c2, s[kStyleMean2], s[kStyleStd2], alpha);
    x = d->dec1->modulated(x, s[kFilterWeight2], s[kFilterBias2]);
    x = adain(x, s[kStyleMean1], s[kStyleStd1], alpha);
    return d->dec2->modulated(x, s[kFilterWeight1], s[kFilterBias1]);
  }

  // The decoder's upsampling part: quarter resolution -> RGB.
  torch::Tensor decode(torch::Tensor x) {
    auto& seq = *net_->decoder->dec3;
    x = upsample2(x);
    x = seq[1]->as<ConvLayerImpl>()->forward(x).relu_();
    x = seq[3]->as<ConvLayerImpl>()->forward(x).relu_();
    x = upsample2(x);
    x = seq[6]->as<ConvLayerImpl>()->forward(x).relu_();
    x = seq[8]->as<ConvLayerImpl>()->forward(x).relu_();
    return seq[10]->as<ConvLayerImpl>()->forward(x);
  }

 private:
  torch::Tensor layout(const torch::Tensor& x) const {
    return channelsLast_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
  }
  at::MemoryFormat layoutFormat() const {
    return channelsLast_ ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  }
  MicroAst net_;
  torch::Device device_;
  bool channelsLast_ = false;  // CPU: channels-last activations and weights (oneDNN's layout)
  std::vector<TileStep> encoderSteps_, decoderSteps_;  // the tiled chains, into net_'s modules
  int tile_ = 0;                                       // setTile
  std::string tiling_;                                 // how the last call was tiled
};

fs::path findOne(const fs::path& folder, const std::string& stem) {
  fs::path found;
  int count = 0;
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && n.rfind(stem + "_", 0) == 0 && n.find(".pth") != std::string::npos) {
      found = e.path();
      ++count;
    }
  }
  if (count != 1)
    throw std::runtime_error(folder.string() + ": expected one " + stem + "_*.pth.tar, found " + std::to_string(count));
  return found;
}

}  // namespace

TensorFile importMicroAst(const std::string& folder) {
  if (!fs::is_directory(folder)) throw std::runtime_error(folder + ": not a MicroAST folder (no such directory)");
  MicroAst reference;  // the architecture, for every key's shape
  const auto params = reference->named_parameters();
  TensorFile out;
  for (const char* part : kParts) {
    const fs::path path = findOne(folder, part);
    const TensorFile file = readTorchStateDict(path.string());
    const std::string prefix = std::string(part) + ".";
    for (const auto& [k, t] : file.tensors) {
      const auto* p = params.find(prefix + k);
      if (!p) throw std::runtime_error(path.string() + ": unexpected key '" + k + "'");
      checkWeight(path.string(), k, t, p->sizes());
      out.tensors[prefix + k] = t;
    }
    checkNoneMissing(path.string(), prefix, params, file);
  }
  out.metadata["flowstyle.arch"] = "microast";
  out.metadata["flowstyle.preprocess"] = "rgb_0_1";
  out.metadata["flowstyle.name"] = "microast";
  return out;
}

int microAstTileHalo() {
  MicroAst net;  // the architecture
  // A core of 4 quarter-resolution pixels from 8 (input pixels 32..48); the decoder's core in
  // input pixels is the same, its chain reads on the quarter-resolution grid.
  const auto [encLo, encHi] = readBeyond(encoderSteps(*net), {8, 12});
  const auto [decLo, decHi] = readBeyond(decoderSteps(*net), {32, 48});
  return static_cast<int>(std::max({32 - encLo, encHi - 48, 4 * (8 - decLo), 4 * (decHi - 12)}));
}

torch::Tensor microAstRaw(ArbitraryStyleNetwork& net, const torch::Tensor& x, const StyleCode& code, int tile) {
  auto* m = dynamic_cast<MicroAstNetwork*>(&net);
  if (m == nullptr) throw std::invalid_argument("microAstRaw: " + net.arch() + " is not MicroAST");
  c10::InferenceMode guard;
  m->setTile(tile);
  std::vector<torch::Tensor> s;
  for (const auto& t : code.tensors) s.push_back(t.to(x.device()));
  return m->rawFrames(x, s);
}

std::unique_ptr<ArbitraryStyleNetwork> makeMicroAst(const TensorFile& file, const std::string& origin,
                                                    const torch::Device& device) {
  return std::make_unique<MicroAstNetwork>(file, origin, device);
}

}  // namespace flowstyle::models
