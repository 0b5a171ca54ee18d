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
  std::string disPreset = "medium";  // ultrafast | fast | medium (DIS only)
  // Flow is computed at most at this long side (frames are downscaled with INTER_AREA),
  // then the field is resized back (bilinear) and its vectors multiplied by the scale.
  // 0 or less: always full resolution.
  int maxSide = 640;
};

// Direction convention: flow(from, to) returns F, CV_32FC2 at from's size, with
// from(p) ≈ to(p + F(p)), in pixels (x, y). So warp(to, F) ≈ from.
// Methods: DIS (OpenCV, preset settings only), DeepFlow (opencv_contrib optflow),
// Farneback (pyr 0.5, 4 levels, window 15, 3 iterations, poly 5 / 1.2).
// Deterministic: the same inputs give bit-identical output; with OpenCV 4.6 (TBB
// backend) all three methods also give bit-identical fields for 1, 2 and 8
// cv::setNumThreads() (tested for 1 vs 2).
// Frames smaller than 64 px on a side are padded (edge replicated) for the estimator
// and the field cropped back.
// Not thread-safe (keeps algorithm state): one instance per node or per task.
class FlowEstimator {
 public:
  // Throws on an unknown disPreset, listing the valid names.
  explicit FlowEstimator(const FlowConfig& config);
  // from, to: CV_8UC1 (or CV_8UC3 RGB, converted), same size, at least 2x2.
  // Throws std::runtime_error on a type or size mismatch.
  cv::Mat operator()(const cv::Mat& from, const cv::Mat& to);
  const FlowConfig& config() const { return config_; }

 private:
  FlowConfig config_;
  cv::Ptr<cv::Algorithm> algorithm_;
};

// CV_8UC3 RGB -> CV_8UC1 luma (cv::COLOR_RGB2GRAY). A CV_8UC1 input is returned as is
// (shared data). Anything else throws.
cv::Mat toGray(const cv::Mat& rgb);

// Long-term temporal rule (Ruder et al. 2016): the part of a farther frame's certainty
// that nearer frames have not already covered, max(0, certainty - coveredSoFar).
// Both CV_32FC1 of the same size; an empty coveredSoFar means nothing is covered yet
// (returns a copy of certainty). The caller accumulates coveredSoFar += result.
cv::Mat excludeCovered(const cv::Mat& certainty, const cv::Mat& coveredSoFar);
// excludeCovered, then adds the result to `covered` (capped at 1; empty: nothing covered
// yet). Long-term guides call it nearest frame first.
cv::Mat claimUncovered(const cv::Mat& certainty, cv::Mat& covered);

// Backward warp: out(p) = image(p + flow(p)), bilinear (cv::remap, which resolves
// positions to 1/32 pixel). Border rule: samples that fall outside the image take the
// nearest edge pixel (BORDER_REPLICATE); such pixels are marked uncertain by
// certaintyHard(), so the replicated values never carry weight.
// image: any depth, 1-4 channels; flow: CV_32FC2 of the output size.
cv::Mat warp(const cv::Mat& image, const cv::Mat& flow);

// Certainty of warping into frame t with forward = flow(t, t') and
// backward = flow(t', t) (the constants of Ruder et al. 2016, below).
// Returns CV_32FC1 in {0, 1} at forward's size: 0 at disocclusions, motion
// boundaries and where p + forward(p) leaves the frame.
// Details: B~(p) = backward sampled bilinearly at p + F(p). Disoccluded if
// |F + B~|^2 > 0.01 (|F|^2 + |B~|^2) + 0.5. Motion boundary if
// |grad F_u|^2 + |grad F_v|^2 > 0.01 |F|^2 + 0.002, gradients by central differences
// (f(x+1) - f(x-1)) / 2, edge replicated (so a per-pixel finite difference).
// Out of frame: p + F(p) outside the image area [-0.5, W-0.5] x [-0.5, H-0.5] of
// backward's grid (pixel centres at integers), so sub-pixel jitter at the edge is not
// flagged.
// forward, backward: CV_32FC2; backward's size is the target frame's size.
cv::Mat certaintyHard(const cv::Mat& forward, const cv::Mat& backward);
// Soft version for loss weights: the hard mask blurred (Gaussian, sigma in pixels),
// values in [0, 1], never larger than 1 and 0 where the hard mask's whole
// neighbourhood is 0. Edges replicated; sigma <= 0 returns a copy of the hard mask.
cv::Mat certaintySoft(const cv::Mat& hard, double sigma = 1.0);

}  // namespace flowstyle::stages
