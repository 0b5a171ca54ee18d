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

// The handoff of `join --blend restyle`: the restyled chain R meets the later part's own
// chain Q near, not on, its frames, and its own pairs may change more than Q's (the
// optimizer repaints every scheduled start), or less (Q is a young chain where the fade
// begins). Joined frames (1 - v)·R + v·Q, v rising from 0 (before the fade: the earlier
// part, where R starts) to 1 (Q's first own frame). Pair i of the fade is frames t -> t+1
// with weights v_{i-1} -> v_i (i = 0..width, v_{-1} = 0, v_width = 1). Its warping error
// is exactly a quadratic in the two weights: with ω the warp of frame t+1 into t (the
// source's flow, as the warping error measures it), A = R_t - ω(R_{t+1}) (R's own change),
// B = Q_t - R_t and C = ω(Q_{t+1} - R_{t+1}),
//   error_i(v_a, v_b) = |A + v_a·B - v_b·C|²  over the pair's visible pixels,
// measured by join as six inner products, in units of the smallest own error of R, Q and
// the earlier part on that pair (the error a settled chain makes there). The weights
// (never falling, on a grid of 1/128) minimize the worst pair: dynamic programming over
// the grid. (The pair into Q's own range has no R_{t+1}: take Q_{t+1}, C = 0.)
//
// A mix of two different paintings also has less contrast than either: with equal
// variances V, var((1 - v)·R + v·Q) = V - v(1 - v)·D, and the style loss notices. So v may
// leave 0 at frame i of the fade only where v(1 - v)·mixLoss[i] <= maxMixLoss, mixLoss[i]
// = D_i / V_i (width entries, the frames of the fade; D_i R and Q's mean squared
// difference): the mix stays where R and Q have come close.
struct PairQuadratic {
  double aa = 0, bb = 0, cc = 0, ab = 0, ac = 0, bc = 0;
  // |A + va·B - vb·C|² (never below 0).
  double at(double va, double vb) const;
};
//
// The quadratic is the blend before rounding to 8 bits. Where the source repeats a frame, a
// step of v rounds the two near-identical blends apart (more error than the model predicts);
// join measures the rounded frames and marks such pairs `steady`:
// v does not step there (v_b = v_a), and the next schedule moves elsewhere.
struct HandoffModel {
  std::vector<PairQuadratic> pairs;  // width + 1
  std::vector<double> mixLoss;       // width entries; empty: no limit
  double maxMixLoss = 0.01;
  std::vector<bool> steady;          // per pair: no step of v there; empty: none
};
SeamSchedule handoffSchedule(const HandoffModel& model);
double handoffPairRatio(double va, double vb, const HandoffModel& model, std::size_t pair);

}  // namespace flowstyle::pipeline
