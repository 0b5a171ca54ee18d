#pragma once
// Temporal warping error (Lai et al. 2018), see DESIGN.md "Measuring quality".
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

// Feed frame pairs in order. Certainty V is computed from flows on the *original*
// frames (hard mask). E_t = sum V * |O_t - warp(O_{t+1}, flow(t, t+1))|^2 / (3 sum V),
// images in [0, 1]. Frames of the two videos must have the same size (stylized is
// resized to the original's size if it differs? No: a size mismatch throws).
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
