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
        auto feats = net->extract(x, styleLayers);
        for (size_t l = 0; l < styleLayers.size(); ++l) {
          auto g = losses::gramMatrix(feats.at(styleLayers[l])).mul(blend[i]);
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
  };

  Problem makeProblem(const cv::Mat& content8, const std::vector<TemporalGuide>& guides) {
    Problem p;
    p.contentFeatures = contentTarget(upload(content8, device));
    p.grams = &styleTargets(content8.rows, content8.cols);
    for (const auto& g : guides)
      p.guides.push_back({upload(g.warped, device),
                          upload(g.weight == 1 ? g.certainty : cv::Mat(g.certainty * g.weight), device)});
    return p;
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
    t.total = t.content * cfg.contentWeight + t.style * cfg.styleWeight + t.tv * cfg.tvWeight;
    if (!p.guides.empty()) t.total = t.total + t.temporal * cfg.temporalWeight;
    return t;
  }

  // Precision::Auto: loss and gradient at the first start x0 in float32 and bfloat16.
  void decidePrecision(const torch::Tensor& x0, const Problem& p) {
    auto lossAndGrad = [&](torch::ScalarType type) {
      ComputeTypeScope scope(*net, type);
      auto x = x0.detach().clone().set_requires_grad(true);
      auto t = terms(x, p);
      t.total.backward();
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
      auto t = terms(x, p);
      t.total.backward();
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

  m.device = resolveDevice(c.device);
  if (m.net->device() != m.device) m.net->to(m.device);
  m.precision.requested = c.precision;
  m.precision.used = c.precision;
  if (c.precision == Precision::Auto && !(m.device.is_cpu() && cpuHasNativeBFloat16()))
    m.precision.used = Precision::Float32;
}

const OptimizePrecision& StyleOptimizer::precision() const { return impl_->precision; }

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
  c10::InferenceMode guard;
  return m.terms(upload(image, m.device), problem).read();
}

}  // namespace flowstyle::models
