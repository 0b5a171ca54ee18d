#pragma once
// Feed-forward style networks (Johnson et al. 2016; the ml5 / Engstrom network).
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "models/safetensors.hpp"

namespace flowstyle::models {

// Imports an ml5 / deeplearn.js checkpoint folder (manifest.json + one raw float32
// file per variable) into PyTorch layout with flowstyle key names and metadata
// (flowstyle.arch = johnson_ml5, flowstyle.name = folder name). Checks every
// variable's presence, shape and file size; errors name the folder and variable.
TensorFile importMl5Checkpoint(const std::string& folder);

class FastStyleNetwork {
 public:
  // path: a safetensors file written from importMl5Checkpoint, or an ml5 folder.
  // device: as models::resolveDevice. Shapes checked on load.
  FastStyleNetwork(const std::string& path, const std::string& device = "auto");
  ~FastStyleNetwork();
  std::string name() const;

  // frames: CV_8UC3 RGB, all the same size (any size >= 1x1). Returns CV_8UC3 RGB
  // of each frame's own size (padded to a multiple of 4 before the net, cropped after).
  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames);

  // The raw network on one image (no pad/crop): output size follows TF SAME rounding
  // (90x70 -> 92x72). Returns CV_32FC3 RGB in [0,255] (clipped). For golden tests.
  cv::Mat raw(const cv::Mat& rgb);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowstyle::models
