#pragma once
// The weights of a cross-fade between two farm parts over their overlap frames, and the
// model that picks them. Pure functions (no FFmpeg, TBB or LibTorch).
//
// Frames J_t = (1 - w_t)·P_t + w_t·Q_t, w rising from 0 (the earlier part P, before the
// overlap) to 1 (the later part Q, its own range). The warping error of the pair
// (t, t+1) is then, with the innovations eP = P_t - ω(P_{t+1}) and eQ likewise,
//   J_t - ω(J_{t+1}) = (1 - w_t)·eP + w_t·eQ - (w_{t+1} - w_t)·ω(Q_{t+1} - P_{t+1})
// so, in units of the parts' own pair error e0 (eP and eQ alike, correlation ρ):
//   ratio(t) ≈ (1 - w_t)² + w_t² + 2ρ·w_t·(1 - w_t)  +  (w_{t+1} - w_t)²·R
// where R = D / e0 and D = the mean squared difference of the two parts on the same
// frame. The first term is below 1 inside the fade when the parts' own changes are not
// fully correlated (a mix of two paintings changes less than either); the second is the
// jump, spread over the steps. A linear ramp takes equal steps; the fitted fade takes
// small steps at both ends, where the first term is largest, and larger ones in the
// middle, so that every pair has the same expected ratio, as low as the width allows.
#include <cstddef>
#include <vector>

namespace flowstyle::pipeline {

struct SeamModel {
  double jump = 0;  // R = D / e0: how far apart the parts are, in units of their own pair error
  double rho = 1;   // correlation of the two parts' own frame-to-frame changes, in [-1, 1]
  // R of each pair of the fade (width + 1 of them, from the last pure frame of the earlier
  // part to the first own frame of the later one), when measured: the parts' own pair
  // error differs from pair to pair (a repeated source frame changes nothing, so a step
  // there would show alone), and the fade then steps where the picture moves anyway.
  // Empty: `jump` for every pair.
  std::vector<double> pairJumps;
  double jumpAt(std::size_t pair) const { return pair < pairJumps.size() ? pairJumps[pair] : jump; }
};

struct SeamSchedule {
  std::vector<double> weights;  // w of each overlap frame, never falling, in [0, 1]
  double worstRatio = 0;        // the model's largest pair ratio over the fade
};

// The model's expected ratio for pair number `pair` of the fade, (w_a -> w_b).
double seamPairRatio(double wa, double wb, const SeamModel& model, std::size_t pair = 0);
// The largest ratio over the pairs 0 -> w_1 -> ... -> w_n -> 1.
double seamWorstRatio(const std::vector<double>& weights, const SeamModel& model);

// w_t = t / (width + 1).
SeamSchedule linearSchedule(int width, const SeamModel& model);
// The rising weights that minimize the model's worst pair ratio for this width.
SeamSchedule fittedSchedule(int width, const SeamModel& model);

}  // namespace flowstyle::pipeline
