#include "pipeline/arbitrary_stylizer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "models/arbitrary_network.hpp"
#include "models/color.hpp"
#include "models/model_store.hpp"
#include "models/multistyle.hpp"
#include "models/safetensors.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/image_ops.hpp"

namespace flowstyle::pipeline {

bool usesArbitraryNetwork(const Config& config) {
  if (config.fast.model.empty()) return false;
  const std::string path = models::resolveModel(config.fast.model, models::ModelKind::StyleNetwork);
  return models::modelKindAt(path) == models::ModelKind::ArbitraryNetwork;
}

std::string arbitraryNetworkArch(const Config& config) {
  if (config.fast.model.empty()) return {};
  const std::string path = models::resolveModel(config.fast.model, models::ModelKind::StyleNetwork);
  if (models::modelKindAt(path) != models::ModelKind::ArbitraryNetwork) return {};
  const auto meta = models::readSafetensorsMetadata(path);
  const auto it = meta.find("flowstyle.arch");
  return it == meta.end() ? std::string() : it->second;
}

double stabilizationWeight(const std::string& arch) {
  return arch == "magenta" || arch == "wct16x" ? 0.95 : kTemporalWeight;
}

cv::Mat loadStyleForNetwork(const std::string& path, int longSide) {
  const cv::Mat rgb = loadRgbImage(path, "style image");
  constexpr int kMinSide = 8;
  if (rgb.cols < kMinSide || rgb.rows < kMinSide) {
    throw std::runtime_error(path + ": the style image is " + std::to_string(rgb.cols) + "x" +
                             std::to_string(rgb.rows) + " pixels; at least " + std::to_string(kMinSide) + "x" +
                             std::to_string(kMinSide) + " is needed");
  }
  const double f = static_cast<double>(longSide) / std::max(rgb.cols, rgb.rows);
  const cv::Size size(std::max(1, static_cast<int>(std::lround(rgb.cols * f))),
                      std::max(1, static_cast<int>(std::lround(rgb.rows * f))));
  return toWorkSize(rgb, size);
}

struct ArbitraryPainter::Impl {
  std::unique_ptr<models::ArbitraryStyleNetwork> network;
  models::StyleCode code;
  double strength = 1.0;
  bool preserveColors = false;
  std::string summary;
};

namespace {

std::vector<double> blendWeights(const std::vector<double>& given, std::size_t count) {
  return given.empty() ? std::vector<double>(count, 1.0) : given;
}

}  // namespace

ArbitraryPainter::ArbitraryPainter(const Config& config) : impl_(std::make_unique<Impl>()) {
  const FastConfig& fast = config.fast;
  const std::string path = models::resolveModel(fast.model, models::ModelKind::StyleNetwork);
  impl_->network = models::loadArbitraryNetwork(path, config.run.device);
  // --tile: checkMemory has resolved automatic tiles (or left whole frames); the option
  // check refuses a side > 0 for the networks that cannot tile.
  impl_->network->setTile(std::max(0, fast.tile));
  impl_->strength = fast.styleStrength;
  impl_->preserveColors = config.style.optimize.preserveColors;
  models::ArbitraryStyleNetwork& net = *impl_->network;

  std::vector<models::StyleCode> codes;
  std::string styles;
  if (net.arch() == "multistyle26") {
    if (!config.style.styles.empty())
      throw std::invalid_argument("--style: the 26-style network takes --style-index N, not a style image");
    if (fast.styleIndex.empty())
      throw std::invalid_argument("--style-index: the 26-style network needs one (0.." +
                                  std::to_string(models::kMultistyleStyles - 1) + ")");
    for (int i : fast.styleIndex) {
      if (i < 0 || i >= models::kMultistyleStyles)
        throw std::invalid_argument("--style-index " + std::to_string(i) + ": out of range (0.." +
                                    std::to_string(models::kMultistyleStyles - 1) + " for " + fast.model + ")");
      codes.push_back(models::multistyleCode(i));
    }
    styles = std::to_string(codes.size()) + (codes.size() == 1 ? " style" : " styles") + " by index";
  } else {
    if (!fast.styleIndex.empty())
      throw std::invalid_argument("--style-index: only the 26-style network (multistyle26) has fixed styles; " +
                                  net.arch() + " takes --style IMAGE");
    if (config.style.styles.empty())
      throw std::invalid_argument("--style: " + net.arch() + " needs a style image (--style S.jpg)");
    for (const std::string& s : config.style.styles) {
      codes.push_back(net.encodeStyle(loadStyleForNetwork(s, fast.styleSize)));
    }
    styles = std::to_string(codes.size()) + (codes.size() == 1 ? " style" : " styles") + " at " +
             std::to_string(fast.styleSize) + " px";
  }
  impl_->code = codes.size() == 1 ? codes.front() : net.blend(codes, blendWeights(config.style.blend, codes.size()));
  char strength[32];
  std::snprintf(strength, sizeof strength, "%.2f", fast.styleStrength);
  impl_->summary = "arbitrary-style network " + net.arch() + ", " + styles + ", strength " + strength +
                   (impl_->preserveColors ? ", colours preserved" : "");
}

ArbitraryPainter::~ArbitraryPainter() = default;

std::vector<cv::Mat> ArbitraryPainter::operator()(const std::vector<cv::Mat>& frames) {
  std::vector<cv::Mat> out = (*impl_->network)(frames, impl_->code, impl_->strength);
  if (impl_->preserveColors) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = toByte(models::keepContentColors(toFloat01(out[i]), frames[i]));
  }
  return out;
}

std::string ArbitraryPainter::describe() const {
  const std::string tiling = impl_->network->tiling();
  return impl_->summary + (tiling.empty() ? std::string() : "; tiled: " + tiling);
}

std::string ArbitraryPainter::arch() const { return impl_->network->arch(); }

}  // namespace flowstyle::pipeline
