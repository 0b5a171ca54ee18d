#include "pipeline/memory.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <dlfcn.h>
#include <sys/resource.h>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/loss_network.hpp"
#include "models/model_store.hpp"
#include "models/safetensors.hpp"
#include "models/style_transfer.hpp"
#include "models/tiling.hpp"
#include "pipeline/arbitrary_stylizer.hpp"
#include "stages/video_reader.hpp"

namespace flowstyle::pipeline {
namespace {

using Bytes = std::uint64_t;
constexpr double kMiB = 1024.0 * 1024.0;

// ---------------------------------------------------------------------------------------
// The model's constants. Fitted to peaks measured with /usr/bin/time -v (ru_maxrss) on the
// development machine (README "Memory": the table and the commands that reproduce it).

// The process with FFmpeg, OpenCV, TBB and LibTorch loaded, before any work (an image job's
// intercept); a video job's graph, demuxer and muxer add a little.
constexpr double kBaseBytes = 155 * kMiB;
constexpr double kVideoBaseBytes = 15 * kMiB;
// Loss network weights: the file's tensors, the network's float32 copies and oneDNN's
// reordered copies for the forward and backward convolutions (fit: 6.6 x the float32 size).
constexpr double kLossWeightFactor = 6.6;
// Loss network, one forward + backward pass: bytes per (channel / downscale²) unit and
// working pixel (about 3 float32 values: autograd keeps each convolution's and ReLU's
// output, and the gradient of the same size flows back). Fitted to full runs (25
// iterations, L-BFGS's history filled): 13.5 (11.7 when fitted to 2-iteration runs).
constexpr double kLossBytesPerUnit = 13.5;
// SqueezeNet: 21 (its fire modules concatenate their two expands, and autograd keeps both
// the parts and the whole; fit: 512x384 and 1024x768, 25 iterations).
constexpr double kSqueezeLossBytesPerUnit = 21;
// The same per pixel of one tile with its halo (--tile, VGG19 only): 9.5. A tile's pass keeps less
// around it than the whole picture's (fit: 768x576 in 2x2 tiles of 384 px, 25 iterations).
constexpr double kTiledLossBytesPerUnit = 9.5;
// The style images' forward pass (no gradient): activations freed as they go.
constexpr double kStyleBytesPerUnit = 4.0;
// Fast network, inference: live float32 copies (fit) of its widest full-resolution layer
// (32 channels + the 3-channel input = 35 values per pixel) at the peak; 16-bit formats
// halve the convolutions' activations but keep float32 norm statistics and input/output.
// Auto runs both formats on the first batch, so its peak is float32's.
constexpr double kFastUnits = 35.0;
constexpr double kFastFloat32Factor = 3.1;
constexpr double kFastReducedFactor = 1.6;
constexpr double kFastFixedBytes = 45 * kMiB;  // weights (two copies) and oneDNN's buffers
// Tiled (FastConfig::tile > 0), in values per pixel of the padded network input (Pp), each
// value 4 bytes in float32 and 2 in the 16-bit formats, except the float32 input (3 per
// pixel, kept by the caller); the peak is the larger of two phases (fit: README "Memory",
// docs/performance.md "Fast network in tiles"):
//   residual blocks: the input, three 128-channel quarter-resolution tensors (3 x 8 per Pp);
//   tiles: the input, its copy in the compute format (3), conv3's whole output (8), and per
//   pixel of the largest tile with its halo three 32-channel activations (96).
constexpr double kFastTiledInputValues = 3;
constexpr double kFastTiledResidualValues = 24;
constexpr double kFastTiledTilePhaseValues = 3 + 8;
constexpr double kFastTileValues = 96;
// MicroAST in tiles (models::ArbitraryStyleNetwork::setTile), float32 values per pixel of its
// input (the frame to multiples of 4, Pp): always the input, its padded and channels-last
// copies and the output (12); then the larger of the modulation phase (five 64-channel
// quarter-resolution tensors, 20) and the decoder's tiles (its whole quarter-resolution input,
// 4, and per pixel of the largest tile with its halo the 32-channel full-resolution window,
// its reflected copy and the 16-channel output, 80).
constexpr double kMicroAstTiledWholeValues = 12;
constexpr double kMicroAstTiledQuarterValues = 20;
constexpr double kMicroAstTiledDecoderValues = 4;
constexpr double kMicroAstTileValues = 80;
// Magenta in tiles, the same way: always the input, its padded copy and the output with its
// crop (12); then the larger of the residual blocks (three 32-channel quarter-resolution
// tensors at a time, 6) and the expansion's tiles (its whole quarter-resolution input, 2, and
// per pixel of the largest tile with its halo the 16-channel full-resolution upsampling, its
// window and integers and the 8-channel convolution's output, 56). Fit: docs/performance.md
// "Magenta in tiles" (4K: 2x2 tiles of 2048 px +0 %, 8x5 of 512 px +19 %).
constexpr double kMagentaTiledWholeValues = 12;
constexpr double kMagentaTiledQuarterValues = 6;
constexpr double kMagentaTiledExpandValues = 2;
constexpr double kMagentaTileValues = 56;
// WCT-16x in tiles (input to multiples of 16, Pp), fitted (not itemized) to the peaks at
// 3840x2160 in tiles of 512, 1024 and 2048 px (805, 896, 1258 MiB) and at 1920x1080 in
// tiles of 512 and 1024 (510, 495 MiB), with the heap trimmed after every tile
// (models::releaseFreedHeap): what LibTorch and oneDNN keep besides the tensors (144 MiB);
// 4 values per pixel whole plus level 4's whole features (2); no quarter-resolution phase;
// 54 per pixel of the largest tile with its halo (levels 1..3's full-resolution windows,
// encoder outputs and transform copies). The estimate is -0.4 to +22 % off those peaks
// (docs/performance.md "wct16x in tiles").
constexpr double kWct16xTiledFixedBytes = 144 * kMiB;
constexpr double kWct16xTiledWholeValues = 4;
constexpr double kWct16xTiledFeatureValues = 2;
constexpr double kWct16xTileValues = 54;
// multistyle26 in tiles, the same way: always the input and the output with its crop (6);
// then the larger of the residual blocks (x, a convolution's output and a padded copy,
// 32-channel quarter-resolution tensors, 4: the norms run in place) and the tiles (the
// whole quarter-resolution tensor, 2, and per pixel of the largest tile with its halo
// contract.0's 32-channel output and its copies, 72). Fit to the 4K peaks of 2x2 tiles of
// 2048 px and 8x5 of 512 (docs/performance.md "multistyle26 in tiles": +2 %, +1 %).
constexpr double kMultistyleTiledWholeValues = 6;
constexpr double kMultistyleTiledQuarterValues = 4;
constexpr double kMultistyleTiledExpandValues = 2;
constexpr double kMultistyleTileValues = 72;
// A whole frame (no tiles), float32 values per working pixel of the network's pass, fitted
// per network to its peak at 3840x2160 (float32, docs/reliability.md): microast 3190 MiB,
// magenta 2871, wct16x 4299 (and 1385 at 1920x1080; with its fixed bytes, as in tiles),
// multistyle26 3586. The ml5 networks'
// generic value, kFastUnits x kFastFloat32Factor = 108.5, was 20-33 % over the first two and
// 11-20 % under wct16x.
constexpr double kMicroAstFrameValues = 90;
constexpr double kMagentaFrameValues = 80;
constexpr double kWct16xFrameValues = 135;
constexpr double kMultistyleFrameValues = 102;
// The arbitrary-style networks' values, as above; cores on multiples of `align`.
struct ArbitraryTiledValues {
  double whole, quarter, decoder, tile;
  int halo, align;
  double fixedBytes;  // besides the values per pixel
  double frame;       // a whole frame, untiled
};
ArbitraryTiledValues arbitraryTiledValues(const std::string& arch) {
  if (arch == "magenta")
    return {kMagentaTiledWholeValues, kMagentaTiledQuarterValues, kMagentaTiledExpandValues, kMagentaTileValues,
            models::kMagentaTileHalo, 4, 0, kMagentaFrameValues};
  if (arch == "wct16x")
    return {kWct16xTiledWholeValues, 0, kWct16xTiledFeatureValues, kWct16xTileValues, models::kWct16xTileHalo, 16,
            kWct16xTiledFixedBytes, kWct16xFrameValues};
  if (arch == "multistyle26")
    return {kMultistyleTiledWholeValues, kMultistyleTiledQuarterValues, kMultistyleTiledExpandValues,
            kMultistyleTileValues, models::kMultistyleTileHalo, 4, 0, kMultistyleFrameValues};
  return {kMicroAstTiledWholeValues, kMicroAstTiledQuarterValues, kMicroAstTiledDecoderValues, kMicroAstTileValues,
          models::kMicroAstTileHalo, 4, 0, kMicroAstFrameValues};
}
// Per frame in flight at the working size: RGB 8-bit, gray, certainty, the stylized
// float image and its 8-bit copy; flow fields (two CV_32FC2) at the flow's size.
constexpr double kFrameBytesPerPixel = 3 + 1 + 4 + 12 + 3;
constexpr double kFlowBytesPerPixel = 16;
// The decoder's reference frames and frame threads, per source pixel (yuv420, ~20 frames).
constexpr double kDecoderBytesPerPixel = 30;
// The encoder per output pixel (fit for x264 medium: 180, its lookahead and references);
// VP9, FFV1, PNG: less.
constexpr double kX264BytesPerPixel = 180;
constexpr double kOtherEncoderBytesPerPixel = 60;
// Address space a job maps during its work beyond what it holds resident (thread stacks,
// malloc arenas): RLIMIT_AS must leave room for it besides the peak and what is mapped
// already. Measured: VmPeak - VmHWM at the end minus VmSize - VmRSS at the check, ~190 MiB.
constexpr double kVirtualOverheadBytes = 256 * kMiB;

// ---------------------------------------------------------------------------------------
// Loss networks: activation units (channels / downscale²) per working pixel, by layer.

struct LayerUnits {
  const char* name;  // the layer whose output this is (relu..., fire...)
  double units;      // this layer's share, summed from the input up to and including it
};

// VGG19: each conv's output channels / (2^pool)², from conv1_1 to conv5_4.
const std::vector<LayerUnits>& vgg19Layers() {
  static const std::vector<LayerUnits> layers = [] {
    std::vector<LayerUnits> out;
    const int perBlock[] = {2, 2, 4, 4, 4};
    const int channels[] = {64, 128, 256, 512, 512};
    static const char* names[] = {"relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2",
                                  "relu3_3", "relu3_4", "relu4_1", "relu4_2", "relu4_3", "relu4_4",
                                  "relu5_1", "relu5_2", "relu5_3", "relu5_4"};
    int k = 0;
    for (int b = 0; b < 5; ++b) {
      const double scale = std::pow(4.0, b);
      for (int i = 0; i < perBlock[b]; ++i) out.push_back({names[k++], channels[b] / scale});
    }
    return out;
  }();
  return layers;
}

// SqueezeNet 1.1: conv1 (64, stride 2) then fire modules (squeeze + two expands + concat).
const std::vector<LayerUnits>& squeezenetLayers() {
  static const std::vector<LayerUnits> layers = {
      {"relu1", 64 / 4.0},
      {"fire2", (16 + 64 + 64 + 128) / 16.0},   {"fire3", (16 + 64 + 64 + 128) / 16.0},
      {"fire4", (32 + 128 + 128 + 256) / 64.0}, {"fire5", (32 + 128 + 128 + 256) / 64.0},
      {"fire6", (48 + 192 + 192 + 384) / 256.0}, {"fire7", (48 + 192 + 192 + 384) / 256.0},
      {"fire8", (64 + 256 + 256 + 512) / 256.0}, {"fire9", (64 + 256 + 256 + 512) / 256.0}};
  return layers;
}

// The units up to the deepest of `used` (the forward pass stops there).
double unitsUpTo(const std::vector<LayerUnits>& layers, const std::vector<std::string>& used) {
  std::size_t deepest = 0;
  for (const std::string& name : used) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      if (name == layers[i].name) deepest = std::max(deepest, i + 1);
    }
  }
  if (deepest == 0) deepest = layers.size();  // unknown names: assume the whole network
  double sum = 0;
  for (std::size_t i = 0; i < deepest; ++i) sum += layers[i].units;
  return sum;
}

struct NetworkFacts {
  Bytes weightBytes = 0;  // float32 copies of every tensor in the file
  double units = 0;       // activation units per working pixel up to the deepest layer used
  std::string arch;
  models::TileGeometry tiles;  // --method optimize --tile: the tiles' multiple and halo
};

Bytes float32Bytes(const std::string& path) {
  Bytes n = 0;
  for (const auto& [name, shape] : models::readSafetensorsShapes(path)) {
    Bytes count = 1;
    for (std::int64_t d : shape) count *= static_cast<Bytes>(std::max<std::int64_t>(d, 0));
    n += count * 4;
  }
  return n;
}

NetworkFacts lossNetworkFacts(const StyleConfig& style) {
  NetworkFacts f;
  const std::string path = models::resolveModel(style.lossNet, models::ModelKind::LossNetwork);
  f.weightBytes = float32Bytes(path);
  // The architecture and default layers as the loader takes them (models/loss_network.hpp).
  std::vector<std::string> names;
  for (const auto& [key, shape] : models::readSafetensorsShapes(path)) names.push_back(key);
  f.arch = models::lossNetworkArch(models::readSafetensorsMetadata(path), names, path);
  const bool squeeze = f.arch == "squeezenet1_1";
  std::vector<std::string> used = style.optimize.styleLayers;
  if (used.empty()) used = models::defaultStyleLayers(f.arch);
  used.push_back(!style.optimize.contentLayer.empty() ? style.optimize.contentLayer
                                                       : models::defaultContentLayer(f.arch));
  f.units = unitsUpTo(squeeze ? squeezenetLayers() : vgg19Layers(), used);
  f.tiles = models::optimizeTileGeometry(f.arch, used);
  return f;
}

bool runsOnGpu(const std::string& device) {
  if (device == "cpu") return false;
  try {
    return models::resolveDevice(device).is_cuda();
  } catch (const std::runtime_error&) {
    return false;  // the stylizer reports a bad --device itself
  }
}

// Whether the fast network's peak is a 16-bit one (Auto runs float32 too on its first batch).
bool fastUsesBFloat16(const FastConfig& fast) {
  return fast.precision == models::Precision::BFloat16 || fast.precision == models::Precision::Float16;
}

bool isX26x(const std::string& codec) {
  return codec.empty() || codec == "libx264" || codec == "libx265" || codec == "h264" || codec == "hevc";
}

std::string fmt1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

}  // namespace

std::string formatBytes(std::uint64_t bytes) {
  char buf[32];
  const double v = static_cast<double>(bytes);
  if (v >= 1024.0 * kMiB) std::snprintf(buf, sizeof buf, "%.2f GiB", v / (1024.0 * kMiB));
  else std::snprintf(buf, sizeof buf, "%.0f MiB", v / kMiB);
  return buf;
}

std::string MemoryEstimate::describe() const {
  std::string s = formatBytes(host) + (onGpu ? " host + " + formatBytes(device) + " GPU" : "") + " at " +
                  std::to_string(width) + "x" + std::to_string(height) + " (";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    s += (i ? ", " : "") + parts[i].first + " " + fmt1(parts[i].second / kMiB) + " MiB";
  }
  return s + ")" + (limit.empty() ? "" : "; limit " + limit);
}

MemoryEstimate estimateMemory(const Config& c, JobKind kind, int srcW, int srcH) {
  MemoryEstimate e;
  workingSize(c.size, srcW, srcH, e.width, e.height);
  const double P = static_cast<double>(e.width) * e.height;
  const double srcP = static_cast<double>(srcW) * srcH;
  const bool optimizes = c.method == Method::Optimize || c.method == Method::Hybrid;
  const bool fast = c.method == Method::Fast || c.method == Method::Hybrid;
  e.onGpu = c.method != Method::Copy && runsOnGpu(c.run.device);

  double host = kBaseBytes, device = 0;
  auto add = [&](const std::string& name, double bytes, bool onDevice) {
    if (bytes <= 0) return;
    e.parts.emplace_back(name + (onDevice && e.onGpu ? " (GPU)" : ""), static_cast<Bytes>(bytes));
    if (onDevice && e.onGpu) device += bytes;
    else host += bytes;
  };
  e.parts.emplace_back("base", static_cast<Bytes>(kBaseBytes));
  if (kind == JobKind::Video) add("video graph", kVideoBaseBytes, false);

  // The optimizer's tile side (0: whole): hybrid's network tiles only where it does too.
  int optimizeTile = 0;
  if (optimizes) {
    const NetworkFacts net = lossNetworkFacts(c.style);
    // What the option parser allows (kMinOptimizeTile) is what the optimizer runs, so estimated.
    if (c.fast.tile >= kMinOptimizeTile && net.tiles.align > 0 && c.fast.tile % net.tiles.align == 0 &&
        (c.fast.tile < e.width || c.fast.tile < e.height))
      optimizeTile = c.fast.tile;
    add("loss network weights", kLossWeightFactor * net.weightBytes, true);
    // Optimizer state: the optimizer's image-sized float32 tensors (3 channels x 4 bytes).
    const double optState = models::optimizerStateImages(c.style.optimize.optimizer) * 12.0 * P;
    // Style images: decoded at their own size, then one forward pass at the working long
    // side x --style-scale (before the optimization starts: its peak is separate).
    const double scale = c.style.optimize.styleScale;
    if (optimizeTile > 0) {
      const int tile = optimizeTile;
      // Tiled (models::OptimizeConfig::tile): the loss network sees one tile and its halo at a
      // time, the content and the style image alike; the image-sized tensors stay whole, with
      // four more for the tiled gradient (its sum, the clamped image, the pixel terms' copy).
      const int halo = net.tiles.halo;
      auto tileArea = [&](double w, double h) {
        return std::min(w, tile + 2.0 * halo) * std::min(h, tile + 2.0 * halo);
      };
      const int cols = (e.width + tile - 1) / tile, rows = (e.height + tile - 1) / tile;
      e.fastTile = tile;
      e.tiling = std::to_string(cols) + "x" + std::to_string(rows) + " tiles of " + std::to_string(tile) +
                 " px, halo " + std::to_string(halo);
      const double lossPass = kTiledLossBytesPerUnit * net.units * tileArea(e.width, e.height);
      const double stylePass = kStyleBytesPerUnit * net.units * tileArea(e.width * scale, e.height * scale);
      add("loss network pass (" + e.tiling + ")", std::max(lossPass, stylePass), true);
      add("optimizer state", optState + 4 * 12.0 * P, true);
    } else {
      const double perUnit = net.arch == "squeezenet1_1" ? kSqueezeLossBytesPerUnit : kLossBytesPerUnit;
      const double lossPass = perUnit * net.units * P;
      const double stylePass = kStyleBytesPerUnit * net.units * P * scale * scale;
      add("loss network pass", std::max(lossPass, stylePass), true);
      add("optimizer state", optState, true);
    }
    // Temporal guides (video): warped image + certainty per earlier frame, as tensors.
    if (kind == JobKind::Video) add("temporal guides", c.style.longTerm.size() * 16.0 * 2 * P, true);
  }
  if (fast) {
    const bool reduced = fastUsesBFloat16(c.fast);
    const double factor = reduced ? kFastReducedFactor : kFastFloat32Factor;
    add("style network", kFastFixedBytes, true);
    std::string arbitrary;  // the arbitrary-style network's arch; empty: an ml5 network
    try {
      arbitrary = arbitraryNetworkArch(c);
    } catch (const std::runtime_error&) {
      // no such model: the stylizer says where it looked
    }
    int padW = 0, padH = 0;
    models::TileGrid grid;
    const bool tiles = c.method == Method::Fast ? c.fast.tile > 0 : optimizeTile > 0;
    if (!arbitrary.empty()) {
      models::fastNetworkInputSize(e.width, e.height, 0, padW, padH);
      if (tiles && models::arbitraryNetworkTiles(arbitrary)) {
        const ArbitraryTiledValues v = arbitraryTiledValues(arbitrary);
        padW = (e.width + v.align - 1) / v.align * v.align;
        padH = (e.height + v.align - 1) / v.align * v.align;
        grid = models::fastTileGrid(padW, padH, c.fast.tile, v.halo, v.align);
      }
    } else {
      models::fastNetworkInputSize(e.width, e.height, models::borderPadFor(c.fast.borderPad, e.width, e.height), padW,
                                   padH);
      if (tiles) grid = models::fastTileGrid(padW, padH, c.fast.tile);
    }
    // Pixels of the largest tile with its halo (the ml5 grid's halo is kFastTileHalo).
    auto largestTilePixels = [](const models::TileGrid& g) {
      int coreW = 0, coreH = 0;
      for (int i = 0; i < g.cols; ++i) coreW = std::max(coreW, g.coreWidth(i));
      for (int i = 0; i < g.rows; ++i) coreH = std::max(coreH, g.coreHeight(i));
      return (coreW + 2.0 * g.halo) * (coreH + 2.0 * g.halo);
    };
    if (grid.tiled() && !arbitrary.empty()) {
      // MicroAST, Magenta, WCT-16x: frames of a batch run one after the other through the tiles.
      const ArbitraryTiledValues v = arbitraryTiledValues(arbitrary);
      e.fastTile = c.fast.tile;
      if (e.tiling.empty()) e.tiling = grid.describe();  // hybrid: the optimizer's, with its larger halo
      const double tileP = largestTilePixels(grid);
      const double Pp = static_cast<double>(padW) * padH;
      add("style network input and output", v.fixedBytes + 4.0 * v.whole * Pp, true);
      const double quarter = 4.0 * v.quarter * Pp;
      const double decoder = 4.0 * (v.decoder * Pp + v.tile * tileP);
      if (quarter >= decoder) add("style network quarter-resolution part, whole", quarter, true);
      else add("style network tiles (float32, " + grid.describe() + ")", decoder, true);
    } else if (grid.tiled()) {
      // Frames of a batch run one after the other through the tiles.
      e.fastTile = c.fast.tile;
      if (e.tiling.empty()) e.tiling = grid.describe();  // hybrid: the optimizer's, with its larger halo
      const double tileP = largestTilePixels(grid);
      const double Pp = static_cast<double>(padW) * padH, bytes = reduced ? 2.0 : 4.0;
      const double input = 4.0 * kFastTiledInputValues * Pp;
      const double residual = bytes * kFastTiledResidualValues * Pp;
      const double tiles = bytes * (kFastTiledTilePhaseValues * Pp + kFastTileValues * tileP);
      const std::string format = reduced ? "16-bit" : "float32";
      add("style network input", input, true);
      if (residual >= tiles) add("style network residual blocks, whole (" + format + ")", residual, true);
      else add("style network tiles (" + format + ", " + grid.describe() + ")", tiles, true);
    } else if (!arbitrary.empty()) {
      // An arbitrary-style network runs float32 (MicroAST a batch at once: counted so).
      const ArbitraryTiledValues v = arbitraryTiledValues(arbitrary);
      add("style network pass (float32, batch " + std::to_string(c.fast.batch) + ")",
          v.fixedBytes + 4.0 * v.frame * P * c.fast.batch, true);
    } else {
      add(std::string("style network pass (") + (reduced ? "16-bit" : "float32") + ", batch " +
              std::to_string(c.fast.batch) + ")",
          4.0 * kFastUnits * factor * P * c.fast.batch, true);
    }
  }
  if (kind == JobKind::Image) {
    // The content at its own size (BGR + RGB) and the result (float + 8-bit + BGR).
    add("images", 6.0 * srcP + 18.0 * P, false);
  } else {
    int flowW = e.width, flowH = e.height;
    const int flowLong = std::max(flowW, flowH);
    if (c.flow.maxSide > 0 && flowLong > c.flow.maxSide) {
      const double s = static_cast<double>(c.flow.maxSide) / flowLong;
      flowW = static_cast<int>(flowW * s);
      flowH = static_cast<int>(flowH * s);
    }
    const double perFrame = 3.0 * srcP + kFrameBytesPerPixel * P +
                            (c.method == Method::Copy ? 0.0 : kFlowBytesPerPixel * flowW * flowH);
    const int batchFrames = fast ? c.fast.batch : 1;
    add("frames in flight (" + std::to_string(c.run.maxInFlight) + ")",
        perFrame * (c.run.maxInFlight + batchFrames), false);
    add("decoder", kDecoderBytesPerPixel * srcP, false);
    add("encoder", (isX26x(c.writer.codec) ? kX264BytesPerPixel : kOtherEncoderBytesPerPixel) * P, false);
  }
  e.host = static_cast<Bytes>(host);
  e.device = static_cast<Bytes>(device);
  return e;
}

// ---------------------------------------------------------------------------------------
// Limits

namespace {

bool readFile(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// A number from a one-value file; false for "max", missing or unparsable files.
bool readNumber(const std::string& path, Bytes& out) {
  std::string text;
  if (!readFile(path, text)) return false;
  std::size_t used = 0;
  try {
    const unsigned long long v = std::stoull(text, &used);
    out = v;
    return true;
  } catch (const std::logic_error&) {  // stoull: not a number, or out of range
    return false;
  }
}

// "key value" lines (memory.stat) or "Key:   value kB" lines (/proc/*/status, meminfo).
bool readKeyed(const std::string& path, const std::string& key, Bytes& out, bool kiloBytes) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    std::size_t i = key.size();
    if (i < line.size() && line[i] == ':') ++i;
    if (i >= line.size() || !std::isspace(static_cast<unsigned char>(line[i]))) continue;
    try {
      out = std::stoull(line.substr(i)) * (kiloBytes ? 1024 : 1);
      return true;
    } catch (const std::logic_error&) {  // stoull: not a number, or out of range
      return false;
    }
  }
  return false;
}

struct CgroupLimit {
  Bytes limit = 0, othersUse = 0;
  std::string file;
};

// The tightest memory limit of this process's cgroup and its ancestors (v2 and v1).
bool cgroupLimit(const MemorySources& src, Bytes ownRss, CgroupLimit& out) {
  std::ifstream in(src.proc + "/self/cgroup");
  std::string line;
  bool found = false;
  while (std::getline(in, line)) {
    // v2: "0::/path"; v1: "N:memory:/path" or "N:cpu,memory:/path".
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    bool v2 = controllers.empty(), v1 = false;
    std::stringstream cs(controllers);
    std::string name;
    while (std::getline(cs, name, ',')) v1 = v1 || name == "memory";
    if (!v1 && !v2) continue;
    // cgroup v2 is mounted at the root or, on hybrid systems, at ./unified; v1 at ./memory.
    const std::vector<std::string> roots =
        v2 ? std::vector<std::string>{src.cgroupRoot, src.cgroupRoot + "/unified"}
           : std::vector<std::string>{src.cgroupRoot + "/memory"};
    for (const std::string& root : roots) {
      const char* limitName = v2 ? "memory.max" : "memory.limit_in_bytes";
      const char* usageName = v2 ? "memory.current" : "memory.usage_in_bytes";
      const char* inactiveKey = v2 ? "inactive_file" : "total_inactive_file";
      // Walk from this cgroup up to the root (a namespaced path may not exist: then the root).
      std::string p = path;
      while (true) {
        const std::string dir = root + (p == "/" ? "" : p);
        Bytes limit = 0;
        if (readNumber(dir + "/" + limitName, limit) && limit < (Bytes(1) << 60)) {
          Bytes usage = 0, inactive = 0;
          readNumber(dir + "/" + usageName, usage);
          readKeyed(dir + "/memory.stat", inactiveKey, inactive, false);
          const Bytes used = usage > inactive ? usage - inactive : 0;
          const Bytes others = used > ownRss ? used - ownRss : 0;
          const Bytes allowed = limit > others ? limit - others : 0;
          if (!found || allowed < out.limit - out.othersUse) {
            out.limit = limit;
            out.othersUse = others;
            out.file = dir + "/" + limitName;
            found = true;
          }
        }
        if (p.empty() || p == "/") break;
        const auto slash = p.find_last_of('/');
        p = slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
      }
    }
  }
  return found;
}

}  // namespace

ProcessMemory processMemory(const std::string& proc) {
  ProcessMemory m;
  const std::string status = proc + "/self/status";
  readKeyed(status, "VmRSS", m.rss, true);
  readKeyed(status, "VmHWM", m.peakRss, true);
  readKeyed(status, "VmSize", m.size, true);
  readKeyed(status, "VmPeak", m.peakSize, true);
  return m;
}

MemoryLimit memoryLimit(std::uint64_t maxMemory, const MemorySources& src) {
  MemoryLimit best;
  auto consider = [&](Bytes bytes, const std::string& what) {
    if (!best.known || bytes < best.bytes) {
      best.known = true;
      best.bytes = bytes;
      best.what = what;
    }
  };
  if (maxMemory > 0) consider(maxMemory, "--max-memory " + formatBytes(maxMemory));
  const ProcessMemory self = processMemory(src.proc);
  CgroupLimit cg;
  if (cgroupLimit(src, self.rss, cg)) {
    consider(cg.limit > cg.othersUse ? cg.limit - cg.othersUse : 0,
             "the cgroup limit " + formatBytes(cg.limit) + " (" + cg.file + ")" +
                 (cg.othersUse > 0 ? ", " + formatBytes(cg.othersUse) + " of it used by other processes" : ""));
  }
  if (src.useRlimit) {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      const Bytes mappedOnly = self.size > self.rss ? self.size - self.rss : 0;
      const Bytes reserve = mappedOnly + static_cast<Bytes>(kVirtualOverheadBytes);
      const Bytes lim = static_cast<Bytes>(rl.rlim_cur);
      consider(lim > reserve ? lim - reserve : 0,
               "the address-space limit RLIMIT_AS " + formatBytes(lim) + " (ulimit -v), less " +
                   formatBytes(mappedOnly) + " mapped but not resident and " +
                   formatBytes(static_cast<Bytes>(kVirtualOverheadBytes)) + " for threads");
    }
  }
  Bytes available = 0;
  if (readKeyed(src.proc + "/meminfo", "MemAvailable", available, true)) {
    consider(available + self.rss, "the available memory (MemAvailable " + formatBytes(available) + " + " +
                                       formatBytes(self.rss) + " this process holds)");
  }
  return best;
}

std::uint64_t gpuFreeMemory(const std::string& device) {
  // cudaMemGetInfo from the CUDA runtime LibTorch loaded (none on a CPU build).
  using MemGetInfo = int (*)(std::size_t*, std::size_t*);
  using SetDevice = int (*)(int);
  static const char* kNames[] = {"libcudart.so", "libcudart.so.12", "libcudart.so.11.0"};
  for (const char* name : kNames) {
    void* lib = ::dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    if (lib == nullptr) continue;
    auto getInfo = reinterpret_cast<MemGetInfo>(::dlsym(lib, "cudaMemGetInfo"));
    auto setDevice = reinterpret_cast<SetDevice>(::dlsym(lib, "cudaSetDevice"));
    std::size_t freeBytes = 0, total = 0;
    const auto colon = device.find(':');
    if (setDevice != nullptr && colon != std::string::npos) setDevice(std::atoi(device.c_str() + colon + 1));
    const bool ok = getInfo != nullptr && getInfo(&freeBytes, &total) == 0;
    ::dlclose(lib);
    if (ok) return freeBytes;
  }
  return 0;
}

std::uint64_t parseMemorySize(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::logic_error&) {  // stod: not a number, or out of range
    throw std::invalid_argument("--max-memory: '" + text + "' is not a size (e.g. 512M, 8G)");
  }
  std::string unit = text.substr(used);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KIB") scale = 1024.0;
  else if (unit == "M" || unit == "MIB") scale = kMiB;
  else if (unit == "G" || unit == "GIB") scale = 1024.0 * kMiB;
  else if (unit == "T" || unit == "TIB") scale = 1024.0 * 1024.0 * kMiB;
  else if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "TB") scale = 1e12;
  if (scale == 0 || !(value > 0) || !std::isfinite(value) || value * scale > 1e18) {
    throw std::invalid_argument("--max-memory: '" + text +
                                "' is not a size (a positive number with K, M, G or T, e.g. 512M, 8G)");
  }
  return static_cast<std::uint64_t>(value * scale);
}

const std::vector<int>& autoTileSides() {
  static const std::vector<int> sides = {4096, 3072, 2048, 1536, 1024, 768, 512, 384, 256, 192, 128, models::kMinFastTile};
  return sides;
}

namespace {

// Whether automatic tiling applies: --tile automatic with --method optimize, or --method fast
// or hybrid with an ml5 network or an arbitrary-style network that tiles.
bool autoTiles(const Config& c) {
  if (c.fast.tile != kAutoTile) return false;
  if (c.method == Method::Optimize) return true;  // estimateMemory tiles only what can be
  if (c.method != Method::Fast && c.method != Method::Hybrid) return false;
  try {
    const std::string arch = arbitraryNetworkArch(c);
    return arch.empty() || models::arbitraryNetworkTiles(arch);
  } catch (const std::runtime_error&) {
    return false;  // no such model: the stylizer says where it looked
  }
}

}  // namespace

MemoryEstimate checkMemory(const Config& c, JobKind kind, int srcW, int srcH, const std::string& file,
                           const MemorySources& sources) {
  const bool autoTile = autoTiles(c);
  Config whole = c;
  if (autoTile) whole.fast.tile = 0;
  MemoryEstimate e = estimateMemory(whole, kind, srcW, srcH);
  if (c.run.force && !autoTile) return e;
  const MemoryLimit limit = memoryLimit(c.run.maxMemory, sources);
  e.limit = limit.known ? formatBytes(limit.bytes) + ": " + limit.what : "none known";
  std::uint64_t gpuFree = e.onGpu ? gpuFreeMemory(c.run.device) : 0;
  auto within = [&](const MemoryEstimate& t, double share) {
    return (!limit.known || t.host <= share * static_cast<double>(limit.bytes)) &&
           (!t.onGpu || gpuFree == 0 || t.device <= share * static_cast<double>(gpuFree));
  };
  if (within(e, 1.0)) return e;
  if (autoTile) {
    // The largest tile that leaves the suggestions' margin free, else the largest that fits.
    for (const double share : {kSuggestionShare, 1.0}) {
      for (const int side : autoTileSides()) {
        Config trial = c;
        trial.fast.tile = side;
        MemoryEstimate t = estimateMemory(trial, kind, srcW, srcH);
        if (t.fastTile == 0 || !within(t, share)) continue;
        t.limit = e.limit;
        return t;
      }
    }
  }
  const bool optimizes = c.method == Method::Optimize || c.method == Method::Hybrid;
  const int smallestTile = optimizes ? kMinOptimizeTile : models::kMinFastTile;
  if (c.run.force) {
    // Anyway, but in the least memory: the smallest tile when the frame tiles at all.
    Config smallest = c;
    smallest.fast.tile = smallestTile;
    MemoryEstimate t = autoTile ? estimateMemory(smallest, kind, srcW, srcH) : e;
    if (t.fastTile == 0 || t.host >= e.host) return e;
    t.limit = e.limit;
    return t;
  }
  const bool hostFits = !limit.known || e.host <= limit.bytes;

  // A suggestion must run: its estimate leaves a fifth of the limit free, because measured
  // peaks run up to ~22 % above the estimate (README, Reliability; a fresh-clone CI run hit it).
  auto fits = [&](const Config& trial) {
    const MemoryEstimate t = estimateMemory(trial, kind, srcW, srcH);
    return (!limit.known || t.host <= kSuggestionShare * static_cast<double>(limit.bytes)) &&
           (!t.onGpu || gpuFree == 0 || t.device <= kSuggestionShare * static_cast<double>(gpuFree));
  };
  std::string msg = file + ": this job needs about " +
                    (hostFits ? formatBytes(e.device) + " of GPU memory, more than the " + formatBytes(gpuFree) +
                                    " free on " + c.run.device
                              : formatBytes(e.host) + " of memory at " + std::to_string(e.width) + "x" +
                                    std::to_string(e.height) + ", more than the " + formatBytes(limit.bytes) +
                                    " this process may use (" + limit.what + ")");
  // The largest working size that fits (the long side, by bisection): --max-side N, or
  // with --size WxH given (it wins over --max-side) a --size of the same shape.
  const int longSide = std::max(e.width, e.height);
  const bool exact = c.size.width > 0 && c.size.height > 0;
  auto sized = [&](int side) {
    Config trial = c;
    trial.size = SizeConfig{};
    if (exact) {
      trial.size.width = std::max(2, static_cast<int>(std::lround(double(c.size.width) * side / longSide)));
      trial.size.height = std::max(2, static_cast<int>(std::lround(double(c.size.height) * side / longSide)));
    } else {
      trial.size.maxSide = side;
    }
    // Automatic tiles: at that size the check picks a tile that fits when the smallest does.
    if (autoTile) trial.fast.tile = smallestTile;
    return trial;
  };
  int lo = 0, hi = longSide;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (mid >= 16 && fits(sized(mid))) lo = mid;
    else hi = mid;
  }
  std::vector<std::string> helps;
  if (lo >= 16 && exact) {
    const Config best = sized(lo);
    helps.push_back("--size " + std::to_string(best.size.width) + "x" + std::to_string(best.size.height) + " fits");
  } else if (lo >= 16) {
    helps.push_back("--max-side " + std::to_string(lo) + " fits");
  }
  // Other changes, each on its own.
  if (optimizes && c.style.lossNet.find("squeezenet") == std::string::npos) {
    Config trial = c;
    trial.style.lossNet = "squeezenet";
    try {
      if (fits(trial)) helps.push_back("--loss-net squeezenet fits");
    } catch (const std::runtime_error&) {
      // SqueezeNet not installed (resolveModel): no suggestion.
    }
  }
  if (autoTile || (c.method != Method::Copy && c.fast.tile > 0)) {
    // Tiles: a smaller one that fits, or what the smallest needs (the rest stays whole).
    std::string tileHelp;
    for (const int side : autoTileSides()) {
      if (c.fast.tile > 0 && side >= c.fast.tile) continue;
      Config trial = c;
      trial.fast.tile = side;
      const MemoryEstimate t = estimateMemory(trial, kind, srcW, srcH);
      if (t.fastTile == 0) continue;
      if (fits(trial)) {
        tileHelp = "--tile " + std::to_string(side) + " fits";
        break;
      }
      tileHelp = "even the smallest tile (--tile " + std::to_string(side) + ") needs about " + formatBytes(t.host) +
                 (optimizes ? " (the optimizer's state stays whole)"
                                               : " (the quarter-resolution part stays whole)");
    }
    if (!tileHelp.empty()) helps.insert(helps.begin(), tileHelp);
  }
  if ((c.method == Method::Fast || c.method == Method::Hybrid) && c.fast.batch > 1) {
    Config trial = c;
    trial.fast.batch = 1;
    if (fits(trial)) helps.push_back("--batch 1 fits");
  }
  if ((c.method == Method::Fast || c.method == Method::Hybrid) && c.fast.precision == models::Precision::Float32) {
    Config trial = c;
    trial.fast.precision = models::Precision::BFloat16;
    if (fits(trial)) helps.push_back("--precision bfloat16 fits");
  }
  if (kind == JobKind::Video && c.run.maxInFlight > 2) {
    Config trial = c;
    trial.run.maxInFlight = 2;
    if (fits(trial)) helps.push_back("--in-flight 2 fits");
  }
  if (helps.empty()) helps.push_back("nothing smaller fits: free memory or raise the limit");
  msg += "; ";
  for (std::size_t i = 0; i < helps.size(); ++i) msg += (i ? ", " : "") + helps[i];
  msg += "; --force runs it anyway";
  throw MemoryError(msg);
}

MemoryEstimate checkVideoMemory(Config& c) {
  int w = 0, h = 0;
  {
    stages::VideoReader probe(c.reader);
    w = probe.info().width;
    h = probe.info().height;
  }
  MemoryEstimate e = checkMemory(c, JobKind::Video, w, h, c.reader.path);
  if (c.fast.tile == kAutoTile) c.fast.tile = e.fastTile;
  return e;
}

}  // namespace flowstyle::pipeline
