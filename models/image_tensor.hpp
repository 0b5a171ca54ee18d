#pragma once
// The one pair of layout functions of the arbitrary-style networks (issue 23): 8-bit RGB
// frames <-> float NCHW in 0..1. Both check type and shape and copy (no view of memory
// they do not own survives the call).
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/torch.h>

namespace flowstyle::models {

// frames: CV_8UC3 RGB, all one size, at least one. Returns an owned float [N,3,H,W] in 0..1.
// `what` names the caller in errors (std::invalid_argument).
torch::Tensor rgbFramesToTensor01(const std::vector<cv::Mat>& frames, const std::string& what);

// x: [N,3,H,W] float (any device), clamped to 0..1 and rounded. Returns N CV_8UC3 RGB.
std::vector<cv::Mat> tensor01ToRgbFrames(const torch::Tensor& x);

}  // namespace flowstyle::models
