#pragma once
// `join --blend restyle`: the overlap frames of one seam stylized again as one chain that
// moves, on a schedule, from the earlier part's frames to the later part's.
//
// With J the joined frames, ω_k the warp of frame t-k into frame t (the source's flow) and
// w_t the fade's weights (w = 0 before the overlap, rising towards 1), frame t starts from
//   G_t = ω_k(J_{t-k}) + α·(Q_t - ω_k(J_{t-k})),   α = (w_t - w_{t-k}) / (1 - w_{t-k})
// which leaves J a share 1 - w_t of the way from the later part Q, as the cross-fade
// would, and the stylizer's temporal term holds the result near G_t where the flow is
// certain. Where it is not (disocclusions), the start is the cross-fade of the two parts.
// A step of the schedule then adds (w_t - w_{t-1})²·D to the pair's warping error, D the
// parts' mean squared difference, and a frame with no step (a repeated source frame)
// continues the chain as an uninterrupted run would. A frame whose weight has reached 1 is
// the later part's own. Torch-free: the stylizer does the work.
//
// The landing hold: the optimizer repaints every start a little, and what the chain has
// drifted off the cross-fade by the end of the fade is left for the last frames (α → 1 there)
// and the handoff to remove, in a few large steps. So the temporal terms of frame t are
// weighted (1 - w_t)^-hold (at most kMaxHold): the chain is free to repaint early in the fade
// and lands on the later part at its end (seam pairs against style loss by hold:
// docs/farm.md, "Results that decided the defaults").
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "pipeline/frame_stylizer.hpp"
#include "stages/flow.hpp"

namespace flowstyle::pipeline {

struct SeamFrames {
  std::int64_t from = 0;           // source frame number of source[0] and earlier[0]
  std::vector<cv::Mat> source;     // CV_8UC3 RGB at the parts' size, frames from..last
  std::vector<cv::Mat> earlier;    // the earlier part P, frames from..last (CV_8UC3)
  std::int64_t blendFirst = 0;     // the first restyled frame (from < blendFirst when P has one before it)
  std::vector<cv::Mat> later;      // the later part Q, frames blendFirst..last (CV_8UC3)
  std::vector<double> weights;     // w of each restyled frame, blendFirst..last, in [0, 1)
  double hold = 0;                 // the landing hold's exponent (0: the chunks' own temporal weight)
};

// The landing hold's largest factor on the temporal weight (a weight of 1 is the later part's).
inline constexpr double kMaxHold = 64;

// The factor on frame t's temporal terms: min(kMaxHold, (1 - w)^-hold).
double landingHold(double weight, double hold);

// The temporal guide of a frame to an earlier stylized one (restyle and polish alike): the
// source's flow both ways between the two frames' contents (CV_8UC3), its soft certainty, and
// `earlierStylized` (CV_32FC3) warped into place; weight 1.
models::TemporalGuide warpedGuide(stages::FlowEstimator& estimator, const cv::Mat& content,
                                  const cv::Mat& earlierContent, const cv::Mat& earlierStylized);

// The restyled frames blendFirst..last (CV_8UC3). `offsets`: the stylizer's temporal
// offsets (nearest first; empty means 1). onFrame(n, done, total) after each frame.
std::vector<cv::Mat> restyleSeam(FrameStylizer& stylizer, const SeamFrames& seam, const stages::FlowConfig& flow,
                                 std::vector<int> offsets,
                                 const std::function<void(std::int64_t, int, int)>& onFrame = {});

}  // namespace flowstyle::pipeline
