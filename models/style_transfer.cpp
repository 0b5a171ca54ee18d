// Gatys et al. optimization with Ruder et al.'s temporal term.
//
// Choices:
// - Every term is normalized by its target (models::losses), total =
//   cw*content + sw*style + tvw*TV + tw*temporal.
// - The image x is optimized directly as RGB; the loss is that of clamp(x, 0, 1), so what
//   is optimized is exactly what is returned (clamp(x)). Pixels pushed past the range stop
//   receiving gradient there (they stay saturated). Optimizing unclamped and clamping at
//   the end loses part of the optimization to the clamp; projecting (clamping x) after
//   every iteration defeats the evaluation reuse below and doubles the cost per iteration.
// - L-BFGS: each outer iteration is one LBFGS::step() with max_iter = 1 and a
//   strong-Wolfe line search; function evaluations are cached by the image they were
//   made at, so the evaluation LBFGS makes at the start of each step() reuses the line
//   search's accepted one: ~1 forward+backward per iteration after the first (3).
//   Adam: x is also clamped after each step (free there).
// - Style targets (blend-weighted Gram matrices) are computed once per content size
//   and cached; the style image is resized so its long side is styleScale times the
//   content's long side.
// - preserveColors: after optimizing, the result's luma (Y of YCrCb, float) is combined
//   with the content's chroma (Cr, Cb).
// - scales N: optimize at 1/2^(N-1) size first, each result (bilinearly upsampled) is the
//   initialization of the next scale; `iterations` applies per scale.
// - The reported final loss is that of the returned image (after clamping and colour
//   preservation), evaluated at full size.
#include "models/style_transfer.hpp"

#include "models/color.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <utility>

#include <opencv2/imgproc.hpp>

#include "models/device.hpp"
#include "models/loss_network.hpp"

namespace flowstyle::models {
namespace {

const char* kWhat = "StyleOptimizer";

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(std::string(kWhat) + ": " + what);
}

std::string sizeString(const cv::Size& s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height);
}

// CV_8UC3 (scaled by 1/255) or CV_32FC3 / CV_32FC1 -> float [1,C,H,W] owning its memory.
torch::Tensor matToTensor(const cv::Mat& m) {
  cv::Mat f;
  if (m.depth() == CV_8U)
    m.convertTo(f, CV_32F, 1.0 / 255.0);
  else if (m.depth() == CV_32F)
    f = m.isContinuous() ? m : m.clone();
  else
    fail("image depth must be 8U or 32F");
  if (!f.isContinuous()) f = f.clone();
  auto view = torch::from_blob(f.data, {1, f.rows, f.cols, f.channels()}, torch::kFloat);
  return view.permute({0, 3, 1, 2}).clone(at::MemoryFormat::Contiguous);
}

// matToTensor on `device`; on CUDA through pinned host memory, asynchronously.
torch::Tensor upload(const cv::Mat& m, const torch::Device& device) {
  if (!device.is_cuda()) return matToTensor(m).to(device);
  return matToTensor(m).pin_memory().to(device, torch::kFloat, /*non_blocking=*/true);
}

// [1,C,H,W] -> CV_32FC(C), a copy.
cv::Mat tensorToMat(const torch::Tensor& t) {
  auto hwc = t.detach().to(torch::kCPU, torch::kFloat).permute({0, 2, 3, 1}).contiguous();
  cv::Mat view(static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(2)),
               CV_32FC(static_cast<int>(hwc.size(3))), hwc.data_ptr<float>());
  return view.clone();
}

// A coarse scale's result [1,C,h,w] enlarged to `size` where it is (the device): bilinear with
// half-pixel centres and clamped edges, which is what cv::resize's INTER_LINEAR computes for
// an enlargement (resizeTo below), without the download and upload that cv::resize needs.
torch::Tensor upsample(const torch::Tensor& x, const cv::Size& size) {
  if (x.size(2) == size.height && x.size(3) == size.width) return x.detach();
  namespace F = torch::nn::functional;
  return F::interpolate(x.detach(), F::InterpolateFuncOptions()
                                        .size(std::vector<std::int64_t>{size.height, size.width})
                                        .mode(torch::kBilinear)
                                        .align_corners(false));
}

cv::Mat resizeTo(const cv::Mat& m, const cv::Size& size) {
  if (m.size() == size) return m;
  cv::Mat out;
  const bool shrink = size.width <= m.cols && size.height <= m.rows;
  cv::resize(m, out, size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

// Per-scale inputs on the device.
struct GuideTensors {
  torch::Tensor warped, certainty;
};

struct TermTensors {
  torch::Tensor total, content, style, tv, temporal;
  // One host transfer for all five.
  LossTerms read() const {
    auto v = torch::stack({total, content, style, tv, temporal})
                 .detach()
                 .to(torch::kCPU, torch::kDouble);
    auto a = v.accessor<double, 1>();
    return {a[0], a[1], a[2], a[3], a[4]};
  }
};

// Sets the loss network's compute type for a scope; float32 again at its end.
class ComputeTypeScope {
 public:
  ComputeTypeScope(LossNetwork& net, torch::ScalarType type) : net_(net) { net_.setComputeType(type); }
  ~ComputeTypeScope() { net_.setComputeType(torch::kFloat); }
  ComputeTypeScope(const ComputeTypeScope&) = delete;
  ComputeTypeScope& operator=(const ComputeTypeScope&) = delete;

 private:
  LossNetwork& net_;
};

torch::ScalarType computeTypeOf(Precision p) {
  return p == Precision::BFloat16 ? torch::kBFloat16 : torch::kFloat;
}

}  // namespace

std::string OptimizePrecision::describe() const {
  std::string s = toString(used);
  if (requested != Precision::Auto) return s;
  if (used == Precision::Auto) return "auto (not yet decided)";
  if (lossDiff < 0) return s + " (auto: no native bfloat16 on this device)";
  char diff[160];
  std::snprintf(diff, sizeof diff, "loss %.2e, gradient %.2e relative difference at the start", lossDiff,
                gradDiff);
  return s + " (auto: " + (used == Precision::Float32 ? "bfloat16 rejected, " : "") + "vs float32 " + diff + ")";
}

struct StyleOptimizer::Impl {
  std::shared_ptr<LossNetwork> net;
  OptimizeConfig cfg;
  torch::Device device{torch::kCPU};
  std::vector<cv::Mat> styles;
  std::vector<double> blend;
  std::string contentLayer;
  std::vector<std::string> styleLayers;
  std::vector<double> layerWeights;  // sum to 1
  std::vector<std::string> layers;   // content + style, for one extract()
  std::map<std::pair<int, int>, std::vector<torch::Tensor>> gramCache;  // (h, w)
  OptimizePrecision precision;
  // Tiling (cfg.tile > 0): the margin of each tile and the stride of each layer used.
  int halo = 0;
  std::map<std::string, int> strides;


  void checkLayer(const std::string& name) const {
    auto names = net->layerNames();
    auto avail = net->availableLayers();
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s.empty() ? std::string("(none)") : s;
    };
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw std::runtime_error(net->path() + ": unknown layer '" + name + "' for " + net->arch() +
                               "; layers: " + join(names));
    if (std::find(avail.begin(), avail.end(), name) == avail.end())
      throw std::runtime_error(net->path() + ": layer '" + name +
                               "' is not in these weights; available: " + join(avail));
  }

  // Blend-weighted Gram targets of the style images for a content of size (h, w).
  const std::vector<torch::Tensor>& styleTargets(int h, int w) {
    auto key = std::make_pair(h, w);
    if (auto it = gramCache.find(key); it != gramCache.end()) return it->second;
    std::vector<torch::Tensor> targets(styleLayers.size());
    {
      c10::InferenceMode guard;
      const double longSide = cfg.styleScale * std::max(h, w);
      for (size_t i = 0; i < styles.size(); ++i) {
        const cv::Mat& s = styles[i];
        const double f = longSide / std::max(s.cols, s.rows);
        cv::Size size(std::max(1, static_cast<int>(std::lround(s.cols * f))),
                      std::max(1, static_cast<int>(std::lround(s.rows * f))));
        auto x = upload(resizeTo(s, size), device);
        std::vector<torch::Tensor> grams;
        if (cfg.tile > 0) {
          grams = tiledSums(x, nullptr).grams;
        } else {
          auto feats = net->extract(x, styleLayers);
          for (const auto& layer : styleLayers) grams.push_back(losses::gramMatrix(feats.at(layer)));
        }
        for (size_t l = 0; l < styleLayers.size(); ++l) {
          auto g = grams[l].mul(blend[i]);
          targets[l] = targets[l].defined() ? targets[l] + g : g;
        }
      }
    }
    for (auto& t : targets) t = t.clone();  // normal tensors, usable with autograd
    return gramCache.emplace(key, std::move(targets)).first->second;
  }

  torch::Tensor contentTarget(const torch::Tensor& content) {
    torch::Tensor f;
    {
      c10::InferenceMode guard;
      f = net->extract(content, {contentLayer}).at(contentLayer);
    }
    return f.clone();
  }

  struct Problem {
    torch::Tensor contentFeatures;
    const std::vector<torch::Tensor>* grams = nullptr;
    std::vector<GuideTensors> guides;
    // Tiled: the content activations of each tile's own part, and ||Fc||^2 of them all.
    std::vector<torch::Tensor> tileContent;
    torch::Tensor contentNorm;
  };

  Problem makeProblem(const cv::Mat& content8, const std::vector<TemporalGuide>& guides) {
    Problem p;
    if (cfg.tile > 0) {
      const auto content = upload(content8, device);
      torch::NoGradGuard noGrad;
      p.contentNorm = torch::zeros({}, content.options());
      for (const auto& t : tilesFor(content8.rows, content8.cols)) {
        auto f = innerPart(net->extract(crop(content, t.outer), {contentLayer}).at(contentLayer), t,
                           strides.at(contentLayer), content8.rows, content8.cols);
        p.contentNorm += f.pow(2).sum();
        p.tileContent.push_back(f.clone());
      }
    } else {
      p.contentFeatures = contentTarget(upload(content8, device));
    }
    p.grams = &styleTargets(content8.rows, content8.cols);
    for (const auto& g : guides)
      p.guides.push_back({upload(g.warped, device),
                          upload(g.weight == 1 ? g.certainty : cv::Mat(g.certainty * g.weight), device)});
    return p;
  }

  // cw*content + sw*style + tvw*TV (+ tw*temporal with guides).
  torch::Tensor weightedTotal(const TermTensors& t, bool temporal) const {
    auto total = t.content * cfg.contentWeight + t.style * cfg.styleWeight + t.tv * cfg.tvWeight;
    return temporal ? total + t.temporal * cfg.temporalWeight : total;
  }

  // The loss of clamp(x, 0, 1): see the top of the file.
  TermTensors terms(const torch::Tensor& unclamped, const Problem& p) {
    const torch::Tensor x = unclamped.clamp(0.0, 1.0);
    auto feats = net->extract(x, layers);
    TermTensors t;
    t.content = losses::content(feats.at(contentLayer), p.contentFeatures);
    t.style = torch::zeros({}, x.options());
    for (size_t l = 0; l < styleLayers.size(); ++l)
      t.style = t.style + losses::style(losses::gramMatrix(feats.at(styleLayers[l])),
                                        (*p.grams)[l]) *
                              layerWeights[l];
    t.tv = losses::totalVariation(x);
    t.temporal = torch::zeros({}, x.options());
    for (const auto& g : p.guides) t.temporal = t.temporal + losses::temporal(x, g.warped, g.certainty);
    t.total = weightedTotal(t, !p.guides.empty());
    return t;
  }

  // ---- tiling (cfg.tile > 0; OptimizeConfig::tile) -------------------------------------
  struct Tile {
    cv::Rect inner;  // the pixels this tile answers for
    cv::Rect outer;  // inner with the halo, clipped to the image: what the network sees
  };
  std::vector<Tile> tilesFor(int h, int w) const {
    std::vector<Tile> tiles;
    for (int y = 0; y < h; y += cfg.tile)
      for (int x = 0; x < w; x += cfg.tile) {
        const cv::Rect inner(x, y, std::min(cfg.tile, w - x), std::min(cfg.tile, h - y));
        const int x0 = std::max(0, x - halo), y0 = std::max(0, y - halo);
        const int x1 = std::min(w, inner.br().x + halo), y1 = std::min(h, inner.br().y + halo);
        tiles.push_back({inner, cv::Rect(x0, y0, x1 - x0, y1 - y0)});
      }
    return tiles;
  }
  static torch::Tensor crop(const torch::Tensor& image, const cv::Rect& r) {
    return image.narrow(2, r.y, r.height).narrow(3, r.x, r.width);
  }
  // The activations (of a layer of this stride) that belong to t.inner, cut from those of
  // t.outer. Cuts fall on multiples of the stride; at the image's right and bottom edges the
  // whole image's grid ends where the tile's does (floor(size / stride)).
  static torch::Tensor innerPart(const torch::Tensor& f, const Tile& t, int stride, int h, int w) {
    auto cut = [&](const torch::Tensor& a, int64_t dim, int in0, int in1, int out0, int full) {
      const int64_t begin = (in0 - out0) / stride;
      const int64_t end = in1 == full ? a.size(dim) : (in1 - out0) / stride;
      return a.narrow(dim, begin, std::max<int64_t>(0, end - begin));
    };
    return cut(cut(f, 2, t.inner.y, t.inner.br().y, t.outer.y, h), 3, t.inner.x, t.inner.br().x,
               t.outer.x, w);
  }
  // F F^T of activations [1,C,h,w] (not normalized), through the fast gramMatrix.
  static torch::Tensor outerProduct(const torch::Tensor& f) {
    return losses::gramMatrix(f.contiguous()) * static_cast<double>(f.size(1) * f.size(2) * f.size(3));
  }
  // The number of activations of a layer over the whole image (gramMatrix's C*H*W).
  int64_t wholeCount(const std::string& layer, int64_t channels, int h, int w) const {
    const int s = strides.at(layer);
    return channels * (h / s) * (w / s);
  }

  struct Sums {
    std::vector<torch::Tensor> grams;  // the whole image's Gram matrix at each style layer
    torch::Tensor contentDiff;         // sum of (F - Fc)^2 at the content layer (with targets)
  };
  // One pass over the tiles without gradients: the Gram matrices of image01 (and the content
  // difference against `contentTargets`, one per tile, when given).
  Sums tiledSums(const torch::Tensor& image01, const std::vector<torch::Tensor>* contentTargets) {
    torch::NoGradGuard noGrad;
    const int h = static_cast<int>(image01.size(2)), w = static_cast<int>(image01.size(3));
    const auto tiles = tilesFor(h, w);
    Sums s;
    s.grams.resize(styleLayers.size());
    s.contentDiff = torch::zeros({}, image01.options());
    for (size_t i = 0; i < tiles.size(); ++i) {
      auto feats = net->extract(crop(image01, tiles[i].outer), contentTargets ? layers : styleLayers);
      for (size_t l = 0; l < styleLayers.size(); ++l) {
        const auto f = innerPart(feats.at(styleLayers[l]), tiles[i], strides.at(styleLayers[l]), h, w);
        if (!s.grams[l].defined()) s.grams[l] = torch::zeros({1, f.size(1), f.size(1)}, f.options());
        if (f.numel() > 0) s.grams[l] += outerProduct(f);
      }
      if (contentTargets) {
        const auto f = innerPart(feats.at(contentLayer), tiles[i], strides.at(contentLayer), h, w);
        s.contentDiff += (f - (*contentTargets)[i]).pow(2).sum();
      }
    }
    for (size_t l = 0; l < styleLayers.size(); ++l)
      s.grams[l] /= static_cast<double>(wholeCount(styleLayers[l], s.grams[l].size(1), h, w));
    return s;
  }

  // The loss terms at x, tile by tile; with `gradient`, also the whole image's gradient of the
  // total into x.grad(): a second pass over the tiles backpropagates, per tile, the loss
  // linearized in its own F F^T around the Gram matrices of the first pass (the same gradient,
  // since the style term depends on the activations only through the sum of those products).
  TermTensors tiledTerms(const torch::Tensor& x, const Problem& p, bool gradient) {
    const int h = static_cast<int>(x.size(2)), w = static_cast<int>(x.size(3));
    const torch::Tensor x01 = x.detach().clamp(0.0, 1.0);
    const Sums sums = tiledSums(x01, &p.tileContent);
    TermTensors t;
    t.content = sums.contentDiff / p.contentNorm.clamp_min(losses::kTinyNorm);
    t.style = torch::zeros({}, x.options());
    std::vector<torch::Tensor> dGram(styleLayers.size());  // d total / d (F F^T), per layer
    for (size_t l = 0; l < styleLayers.size(); ++l) {
      const auto& target = (*p.grams)[l];
      t.style = t.style + losses::style(sums.grams[l], target) * layerWeights[l];
      const double n = static_cast<double>(wholeCount(styleLayers[l], target.size(1), h, w));
      dGram[l] = (sums.grams[l] - target) * 2.0 * cfg.styleWeight * layerWeights[l] /
                 target.pow(2).sum().clamp_min(losses::kTinyNorm) / n;
    }
    torch::Tensor grad;
    if (gradient) {
      grad = torch::zeros_like(x);
      const auto tiles = tilesFor(h, w);
      const auto contentScale = cfg.contentWeight / p.contentNorm.clamp_min(losses::kTinyNorm);
      for (size_t i = 0; i < tiles.size(); ++i) {
        auto xt = crop(x.detach(), tiles[i].outer).clone().set_requires_grad(true);
        auto feats = net->extract(xt.clamp(0.0, 1.0), layers);
        auto sum = torch::zeros({}, x.options());
        for (size_t l = 0; l < styleLayers.size(); ++l) {
          const auto f = innerPart(feats.at(styleLayers[l]), tiles[i], strides.at(styleLayers[l]), h, w);
          if (f.numel() > 0) sum = sum + (outerProduct(f) * dGram[l]).sum();
        }
        const auto fc = innerPart(feats.at(contentLayer), tiles[i], strides.at(contentLayer), h, w);
        sum = sum + (fc - p.tileContent[i]).pow(2).sum() * contentScale;
        sum.backward();
        crop(grad, tiles[i].outer).add_(xt.grad());
      }
    }
    // TV and the temporal term are per pixel: on the whole image at once.
    auto xw = x.detach().clone().set_requires_grad(gradient);
    const auto xc = xw.clamp(0.0, 1.0);
    t.tv = losses::totalVariation(xc);
    t.temporal = torch::zeros({}, x.options());
    for (const auto& g : p.guides) t.temporal = t.temporal + losses::temporal(xc, g.warped, g.certainty);
    auto pixels = t.tv * cfg.tvWeight;
    if (!p.guides.empty()) pixels = pixels + t.temporal * cfg.temporalWeight;
    if (gradient) {
      pixels.backward();
      x.mutable_grad() = grad + xw.grad();
    }
    t.tv = t.tv.detach();
    t.temporal = t.temporal.detach();
    t.total = weightedTotal(t, !p.guides.empty());
    return t;
  }

  // The loss at x and its gradient into x.grad() (x a leaf that requires grad).
  TermTensors lossAndGradient(const torch::Tensor& x, const Problem& p) {
    if (cfg.tile > 0) return tiledTerms(x, p, true);
    auto t = terms(x, p);
    t.total.backward();
    return t;
  }

  // Precision::Auto: loss and gradient at the first start x0 in float32 and bfloat16.
  void decidePrecision(const torch::Tensor& x0, const Problem& p) {
    auto lossAndGrad = [&](torch::ScalarType type) {
      ComputeTypeScope scope(*net, type);
      auto x = x0.detach().clone().set_requires_grad(true);
      auto t = lossAndGradient(x, p);
      return std::make_pair(t.total.item<double>(), x.grad().detach().clone());
    };
    const auto [lf, gf] = lossAndGrad(torch::kFloat);
    const auto [lb, gb] = lossAndGrad(torch::kBFloat16);
    precision.lossDiff = std::abs(lb - lf) / std::max(std::abs(lf), 1e-30);
    precision.gradDiff = (gb - gf).norm().item<double>() / std::max(gf.norm().item<double>(), 1e-30);
    const bool keep = std::isfinite(lb) && precision.lossDiff <= cfg.precisionTolerance &&
                      precision.gradDiff <= 50 * cfg.precisionTolerance;
    precision.used = keep ? Precision::BFloat16 : Precision::Float32;
  }

  // Optimizes x (float [1,3,H,W] in [0,1], on device) for at most `iterations`.
  // Returns the iterations run.
  int optimize(torch::Tensor& x, const Problem& p, int iterations, int offset, int cap,
               const std::function<void(const OptimizeProgress&)>& progress) {
    ComputeTypeScope computeType(*net, computeTypeOf(precision.used));
    x.set_requires_grad(true);
    struct Eval {
      torch::Tensor x, grad;
      TermTensors terms;
    };
    std::vector<Eval> evals;
    auto evaluate = [&]() -> const Eval& {
      for (const auto& e : evals)
        if (torch::equal(e.x, x.detach())) {
          x.mutable_grad() = e.grad;
          return e;
        }
      x.mutable_grad() = torch::Tensor();
      auto t = lossAndGradient(x, p);
      evals.push_back({x.detach().clone(), x.grad(), t});
      return evals.back();
    };
    auto project = [&] {
      torch::NoGradGuard noGrad;
      x.clamp_(0.0, 1.0);
    };

    std::unique_ptr<torch::optim::Optimizer> opt;
    if (cfg.optimizer == OptimizerKind::Lbfgs) {
      opt = std::make_unique<torch::optim::LBFGS>(
          std::vector<torch::Tensor>{x}, torch::optim::LBFGSOptions(1.0)
                                             .max_iter(1)
                                             .max_eval(64)
                                             .history_size(kLbfgsHistory)
                                             .tolerance_grad(0.0)
                                             .line_search_fn("strong_wolfe"));
    } else {
      opt = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{x},
                                                 torch::optim::AdamOptions(cfg.learningRate));
    }

    // The loss is read on the host only every `every` iterations (see OptimizeConfig::lossEvery).
    // LibTorch's LBFGS itself still synchronizes inside step() (its line search and
    // tolerance tests use .item()); Adam's loop has no other host synchronization.
    const int every = cfg.lossEvery > 0 ? cfg.lossEvery : (device.is_cuda() ? kCudaLossEvery : 1);
    double previous = 0;
    int lastRead = 0;  // done at the previous read; 0: none yet
    int done = 0;
    for (int k = 0; k < iterations; ++k) {
      TermTensors current;
      if (cfg.optimizer == OptimizerKind::Lbfgs) {
        opt->step([&]() -> torch::Tensor { return evaluate().terms.total.detach(); });
        // The evaluation at the accepted point (what the next step() starts from, found
        // in the cache by its image); keep only it. No projection here: see the top.
        const Eval& e = evaluate();
        Eval keep = e;
        evals.clear();
        evals.push_back(std::move(keep));
        current = evals.back().terms;
      } else {
        evals.clear();
        const Eval& e = evaluate();
        current = e.terms;
        opt->step();
        project();  // Adam: projected gradient steps
      }
      ++done;
      if (done % every != 0 && k + 1 < iterations) continue;
      const LossTerms now = current.read();
      if (!std::isfinite(now.total))
        fail("the loss became " + std::to_string(now.total) +
             " (diverged; lower the learning rate or the weights)");
      if (progress) progress({offset + done, cap, now});
      const bool converged = lastRead > 0 && std::abs(now.total - previous) <=
                                                 cfg.tolerance * (done - lastRead) * std::abs(previous);
      const bool stalled = lastRead > 0 && now.total == previous;
      previous = now.total;
      lastRead = done;
      if (converged || stalled) break;
    }
    x.set_requires_grad(false);
    x.mutable_grad() = torch::Tensor();
    return done;
  }

  static constexpr int kCudaLossEvery = 10;
};

TileGeometry optimizeTileGeometry(const std::string& arch, const std::vector<std::string>& layers) {
  TileGeometry g{1, 0};
  int radius = 0;
  for (const auto& layer : layers) {
    const int stride = lossLayerStride(arch, layer);
    if (stride <= 0) return {};
    g.align = std::max(g.align, stride);
    radius = std::max(radius, lossLayerRadius(arch, layer));
  }
  g.halo = (radius + g.align - 1) / g.align * g.align;  // keeps every tile's cut on the grid
  return g;
}

int optimizerStateImages(OptimizerKind kind) {
  constexpr int kLbfgsWorkingImages = 8;  // image, gradient, direction, line-search copies
  constexpr int kAdamImages = 6;          // image, gradient, two moments, working copies
  return kind == OptimizerKind::Lbfgs ? kLbfgsImagesPerHistoryEntry * kLbfgsHistory + kLbfgsWorkingImages
                                      : kAdamImages;
}

StyleOptimizer::StyleOptimizer(std::shared_ptr<LossNetwork> network, const OptimizeConfig& config,
                               std::vector<cv::Mat> styles, std::vector<double> blend)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  if (!network) fail("no loss network");
  m.net = std::move(network);
  m.cfg = config;
  const auto& c = m.cfg;
  if (c.contentWeight < 0 || c.styleWeight < 0 || c.tvWeight < 0 || c.temporalWeight < 0)
    fail("loss weights must be >= 0");
  if (!(c.styleScale > 0)) fail("styleScale must be > 0");
  if (c.iterations < 1) fail("iterations must be >= 1");
  if (c.scales < 1 || c.scales > 8) fail("scales must be in 1..8");
  if (!(c.learningRate > 0)) fail("learningRate must be > 0");
  if (!(c.precisionTolerance >= 0)) fail("precisionTolerance must be >= 0");
  if (c.precision == Precision::Float16)
    fail("precision float16 is not supported by the optimizer (use bfloat16 or float32)");
  if (c.tolerance < 0) fail("tolerance must be >= 0");
  if (c.lossEvery < 0) fail("lossEvery must be >= 0");

  if (styles.empty()) fail("no style image");
  for (size_t i = 0; i < styles.size(); ++i)
    if (styles[i].empty() || styles[i].type() != CV_8UC3)
      fail("style image " + std::to_string(i + 1) + " must be a non-empty CV_8UC3 RGB image");
  if (blend.empty()) blend.assign(styles.size(), 1.0);
  if (blend.size() != styles.size())
    fail(std::to_string(blend.size()) + " blend weights for " + std::to_string(styles.size()) +
         " style images");
  double sum = 0;
  for (double b : blend) {
    if (!(b >= 0) || !std::isfinite(b)) fail("blend weights must be finite and >= 0");
    sum += b;
  }
  if (!(sum > 0)) fail("blend weights sum to 0");
  for (double& b : blend) b /= sum;
  m.styles = std::move(styles);
  m.blend = std::move(blend);

  m.contentLayer = c.contentLayer.empty() ? m.net->defaultContentLayer() : c.contentLayer;
  m.styleLayers = c.styleLayers.empty() ? m.net->defaultStyleLayers() : c.styleLayers;
  m.checkLayer(m.contentLayer);
  for (const auto& l : m.styleLayers) m.checkLayer(l);
  m.layerWeights = c.styleLayerWeights;
  if (m.layerWeights.empty()) m.layerWeights.assign(m.styleLayers.size(), 1.0);
  if (m.layerWeights.size() != m.styleLayers.size())
    fail(std::to_string(m.layerWeights.size()) + " style layer weights for " +
         std::to_string(m.styleLayers.size()) + " style layers");
  double lsum = 0;
  for (double w : m.layerWeights) {
    if (!(w >= 0) || !std::isfinite(w)) fail("style layer weights must be finite and >= 0");
    lsum += w;
  }
  if (!(lsum > 0)) fail("style layer weights sum to 0");
  for (double& w : m.layerWeights) w /= lsum;
  m.layers = m.styleLayers;
  if (std::find(m.layers.begin(), m.layers.end(), m.contentLayer) == m.layers.end())
    m.layers.push_back(m.contentLayer);
  if (c.tile < 0) fail("tile must be >= 0 (0: the whole image)");
  if (c.tile > 0) {
    const TileGeometry g = optimizeTileGeometry(m.net->arch(), m.layers);
    if (g.align == 0) fail("the " + m.net->arch() + " loss network cannot be tiled (vgg19 can)");
    if (c.tile % g.align != 0)
      fail("tile " + std::to_string(c.tile) + " is not a multiple of " + std::to_string(g.align) +
           " (the stride of the deepest layer used)");
    for (const auto& layer : m.layers) m.strides[layer] = m.net->layerStride(layer);
    m.halo = g.halo;
  }

  m.device = resolveDevice(c.device);
  if (m.net->device() != m.device) m.net->to(m.device);
  m.precision.requested = c.precision;
  m.precision.used = c.precision;
  if (c.precision == Precision::Auto && !(m.device.is_cpu() && cpuHasNativeBFloat16()))
    m.precision.used = Precision::Float32;
}

const OptimizePrecision& StyleOptimizer::precision() const { return impl_->precision; }
int StyleOptimizer::tileHalo() const { return impl_->halo; }

StyleOptimizer::~StyleOptimizer() = default;

namespace {

void checkInputs(const cv::Mat& content, const cv::Mat& init,
                 const std::vector<TemporalGuide>& guides) {
  if (content.empty() || content.type() != CV_8UC3)
    fail("content must be a non-empty CV_8UC3 RGB image");
  if (!init.empty() && (init.type() != CV_32FC3 || init.size() != content.size()))
    fail("init must be CV_32FC3 of the content's size " + sizeString(content.size()));
  for (size_t i = 0; i < guides.size(); ++i) {
    const auto& g = guides[i];
    if (g.warped.type() != CV_32FC3 || g.warped.size() != content.size())
      fail("temporal guide " + std::to_string(i + 1) + ": warped must be CV_32FC3 of size " +
           sizeString(content.size()));
    if (g.certainty.type() != CV_32FC1 || g.certainty.size() != content.size())
      fail("temporal guide " + std::to_string(i + 1) + ": certainty must be CV_32FC1 of size " +
           sizeString(content.size()));
    if (!(g.weight >= 0 && std::isfinite(g.weight)))
      fail("temporal guide " + std::to_string(i + 1) + ": weight must be a finite number >= 0");
  }
}

}  // namespace

OptimizeResult StyleOptimizer::run(const cv::Mat& content, const cv::Mat& init,
                                   const std::vector<TemporalGuide>& guides, int iterations,
                                   const std::function<void(const OptimizeProgress&)>& progress) {
  Impl& m = *impl_;
  checkInputs(content, init, guides);
  if (init.empty() && m.cfg.init == InitKind::Image)
    fail("init is InitKind::Image but no init image was given");
  const int perScale = iterations > 0 ? iterations : m.cfg.iterations;
  const int scales = m.cfg.scales;
  const int cap = perScale * scales;

  OptimizeResult result;
  torch::Tensor x;
  for (int s = scales - 1; s >= 0; --s) {
    const cv::Size size(std::max(1, static_cast<int>(std::lround(content.cols / std::ldexp(1.0, s)))),
                        std::max(1, static_cast<int>(std::lround(content.rows / std::ldexp(1.0, s)))));
    const cv::Mat contentS = resizeTo(content, size);
    std::vector<TemporalGuide> guidesS;
    for (const auto& g : guides) guidesS.push_back({resizeTo(g.warped, size), resizeTo(g.certainty, size), g.weight});

    if (!x.defined()) {
      if (!init.empty()) {
        x = matToTensor(resizeTo(init, size)).clamp(0.0, 1.0);
      } else if (m.cfg.init == InitKind::Random) {
        auto gen = at::detail::createCPUGenerator(m.cfg.seed);
        x = torch::rand({1, 3, size.height, size.width}, gen, torch::kFloat);
      } else {
        x = matToTensor(contentS);
      }
      x = x.to(m.device);
    } else {
      x = upsample(x, size).clamp(0.0, 1.0);  // on the device: no download between scales
    }
    const auto problem = m.makeProblem(contentS, guidesS);
    if (m.precision.used == Precision::Auto) m.decidePrecision(x, problem);
    result.iterations += m.optimize(x, problem, perScale, result.iterations, cap, progress);
  }

  cv::Mat out = tensorToMat(x.clamp(0.0, 1.0));
  if (m.cfg.preserveColors) out = keepContentColors(out, content);
  result.imageFloat = out;
  out.convertTo(result.image, CV_8UC3, 255.0);
  result.loss = evaluate(content, out, guides);
  return result;
}

namespace detail {
cv::Mat upsampleBetweenScales(const cv::Mat& image, const cv::Size& size) {
  if (image.empty() || (image.type() != CV_32FC3 && image.type() != CV_32FC1))
    fail("upsampleBetweenScales: image must be CV_32FC3 or CV_32FC1");
  if (size.width < image.cols || size.height < image.rows)
    fail("upsampleBetweenScales: " + sizeString(size) + " is smaller than " + sizeString(image.size()));
  return tensorToMat(upsample(matToTensor(image), size));
}
}  // namespace detail

LossTerms StyleOptimizer::evaluate(const cv::Mat& content, const cv::Mat& image,
                                   const std::vector<TemporalGuide>& guides) {
  Impl& m = *impl_;
  checkInputs(content, {}, guides);
  if (image.size() != content.size() || (image.type() != CV_32FC3 && image.type() != CV_8UC3))
    fail("image must be CV_32FC3 or CV_8UC3 of the content's size " + sizeString(content.size()));
  const auto problem = m.makeProblem(content, guides);
  if (m.cfg.tile > 0) return m.tiledTerms(upload(image, m.device), problem, false).read();
  c10::InferenceMode guard;
  return m.terms(upload(image, m.device), problem).read();
}

}  // namespace flowstyle::models
