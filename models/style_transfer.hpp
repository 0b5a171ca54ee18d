#pragma once
// Gatys et al. optimization with Ruder et al.'s temporal term. Torch-free interface:
// images cross as cv::Mat. Every loss term is normalized by its target (models::losses);
// the default weights are OptimizeConfig's.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "models/precision.hpp"

namespace flowstyle::models {

class LossNetwork;

enum class OptimizerKind { Lbfgs, Adam };
enum class InitKind { Content, Random, Image };

struct OptimizeConfig {
  std::string contentLayer;                 // empty: the network's default (relu4_2)
  std::vector<std::string> styleLayers;     // empty: the network's default
  std::vector<double> styleLayerWeights;    // empty: equal (mean over layers)
  double contentWeight = 1.0;
  double styleWeight = 10.0;
  double tvWeight = 5.0;
  double temporalWeight = 100.0;            // used only when guides are given
  double styleScale = 1.0;                  // style long side = scale * content long side
  OptimizerKind optimizer = OptimizerKind::Lbfgs;
  double learningRate = 0.02;               // Adam, on [0,1] pixels
  int iterations = 150;                     // cap per run() (per scale)
  double tolerance = 1e-4;                  // stop when relative loss change < tolerance (0: never)
  std::uint64_t seed = 0;
  bool preserveColors = false;              // keep content chroma (YUV), transfer luminance
  int scales = 1;                           // coarse-to-fine levels (factor 2)
  InitKind init = InitKind::Content;
  std::string device = "auto";
  // Read the loss (progress, tolerance test, divergence check) every this many iterations and
  // at the last: each read is a host synchronization, which stalls a GPU. The tolerance test
  // then compares the change since the last read with tolerance * iterations since it.
  // 0: 1 on the CPU (where a read costs nothing), 10 on CUDA.
  int lossEvery = 0;
  // The loss network's convolutions (forward and backward): Float32 or BFloat16 (native
  // bfloat16 units: AVX512-BF16 / AMX on the CPU). Loss terms, Gram matrices, targets,
  // the reported losses and the L-BFGS state are float32 in every case.
  //   Auto: bfloat16 where the device has native bfloat16 (CPU), kept only if the first
  //         run's starting image gives a loss within precisionTolerance (relative) and a
  //         gradient within 50x that (relative L2) of float32's; else float32.
  //   Float16 is not supported (an error).
  Precision precision = Precision::Float32;
  double precisionTolerance = 0.005;  // gradient: 50x this (0.25, a direction within ~15 degrees)
  // 0: the loss network sees the whole image. N > 0: it sees tiles of N x N pixels (N a
  // multiple of the network's deepest layer stride, 16 for VGG19's defaults), each with a
  // margin of real pixels as wide as the receptive field of the deepest layer used (halo),
  // so every activation is the whole image's. The Gram matrices are summed over the tiles
  // first (a pass without gradients), then each tile's gradient is taken against them and
  // added into the one image's gradient: loss and gradient are the whole image's (up to
  // float32 summation order), so the result is too, and the peak memory is one tile's.
  // Needs a loss network that can be tiled (LossNetwork::layerStride; VGG19).
  int tile = 0;
};

// The optimizer's number format, and why (StyleOptimizer::precision()).
struct OptimizePrecision {
  Precision requested = Precision::Float32;
  Precision used = Precision::Float32;  // Auto until the first run() decides
  double lossDiff = -1;  // Auto: |loss_bf16 - loss_f32| / loss_f32 at the first start; -1: not measured
  double gradDiff = -1;  // Auto: |g_bf16 - g_f32| / |g_f32| there
  std::string describe() const;
};

// A previous stylized frame warped into the current frame, with its certainty.
struct TemporalGuide {
  cv::Mat warped;     // CV_32FC3 RGB in [0,1], content size
  cv::Mat certainty;  // CV_32FC1 in [0,1], content size; already excludes pixels
                      // covered by a nearer guide (long-term rule applied by caller)
  double weight = 1;  // factor on this guide's temporal term (join's landing hold), >= 0
};

struct LossTerms {
  double total = 0, content = 0, style = 0, tv = 0, temporal = 0;
};

struct OptimizeProgress {
  int iteration = 0;
  int iterations = 0;  // cap
  LossTerms loss;
};

struct OptimizeResult {
  cv::Mat image;       // CV_8UC3 RGB, content size
  cv::Mat imageFloat;  // CV_32FC3 RGB in [0,1] (for warping into the next frame)
  int iterations = 0;  // iterations actually run (summed over scales)
  LossTerms loss;      // at the end
};

// The optimizer's memory, for estimates (pipeline/memory.cpp), in image-sized float32
// tensors (3 x width x height floats each). L-BFGS keeps kLbfgsHistory entries of
// kLbfgsImagesPerHistoryEntry tensors (the (s, y) pair) besides its working tensors (the
// image, its gradient, the direction and the line search's copies); Adam keeps the image,
// its gradient and two moments with their working copies.
inline constexpr int kLbfgsHistory = 20;
inline constexpr int kLbfgsImagesPerHistoryEntry = 2;
int optimizerStateImages(OptimizerKind kind);

// OptimizeConfig::tile's geometry for these layers of a loss network architecture: the
// multiple a tile side must be (the deepest layer's stride) and the margin every tile
// carries (the receptive radius, rounded up to that multiple). {0, 0}: it cannot be tiled.
struct TileGeometry {
  int align = 0, halo = 0;
};
TileGeometry optimizeTileGeometry(const std::string& arch, const std::vector<std::string>& layers);

class StyleOptimizer {
 public:
  // styles: CV_8UC3 RGB images; blend: one weight per style (normalized to sum 1),
  // empty = equal. Throws on empty styles, blend size mismatch, bad layer names.
  // Moves `network` to config.device (resolveDevice) if it is elsewhere.
  StyleOptimizer(std::shared_ptr<LossNetwork> network, const OptimizeConfig& config,
                 std::vector<cv::Mat> styles, std::vector<double> blend = {});
  ~StyleOptimizer();

  // content: CV_8UC3 RGB. init: empty = config.init (content / random / ...), else
  // CV_32FC3 RGB [0,1] of content size (e.g. warped previous output).
  // iterations: <= 0 means config.iterations. Deterministic for a fixed seed on CPU.
  OptimizeResult run(const cv::Mat& content, const cv::Mat& init = {},
                     const std::vector<TemporalGuide>& guides = {}, int iterations = 0,
                     const std::function<void(const OptimizeProgress&)>& progress = {});

  // Loss terms of an image without optimizing (for evaluation and tests).
  LossTerms evaluate(const cv::Mat& content, const cv::Mat& image,
                     const std::vector<TemporalGuide>& guides = {});

  const OptimizePrecision& precision() const;
  // With config.tile > 0: the margin each tile carries, in pixels (0 when not tiled).
  int tileHalo() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
// What run() does to a coarse scale's result before the next, finer scale (on the device it
// runs on; here on the CPU): bilinear enlargement to `size`. CV_32FC3 / CV_32FC1 in, the same
// type out. For tests: it must equal cv::resize(INTER_LINEAR).
cv::Mat upsampleBetweenScales(const cv::Mat& image, const cv::Size& size);
}  // namespace detail

}  // namespace flowstyle::models
