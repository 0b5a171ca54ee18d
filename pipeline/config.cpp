#include "pipeline/config.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "models/tiling.hpp"

namespace flowstyle::pipeline {
namespace {

[[noreturn]] void invalid(const std::string& option, const std::string& what) {
  throw std::invalid_argument("--" + option + ": " + what);
}

}  // namespace

Method parseMethod(const std::string& name) {
  if (name == "copy") return Method::Copy;
  if (name == "optimize") return Method::Optimize;
  if (name == "fast") return Method::Fast;
  if (name == "hybrid") return Method::Hybrid;
  invalid("method", "unknown method '" + name + "' (valid: copy, optimize, fast, hybrid)");
}

std::string toString(Method method) {
  switch (method) {
    case Method::Copy: return "copy";
    case Method::Optimize: return "optimize";
    case Method::Fast: return "fast";
    case Method::Hybrid: return "hybrid";
  }
  return "?";
}

ProgressMode parseProgressMode(const std::string& name) {
  if (name == "auto") return ProgressMode::Auto;
  if (name == "bar") return ProgressMode::Bar;
  if (name == "json") return ProgressMode::Json;
  if (name == "none") return ProgressMode::None;
  invalid("progress", "unknown mode '" + name + "' (valid: auto, bar, json, none)");
}

MethodDefaults methodDefaults(Method method, JobKind kind) {
  const bool hybrid = method == Method::Hybrid;
  // A fast network runs at any size: an image keeps its own, as a video does.
  if (kind == JobKind::Image) return {method == Method::Fast ? 0 : 512, hybrid ? 50 : 150, 0};
  const bool optimizes = method == Method::Optimize || hybrid;
  return {optimizes ? 384 : 0, hybrid ? 50 : 150, hybrid ? 10 : 30};
}

void applyMethodDefaults(Config& c, JobKind kind, const GivenOptions& given) {
  const MethodDefaults d = methodDefaults(c.method, kind);
  if (!given.size) c.size.maxSide = d.maxSide;
  if (kind == JobKind::Image) {
    if (!given.iterations) c.style.optimize.iterations = d.iterationsFirst;
    c.style.iterationsFirst = c.style.optimize.iterations;
    return;
  }
  if (given.iterations) return;
  c.style.iterations = d.iterations;
  if (!given.iterationsFirst) c.style.iterationsFirst = d.iterationsFirst;
}

void workingSize(const SizeConfig& size, int w, int h, int& outW, int& outH) {
  if (size.width > 0 && size.height > 0) {
    outW = size.width;
    outH = size.height;
    return;
  }
  outW = w;
  outH = h;
  const int longSide = std::max(w, h);
  if (size.maxSide > 0 && longSide > size.maxSide) {
    const double scale = static_cast<double>(size.maxSide) / longSide;
    outW = std::max(2, static_cast<int>(std::lround(w * scale)));
    outH = std::max(2, static_cast<int>(std::lround(h * scale)));
  }
}

void validate(const Config& c) {
  if (c.size.maxSide < 0) invalid("max-side", "must be positive");
  if ((c.size.width > 0) != (c.size.height > 0) || c.size.width < 0 || c.size.height < 0) {
    invalid("size", "expected WxH with both sides positive, e.g. 640x360");
  }
  if ((c.size.width > 0 && c.size.width < 2) || (c.size.height > 0 && c.size.height < 2)) {
    invalid("size", "each side must be at least 2 pixels");
  }
  if (c.size.maxSide > 0 && c.size.maxSide < 2) invalid("max-side", "must be at least 2");
  const stages::FrameSelection& s = c.reader.selection;
  if (s.first < 0) invalid("frames", "the first frame must be >= 0");
  if (s.last >= 0 && s.last < s.first) invalid("frames", "expected A-B with A <= B");
  if (s.startSeconds && *s.startSeconds < 0) invalid("start", "must be >= 0 seconds");
  if (s.durationSeconds && *s.durationSeconds <= 0) invalid("duration", "must be > 0 seconds");
  if (c.writer.crf < 0 || c.writer.crf > 63) invalid("crf", "must be in 0..63");
  if (c.run.threads < 0) invalid("threads", "must be >= 0 (0 = all cores)");
  if (c.run.maxInFlight < 1 || c.run.maxInFlight > 256) invalid("in-flight", "must be in 1..256");
  if (c.fast.batch < 1 || c.fast.batch > 64) invalid("batch", "must be in 1..64");
  if (c.method == Method::Optimize && c.style.optimize.precision == models::Precision::Float16)
    invalid("precision", "float16 is for the fast network on CUDA; the optimizer takes auto, float32 or bfloat16");
  if (c.fast.borderPad < -1 || c.fast.borderPad > 512) invalid("border-pad", "must be in 0..512 pixels");
  if (c.fast.tile != kAutoTile && (c.fast.tile < 0 || c.fast.tile > models::kMaxFastTile)) {
    invalid("tile", std::to_string(c.fast.tile) + " is not a tile side: use 0 (no tiles) or " +
                        std::to_string(models::kMinFastTile) + ".." + std::to_string(models::kMaxFastTile) +
                        " px, or leave it out (tiles only when the frame does not fit the memory budget)");
  }
  // hybrid: the optimizer and the network share the tile, so the optimizer's rules hold.
  if (c.fast.tile > 0 && (c.method == Method::Optimize || c.method == Method::Hybrid)) {
    if (c.fast.tile % kOptimizeTileAlign != 0)
      invalid("tile", std::to_string(c.fast.tile) + " px is not a multiple of " + std::to_string(kOptimizeTileAlign) +
                          " (the loss network's deepest stride); use --tile " +
                          std::to_string(std::max(kMinOptimizeTile, c.fast.tile / kOptimizeTileAlign * kOptimizeTileAlign)));
    if (c.fast.tile < kMinOptimizeTile)
      invalid("tile", std::to_string(c.fast.tile) + " px is smaller than the smallest optimize tile, " +
                          std::to_string(kMinOptimizeTile) + " px (each tile reads a halo of up to 96 px on every "
                          "side, the loss network's receptive field); use --tile " +
                          std::to_string(kMinOptimizeTile) + " or more");
  } else if (c.fast.tile > 0 && c.fast.tile < models::kMinFastTile) {
    invalid("tile", std::to_string(c.fast.tile) + " px is smaller than the smallest tile, " +
                        std::to_string(models::kMinFastTile) + " px (each tile reads a halo of up to " +
                        std::to_string(std::max({models::kFastTileHalo, models::kMicroAstTileHalo,
                                                 models::kMagentaTileHalo, models::kWct16xTileHalo})) +
                        " px on every side); use --tile " +
                        std::to_string(models::kMinFastTile) + " or more");
  }
  if (c.fast.tile > 0 && c.method == Method::Copy) {
    invalid("tile", "--method copy does not stylize, so it has no tiles; leave --tile out or give --tile 0");
  }

  if (c.chunk.preroll < 0 || c.chunk.preroll > 100000) invalid("preroll", "must be in 0..100000 frames");
  if (c.chunk.overlap < 0) invalid("overlap", "must be >= 0 frames");
  if (c.chunk.overlap > c.chunk.preroll) {
    invalid("overlap", "must not exceed --preroll (" + std::to_string(c.chunk.overlap) + " > " +
                           std::to_string(c.chunk.preroll) + "): overlap frames are pre-roll frames that are written");
  }
  if ((c.chunk.preroll > 0 || c.chunk.overlap > 0) && (s.startSeconds || s.durationSeconds)) {
    invalid("preroll", "chunks are frame ranges: use --frames A-B, not --start/--duration");
  }

  const bool stylizes = c.method != Method::Copy;
  const bool optimizes = c.method == Method::Optimize || c.method == Method::Hybrid;
  const bool fast = c.method == Method::Fast || c.method == Method::Hybrid;
  if (optimizes && c.style.styles.empty()) {
    invalid("style", "at least one style image is needed for --method " + toString(c.method));
  }
  if (fast && c.fast.model.empty()) {
    invalid("model", "a style network name or path (or a --style image) is needed for --method " +
                         toString(c.method) + " (see: flowstyle models list)");
  }
  if (!(c.fast.styleStrength >= 0 && c.fast.styleStrength <= 1)) invalid("style-strength", "must be in [0, 1]");
  if (c.fast.styleSize < 16 || c.fast.styleSize > 4096) invalid("style-size", "must be in 16..4096 pixels");
  for (int i : c.fast.styleIndex) {
    if (i < 0) invalid("style-index", "must be >= 0");
  }
  const bool byIndex = !c.fast.styleIndex.empty();
  const std::size_t mixed = byIndex ? c.fast.styleIndex.size() : c.style.styles.size();
  if (!c.style.blend.empty() && c.style.blend.size() != mixed) {
    invalid("style-blend", "needs one weight per " + std::string(byIndex ? "--style-index" : "--style") + " (" +
                               std::to_string(mixed) + (byIndex ? " indices, " : " styles, ") +
                               std::to_string(c.style.blend.size()) + " weights)");
  }
  for (double w : c.style.blend) {
    if (!(w >= 0) || !std::isfinite(w)) invalid("style-blend", "weights must be >= 0");
  }
  if (!c.style.blend.empty()) {
    double sum = 0;
    for (double w : c.style.blend) sum += w;
    if (sum <= 0) invalid("style-blend", "weights must not all be 0");
  }
  const models::OptimizeConfig& o = c.style.optimize;
  auto nonNegative = [](double v, const char* name) {
    if (!(v >= 0) || !std::isfinite(v)) invalid(name, "must be a finite number >= 0");
  };
  nonNegative(o.contentWeight, "content-weight");
  nonNegative(o.styleWeight, "style-weight");
  nonNegative(o.tvWeight, "tv-weight");
  nonNegative(o.temporalWeight, "temporal-weight");
  nonNegative(o.tolerance, "tolerance");
  if (!(o.styleScale > 0) || o.styleScale > 8) invalid("style-scale", "must be in (0, 8]");
  if (!(o.learningRate > 0)) invalid("learning-rate", "must be > 0");
  if (o.iterations < 1 || o.iterations > 100000) invalid("iterations", "must be in 1..100000");
  if (o.scales < 1 || o.scales > 6) invalid("scales", "must be in 1..6");
  if (o.lossEvery < 0 || o.lossEvery > 100000) invalid("loss-every", "must be in 0..100000");
  if (stylizes && optimizes) {
    if (c.style.iterationsFirst < 1) invalid("iterations-first", "must be >= 1");
    if (c.style.iterations < 1) invalid("iterations", "must be >= 1");
  }
  for (int j : c.style.longTerm) {
    if (j < 1 || j > 100) invalid("long-term", "offsets must be in 1..100");
  }
  if (c.method == Method::Fast && c.fast.temporalWeight != kNetworkTemporalWeight &&
      !(c.fast.temporalWeight >= 0 && c.fast.temporalWeight <= 1)) {
    invalid("temporal-weight", "for --method fast it is a blend weight in [0, 1]");
  }
}

}  // namespace flowstyle::pipeline
