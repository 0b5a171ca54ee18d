#pragma once
// The arbitrary-style networks (microast, magenta, wct16x, multistyle26) as the pipeline
// uses them: the job's style encoded once, then one pass per frame. Torch-free: frames
// cross as cv::Mat.
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pipeline/config.hpp"

namespace flowstyle::pipeline {

// Whether config.fast.model names an arbitrary-style network (resolved through the model
// store; an ml5 style network is not one). Throws the store's error when it names nothing.
bool usesArbitraryNetwork(const Config& config);
// The architecture of that network (models::ArbitraryStyleNetwork::arch(), from the file's
// header): "microast", ...; empty when config.fast.model names no arbitrary-style network.
// Throws the store's error when it names nothing.
std::string arbitraryNetworkArch(const Config& config);

// The stabilization blend (--method fast, --temporal-weight not given) for the network
// `arch` (ArbitraryStyleNetwork::arch()): kTemporalWeight, and 0.95 for magenta and wct16x,
// whose frames move more from one to the next (the measurements: docs/performance.md,
// "Steadier magenta and wct16x").
double stabilizationWeight(const std::string& arch);

// Loads a style image for an arbitrary-style network at its working size: the long side
// scaled to `longSide` (area averaging to shrink, bicubic to enlarge). Errors name the file:
// unreadable, or smaller than 8x8 pixels.
cv::Mat loadStyleForNetwork(const std::string& path, int longSide);

// Paints frames in the job's style. Built from config.fast (model, strength, style size,
// style indices, tile side: > 0 tiles, see models::ArbitraryStyleNetwork::setTile), config.style
// (style images, blend, preserve colours) and config.run.device;
// every error (weights, style images, indices) surfaces in the constructor.
// Not thread-safe: one instance per serial node.
class ArbitraryPainter {
 public:
  explicit ArbitraryPainter(const Config& config);
  ~ArbitraryPainter();
  ArbitraryPainter(const ArbitraryPainter&) = delete;
  ArbitraryPainter& operator=(const ArbitraryPainter&) = delete;

  // frames: CV_8UC3 RGB, all the same size. Returns CV_8UC3 RGB, each of its frame's size.
  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames);
  // For the job summary, e.g. "arbitrary-style network microast, 2 styles, strength 0.8"
  // (after a tiled call: "...; tiled: 3x2 tiles of 1024 px, halo 23").
  std::string describe() const;
  // The network's ArbitraryStyleNetwork::arch(), e.g. "microast".
  std::string arch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowstyle::pipeline
