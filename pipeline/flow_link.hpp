#pragma once
// The flow from a frame to an earlier one and how far it can be trusted: the one place the
// video graph and join's restyle compute them (both feed the temporal term).
#include <opencv2/core.hpp>

#include "stages/flow.hpp"

namespace flowstyle::pipeline {

struct FlowLink {
  cv::Mat flow;       // CV_32FC2: gray(p) ≈ earlierGray(p + flow(p)), in pixels
  cv::Mat certainty;  // CV_32FC1 in [0,1]: the soft forward-backward consistency
};

// gray, earlierGray: CV_8UC1, same size. Runs `estimator` forward (gray -> earlierGray)
// then backward, and takes the certainty from their consistency (stages::certaintyHard,
// stages::certaintySoft). Not thread-safe (the estimator is not): one estimator per thread.
FlowLink flowToEarlier(stages::FlowEstimator& estimator, const cv::Mat& gray, const cv::Mat& earlierGray);

// A shot change (a cut) between the two frames: the mean certainty of the link is below
// kShotChangeCertainty. The video graph then gives the frame no temporal guide at all, so
// nothing of the previous shot is warped into the next; the frame starts as a first frame.
// The threshold lies between a cut's certainty and that of consecutive frames
// (docs/how-it-works.md).
inline constexpr double kShotChangeCertainty = 0.2;
bool isShotChange(const FlowLink& link);

}  // namespace flowstyle::pipeline
