#include "pipeline/frame_stylizer.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/fast_network.hpp"
#include "models/loss_network.hpp"
#include "models/model_store.hpp"
#include "pipeline/arbitrary_stylizer.hpp"
#include "pipeline/image_ops.hpp"

namespace flowstyle::pipeline {
namespace {

class CopyStylizer final : public FrameStylizer {
 public:
  StylizeOutcome stylize(const StylizeRequest& request) override {
    StylizeOutcome out;
    out.image = toFloat01(request.content);
    return out;
  }
};

class OptimizeStylizer : public FrameStylizer {
 public:
  OptimizeStylizer(const Config& config, IterationCallback onIteration)
      : style_(config.style), onIteration_(std::move(onIteration)) {
    models::OptimizeConfig optimize = config.style.optimize;
    optimize.device = config.run.device;
    // --tile: checkMemory has resolved automatic tiles (or left whole images); hybrid's
    // network tiles at the same side.
    optimize.tile = std::max(0, config.fast.tile);
    const std::string netPath =
        models::resolveModel(config.style.lossNet, models::ModelKind::LossNetwork);
    std::shared_ptr<models::LossNetwork> network = models::loadLossNetwork(netPath);
    optimizer_ = std::make_unique<models::StyleOptimizer>(
        std::move(network), optimize, loadStyleImages(config.style.styles), config.style.blend);
    tile_ = optimize.tile;
    if (!config.style.initPath.empty()) initImage_ = loadRgbImage(config.style.initPath, "init image");
  }

  std::vector<int> temporalOffsets() const override { return style_.longTerm; }
  std::string describe() const override {
    const int halo = optimizer_->tileHalo();
    return "optimizer " + optimizer_->precision().describe() +
           (halo > 0 ? "; tiled: tiles of " + std::to_string(tile_) + " px, halo " + std::to_string(halo) : "");
  }
  std::map<std::string, std::string> settledChoices() const override {
    // The tile side (automatic: what fitted the memory at the start) decides the last bits
    // of every frame, as the number format does: a resumed run keeps the first run's.
    return {{"optimizer_precision", models::toString(optimizer_->precision().used)},
            {"tile", std::to_string(tile_)}};
  }

  StylizeOutcome stylize(const StylizeRequest& request) override {
    const bool first = request.guides.empty();
    cv::Mat init = request.init;
    if (first && !initImage_.empty()) {
      cv::Mat resized;
      cv::resize(initImage_, resized, request.content.size(), 0, 0, cv::INTER_AREA);
      init = toFloat01(resized);
    }
    return optimizeFrom(request, init, first ? style_.iterationsFirst : style_.iterations);
  }

 protected:
  StylizeOutcome optimizeFrom(const StylizeRequest& request, const cv::Mat& init, int iterations) {
    models::OptimizeResult result =
        optimizer_->run(request.content, init, request.guides, iterations, onIteration_);
    StylizeOutcome out;
    out.image = result.imageFloat;
    out.iterations = result.iterations;
    out.loss = result.loss;
    return out;
  }

  StyleConfig style_;

 private:
  IterationCallback onIteration_;
  std::unique_ptr<models::StyleOptimizer> optimizer_;
  int tile_ = 0;  // models::OptimizeConfig::tile
  cv::Mat initImage_;  // CV_8UC3 RGB, --init PATH
};

models::FastNetworkOptions networkOptions(const FastConfig& fast) {
  models::FastNetworkOptions options;
  options.precision = fast.precision;
  options.borderPad = fast.borderPad;
  options.tile = std::max(0, fast.tile);  // automatic: checkMemory has resolved it, or whole frames
  return options;
}

std::string describeNetwork(const models::FastStyleNetwork& network) {
  const std::string fallbacks = network.fallbacks();
  const std::string tiling = network.tiling();
  return "style network " + network.name() + ", " + network.precision().describe() +
         (tiling.empty() ? std::string() : "; tiled: " + tiling) +
         (fallbacks.empty() ? std::string() : "; " + fallbacks);
}

// A single-pass network's output (CV_8UC3) held, where the motion is reliable, on the
// previous output warped into place: weight * certainty of the nearest guide.
StylizeOutcome stabilized(const cv::Mat& net, const StylizeRequest& request, double weight) {
  StylizeOutcome out;
  out.image = toFloat01(net);
  if (!request.guides.empty() && weight > 0) {
    const models::TemporalGuide& g = request.guides.front();
    out.image = blendByWeight(out.image, g.warped, g.certainty * weight);
  }
  return out;
}

// --temporal-weight as given, else the network's own blend.
double blendWeight(const FastConfig& fast, double networkOwn) {
  return fast.temporalWeight == kNetworkTemporalWeight ? networkOwn : fast.temporalWeight;
}

class FastStylizer : public FrameStylizer {
 public:
  explicit FastStylizer(const Config& config)
      : fast_(config.fast),
        network_(models::resolveModel(config.fast.model, models::ModelKind::StyleNetwork),
                 config.run.device, networkOptions(config.fast)),
        weight_(blendWeight(config.fast, kTemporalWeight)) {}

  int batchSize() const override { return fast_.batch; }
  std::vector<int> temporalOffsets() const override {
    return weight_ > 0 ? std::vector<int>{1} : std::vector<int>{};
  }
  std::vector<cv::Mat> prepareBatch(const std::vector<cv::Mat>& contents) override {
    return network_(contents);
  }

  std::string describe() const override { return describeNetwork(network_); }
  std::map<std::string, std::string> settledChoices() const override {
    // The tile side decides the output's last bits: a resumed run keeps the first run's.
    return {{"precision", models::toString(network_.precision().used)},
            {"tile", std::to_string(std::max(0, fast_.tile))}};
  }

  StylizeOutcome stylize(const StylizeRequest& request) override {
    const cv::Mat net = request.prepared.empty() ? network_({request.content}).front() : request.prepared;
    return stabilized(net, request, weight_);
  }

 protected:
  FastConfig fast_;
  models::FastStyleNetwork network_;
  double weight_;  // stabilization blend
};

// An arbitrary-style network (any style image, one pass), stabilized like the fast path.
class ArbitraryStylizer final : public FrameStylizer {
 public:
  explicit ArbitraryStylizer(const Config& config)
      : fast_(config.fast), painter_(config), weight_(blendWeight(config.fast, stabilizationWeight(painter_.arch()))) {}

  int batchSize() const override { return fast_.batch; }
  std::vector<int> temporalOffsets() const override {
    return weight_ > 0 ? std::vector<int>{1} : std::vector<int>{};
  }
  std::vector<cv::Mat> prepareBatch(const std::vector<cv::Mat>& contents) override { return painter_(contents); }
  std::string describe() const override { return painter_.describe(); }
  std::map<std::string, std::string> settledChoices() const override {
    // As the ml5 network: the tile side decides the output's last bits.
    return {{"tile", std::to_string(std::max(0, fast_.tile))}};
  }

  StylizeOutcome stylize(const StylizeRequest& request) override {
    const cv::Mat net = request.prepared.empty() ? painter_({request.content}).front() : request.prepared;
    return stabilized(net, request, weight_);
  }

 private:
  FastConfig fast_;
  ArbitraryPainter painter_;
  double weight_;  // stabilization blend
};

// The optimizer started from a single-pass network's output (an ml5 style network, or an
// arbitrary-style network with the job's style images), blended with the warped previous
// result where certain, and stopped early.
class HybridStylizer final : public OptimizeStylizer {
 public:
  HybridStylizer(const Config& config, IterationCallback onIteration)
      : OptimizeStylizer(config, std::move(onIteration)), fast_(config.fast) {
    if (usesArbitraryNetwork(config)) {
      painter_ = std::make_unique<ArbitraryPainter>(config);
    } else {
      network_ = std::make_unique<models::FastStyleNetwork>(
          models::resolveModel(config.fast.model, models::ModelKind::StyleNetwork), config.run.device,
          networkOptions(config.fast));
    }
  }

  int batchSize() const override { return fast_.batch; }
  std::vector<cv::Mat> prepareBatch(const std::vector<cv::Mat>& contents) override { return paint(contents); }

  std::string describe() const override {
    return (painter_ ? painter_->describe() : describeNetwork(*network_)) + "; " + OptimizeStylizer::describe();
  }
  std::map<std::string, std::string> settledChoices() const override {
    std::map<std::string, std::string> choices = OptimizeStylizer::settledChoices();
    if (network_) choices["precision"] = models::toString(network_->precision().used);
    return choices;
  }

  StylizeOutcome stylize(const StylizeRequest& request) override {
    cv::Mat net = request.prepared.empty() ? paint({request.content}).front() : request.prepared;
    cv::Mat init = toFloat01(net);
    if (!request.guides.empty()) {
      const models::TemporalGuide& g = request.guides.front();
      init = blendByWeight(init, g.warped, g.certainty);
    }
    const bool first = request.guides.empty();
    return optimizeFrom(request, init, first ? style_.iterationsFirst : style_.iterations);
  }

 private:
  std::vector<cv::Mat> paint(const std::vector<cv::Mat>& contents) {
    return painter_ ? (*painter_)(contents) : (*network_)(contents);
  }

  FastConfig fast_;
  std::unique_ptr<models::FastStyleNetwork> network_;  // exactly one of these two
  std::unique_ptr<ArbitraryPainter> painter_;
};

}  // namespace

cv::Mat loadRgbImage(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::runtime_error(path + ": " + what + " not found");
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error(path + ": is a directory, expected a " + what + " (JPEG/PNG)");
  }
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  if (bgr.empty()) {
    throw std::runtime_error(path + ": cannot decode the " + what + " (not a JPEG/PNG/... file?)");
  }
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

std::vector<cv::Mat> loadStyleImages(const std::vector<std::string>& paths) {
  std::vector<cv::Mat> images;
  for (const std::string& path : paths) images.push_back(loadRgbImage(path, "style image"));
  return images;
}

std::unique_ptr<FrameStylizer> makeStylizer(const Config& config, IterationCallback onIteration) {
  switch (config.method) {
    case Method::Copy: return std::make_unique<CopyStylizer>();
    case Method::Optimize: return std::make_unique<OptimizeStylizer>(config, std::move(onIteration));
    case Method::Fast:
      if (usesArbitraryNetwork(config)) return std::make_unique<ArbitraryStylizer>(config);
      return std::make_unique<FastStylizer>(config);
    case Method::Hybrid: return std::make_unique<HybridStylizer>(config, std::move(onIteration));
  }
  throw std::logic_error("unknown method");
}

int temporalReach(const Config& config) {
  switch (config.method) {
    case Method::Copy: return 0;
    case Method::Fast: return config.fast.temporalWeight != 0 ? 1 : 0;  // every network's own blend is > 0
    case Method::Optimize:
    case Method::Hybrid:
      return config.style.longTerm.empty() ? 0 : *std::max_element(config.style.longTerm.begin(), config.style.longTerm.end());
  }
  return 0;
}

}  // namespace flowstyle::pipeline
