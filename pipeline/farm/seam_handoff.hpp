#pragma once
// The handoff of `join --blend restyle` on frames: measuring the model of
// pipeline/farm/seam_blend.hpp (HandoffModel) on the restyled chain R, the later part Q and the
// earlier part P, mixing the fade, and checking the mixed frames after rounding.
//
// The model is the blend before rounding to 8 bits. Where the source repeats a frame, a
// small step of v rounds two near-identical blends apart: every pixel whose blended value
// crosses a half between the two frames flips by 1, an error that grows with the step
// (not its square, as the model's) and that the pair's tiny own error shows most. So
// settleHandoff measures the rounded fade, keeps v steady on each pair that came
// out above the schedule's worst with a step on it, schedules again, and keeps the best fade
// of a few rounds.
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "pipeline/farm/seam_blend.hpp"

namespace flowstyle::pipeline {

// What was measured of each pair (t, t + 1) of a fade to measure it again: the source's flow
// of frame t to t + 1, the pixels the warping error counts, their weight and the pair's unit
// (the smallest own error of the chains). An empty flow: the pair was not measured.
struct HandoffPair {
  cv::Mat forward, visible;
  double norm = 0, unit = 1;
};

// The handoff model, measured with flow on the source as the warping error is: `src` and
// `chain` = the source and the joined frames from..pLast (the earlier part's before
// blendFirst, the restyled ones after), `earlier` = P's frames from..pLast, `later` = Q's
// frames blendFirst..pLast + 1 (all CV_8UC3). Per pair of the fade (width + 1 of them) the six
// inner products of A, B and C over the visible pixels, in units of the smallest own error of
// R, Q and P on the pair; per frame of the fade D over Q's variance. `pairs` receives what
// each pair's measurement used.
HandoffModel measureHandoff(const std::vector<cv::Mat>& src, const std::vector<cv::Mat>& chain,
                            const std::vector<cv::Mat>& earlier, const std::vector<cv::Mat>& later,
                            std::int64_t from, std::int64_t blendFirst, std::int64_t pLast,
                            std::vector<HandoffPair>& pairs);

// The fade's joined frames (1 - v_i)·R_i + v_i·Q_i, rounded to 8 bits (R_i itself where v_i
// is 0, Q_i where it is 1). restyled: width frames, later: at least width.
std::vector<cv::Mat> mixHandoff(const std::vector<cv::Mat>& restyled, const std::vector<cv::Mat>& later,
                                const std::vector<double>& v);

// The warping error of each pair of the joined frames before, fade..., after (width + 1
// pairs), in its unit; 0 where the pair was not measured.
std::vector<double> handoffPairErrors(const cv::Mat& before, const std::vector<cv::Mat>& fade,
                                      const cv::Mat& after, const std::vector<HandoffPair>& pairs);

struct SettledHandoff {
  std::vector<cv::Mat> frames;  // the fade's joined frames
  std::vector<double> weights;  // their v
  double worst = 0;             // the largest pair error of the rounded frames, in units
  double firstWorst = 0;        // ... of the first schedule's (before any pair was kept steady)
  int steadyPairs = 0;          // pairs kept steady in the fade chosen
};

// The fade from `restyled` onto `later` that minimizes the worst pair of the rounded frames
// over a few rounds of handoffSchedule (above). before: the joined frame before the fade
// (empty: none), after: Q's first own frame.
SettledHandoff settleHandoff(HandoffModel model, const std::vector<HandoffPair>& pairs,
                             const std::vector<cv::Mat>& restyled, const std::vector<cv::Mat>& later,
                             const cv::Mat& before, const cv::Mat& after);

}  // namespace flowstyle::pipeline
