#pragma once
// Temporal warping error (Lai et al. 2018): how much a video changes where the original's
// flow says it should not (WarpingErrorMeter below states the formula).
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "stages/flow.hpp"

namespace flowstyle::stages {

struct PairError {
  std::int64_t index = 0;        // pair (index, index + 1)
  double stylized = 0;           // E_t of the stylized video
  double original = 0;           // E_t of the original video (the floor)
  double visibleFraction = 0;    // sum(V) / pixels
};

struct WarpingErrorReport {
  std::vector<PairError> pairs;
  double meanStylized = 0;
  double meanOriginal = 0;
};

// sum V·<x(p), y(p)> over the pixels p and channels: x, y CV_32FC3, V CV_32FC1, one size.
// The warping error is visibleDot(d, d, V) / (3 sum V), d = O_t - warp(O_{t+1}, F).
double visibleDot(const cv::Mat& x, const cv::Mat& y, const cv::Mat& visible);

// Feed frames in order. For each consecutive pair (t, t+1) the flows
// F = flow(orig_t, orig_{t+1}) and B = flow(orig_{t+1}, orig_t) are computed once on the
// *original* frames, V = certaintyHard(F, B), and for O = stylized and O = original:
//   E_t = sum V * |O_t - warp(O_{t+1}, F)|^2 / (3 sum V), images as float in [0, 1].
// The original's E_t is the floor (what the flow cannot explain). A pair with sum V == 0
// gets E_t = 0 and visibleFraction 0 and is left out of the means (the means average the
// pairs with visibleFraction > 0; 0 when there are none).
// Size rule: original and stylized must be CV_8UC3 of the same size, and every frame the
// size of the first; any mismatch throws std::runtime_error (resize before feeding).
class WarpingErrorMeter {
 public:
  explicit WarpingErrorMeter(const FlowConfig& flow);
  // original, stylized: CV_8UC3 RGB, same size.
  void add(const cv::Mat& original, const cv::Mat& stylized);
  WarpingErrorReport report() const;

 private:
  FlowEstimator flow_;
  cv::Mat prevOriginalGray_, prevOriginal_, prevStylized_;
  WarpingErrorReport report_;
  std::int64_t count_ = 0;
};

}  // namespace flowstyle::stages
