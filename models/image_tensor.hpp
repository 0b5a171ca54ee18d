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

// Reflection padding by p (< H, W) on every side of [N,C,H,W], keeping x's memory format
// (LibTorch 1.13's reflection_pad2d round-trips channels-last tensors through NCHW).
torch::Tensor reflectPad2d(const torch::Tensor& x, std::int64_t p);
// The same with its own width per side (each < the size across it; 0 leaves that side):
// what a tile at the frame's edge adds where the whole-frame convolution reflects.
torch::Tensor reflectPad2d(const torch::Tensor& x, std::int64_t left, std::int64_t right, std::int64_t top,
                           std::int64_t bottom);

}  // namespace flowstyle::models
