#pragma once
// `join --blend restyle`, the polish: the fade's joined frames optimized once more, in order.
//
// The restyled chain is held ever more firmly on its scheduled start (the landing hold,
// pipeline/farm/seam_restyle.hpp) and the handoff then mixes it with the later part's own frames
// (pipeline/farm/seam_handoff.hpp): both keep the seam's pairs steady, and both cost texture (a
// held chain repaints little; a mix of two paintings is neither). The polish gives it back:
// frame t of the fade starts from its joined frame F_t and is optimized with the chunks' own
// objective, its temporal term to the polished frame before it (warped by the source's flow,
// as `video` does), plus an anchor that holds it on F_t itself, weighted
//   a_t = (1 - w_t)^-polish - 1   (at most kMaxHold - 1)
// with w_t the restyle schedule's weight. Early in the fade (a_t near 0) the frame is free to
// paint as an uninterrupted run would; towards its end the anchor keeps it on the handoff's
// frames, which land on the later part. Frames the handoff gave to the later part (v = 1)
// stay as they are. What it does to style loss and seam pairs: docs/farm.md, "Results that decided the defaults".
// The look-ahead: the chain runs forward, so what the polish moves a frame off its anchor
// shows in the pair into the next frame, and most at the fade's end, where the next is the
// later part's own frame and cannot move. So frame t also has a temporal term to its next
// joined frame F_{t+1} (the later part's first own frame after the fade), warped back by the
// source's flow, weighted lookahead·a_t: none early in the fade, as firm as the anchor's
// share at its end (its effect: docs/farm.md, "Results that decided the defaults").
// A repeated source frame (old film repeats frames) is not painted again:
// it is the polished frame before it plus what the handoff changed on the pair (nothing where
// the handoff kept v steady), as an uninterrupted run paints it up to the optimizer's last
// small steps; two frames optimized apart and rounded would differ by far more than that
// run's own pair there. A pair
// is a repeat when its source frames differ by less than kRepeatShare of the median
// difference of the fade's pairs.
// Torch-free: the stylizer does the work.
#include <cstdint>
#include <functional>
#include <vector>

#include <opencv2/core.hpp>

#include "pipeline/frame_stylizer.hpp"
#include "stages/flow.hpp"

namespace flowstyle::pipeline {

struct PolishFrames {
  std::vector<cv::Mat> source;   // CV_8UC3 RGB: frames blendFirst - 1 .. blendFirst + width
                                 // (the first is unused when `before` is empty)
  cv::Mat before;                // the joined frame before the fade (CV_8UC3), empty: none
  std::vector<cv::Mat> fade;     // the fade's joined frames (CV_8UC3), width of them
  cv::Mat after;                 // the later part's first own frame, after the fade (CV_8UC3)
  std::vector<double> weights;   // the restyle schedule's w per fade frame, in [0, 1]
  std::vector<double> handoff;   // the handoff's v per fade frame (v >= 1: the later part's own)
  double polish = 0;             // the anchor's exponent (> 0)
  double lookahead = 0;          // the look-ahead's share of the anchor's weight (0: none)
};

// A source pair whose mean squared difference is below this share of the fade's median pair's
// is a repeated frame (repeats sit orders of magnitude below moving pairs).
inline constexpr double kRepeatShare = 0.05;

// Per fade frame i: whether its source repeats the frame before it (source[i] -> source[i + 1]
// of PolishFrames::source).
std::vector<bool> repeatedFrames(const std::vector<cv::Mat>& source, std::size_t width);

// The anchor's weight on frame t: min(kMaxHold, (1 - w)^-polish) - 1.
double polishAnchor(double weight, double polish);

// The polished fade frames (CV_8UC3). onFrame(i, painted) after fade frame i (painted: the
// stylizer ran on it; not for the later part's own frames nor for repeated frames).
std::vector<cv::Mat> polishSeam(FrameStylizer& stylizer, const PolishFrames& frames, const stages::FlowConfig& flow,
                                const std::function<void(int, bool)>& onFrame = {});

}  // namespace flowstyle::pipeline
