#pragma once
// `join --blend restyle`, the polish: the fade's joined frames optimized once more, in order.
//
// The restyled chain is held ever more firmly on its scheduled start (the landing hold,
// pipeline/seam_restyle.hpp) and the handoff then mixes it with the later part's own frames
// (pipeline/seam_handoff.hpp): both keep the seam's pairs steady, and both cost texture (a
// held chain repaints little; a mix of two paintings is neither). The polish gives it back:
// frame t of the fade starts from its joined frame F_t and is optimized with the chunks' own
// objective, its temporal term to the polished frame before it (warped by the source's flow,
// as `video` does), plus an anchor that holds it on F_t itself, weighted
//   a_t = (1 - w_t)^-polish - 1   (at most kMaxHold - 1)
// with w_t the restyle schedule's weight. Early in the fade (a_t near 0) the frame is free to
// paint as an uninterrupted run would; towards its end the anchor keeps it on the handoff's
// frames, which land on the later part. Frames the handoff gave to the later part (v = 1)
// stay as they are. Measured on the bench's optimize parts (README, Farm): style loss against
// the uninterrupted run +6.9 % -> +2.1 % on chaplin (K28/O28/J28), +4.3 % -> +2.6 % on the pan
// (K24), the worst seam pair unchanged (1.21x, 1.38x).
// Torch-free: the stylizer does the work.
#include <cstdint>
#include <functional>
#include <vector>

#include <opencv2/core.hpp>

#include "pipeline/frame_stylizer.hpp"
#include "stages/flow.hpp"

namespace flowstyle::pipeline {

struct PolishFrames {
  std::vector<cv::Mat> source;   // CV_8UC3 RGB: frames blendFirst - 1 .. blendFirst + width - 1
                                 // (the first is unused when `before` is empty)
  cv::Mat before;                // the joined frame before the fade (CV_8UC3), empty: none
  std::vector<cv::Mat> fade;     // the fade's joined frames (CV_8UC3), width of them
  std::vector<double> weights;   // the restyle schedule's w per fade frame, in [0, 1]
  std::vector<double> handoff;   // the handoff's v per fade frame (v >= 1: the later part's own)
  double polish = 0;             // the anchor's exponent (> 0)
};

// The anchor's weight on frame t: min(kMaxHold, (1 - w)^-polish) - 1.
double polishAnchor(double weight, double polish);

// The polished fade frames (CV_8UC3). onFrame(i, painted) after fade frame i (painted: the
// stylizer ran on it; not for the later part's own frames).
std::vector<cv::Mat> polishSeam(FrameStylizer& stylizer, const PolishFrames& frames, const stages::FlowConfig& flow,
                                const std::function<void(int, bool)>& onFrame = {});

}  // namespace flowstyle::pipeline
