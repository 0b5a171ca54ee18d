#pragma once
// Dense optical flow, certainty and warping (OpenCV). Flow never looks at stylized frames.
#include <string>

#include <opencv2/core.hpp>

namespace flowstyle::stages {

enum class FlowMethod { Dis, DeepFlow, Farneback };
// "dis", "deepflow", "farneback"; throws listing the valid names.
FlowMethod parseFlowMethod(const std::string& name);
std::string toString(FlowMethod method);

struct FlowConfig {
  FlowMethod method = FlowMethod::Dis;
  std::string disPreset = "medium";  // ultrafast | fast | medium
  int maxSide = 640;  // flow is computed at most at this long side, vectors rescaled
};

// Direction convention: flow(from, to) returns F, CV_32FC2 at from's size, with
// from(p) ≈ to(p + F(p)), in pixels (x, y). So warp(to, F) ≈ from.
// Not thread-safe (keeps algorithm state): one instance per node or per task.
class FlowEstimator {
 public:
  explicit FlowEstimator(const FlowConfig& config);
  // from, to: CV_8UC1 (or CV_8UC3 RGB, converted), same size, at least 2x2.
  cv::Mat operator()(const cv::Mat& from, const cv::Mat& to);

 private:
  FlowConfig config_;
  cv::Ptr<cv::Algorithm> algorithm_;
};

// Backward warp: out(p) = image(p + flow(p)), bilinear. Border rule: samples that
// fall outside the image take the nearest edge pixel (BORDER_REPLICATE); such pixels
// are marked uncertain by certainty(), so the replicated values never carry weight.
// image: any depth, 1-4 channels; flow: CV_32FC2 of the output size.
cv::Mat warp(const cv::Mat& image, const cv::Mat& flow);

// Certainty of warping into frame t with forward = flow(t, t') and
// backward = flow(t', t) (constants from Ruder et al. 2016, see DESIGN.md).
// Returns CV_32FC1 in {0, 1} at forward's size: 0 at disocclusions, motion
// boundaries and where p + forward(p) leaves the frame.
cv::Mat certaintyHard(const cv::Mat& forward, const cv::Mat& backward);
// Soft version for loss weights: the hard mask blurred (Gaussian, sigma in pixels),
// values in [0, 1], never larger than 1 and 0 where the hard mask's whole
// neighbourhood is 0.
cv::Mat certaintySoft(const cv::Mat& hard, double sigma = 1.0);

}  // namespace flowstyle::stages
