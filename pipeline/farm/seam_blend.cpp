#include "pipeline/farm/seam_blend.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace flowstyle::pipeline {
namespace {

// The parts' own pair error carried into the pair that starts at weight w.
double baseRatio(double w, double rho) { return (1 - w) * (1 - w) + w * w + 2 * rho * w * (1 - w); }

// Rising weights from 0, each step as large as `limit` allows; stops at 1. The weights
// strictly inside (0, 1), in order.
std::vector<double> greedy(double limit, const SeamModel& m, int maxSteps) {
  std::vector<double> w;
  double at = 0;
  for (int step = 0; step < maxSteps; ++step) {
    const double room = limit - baseRatio(at, m.rho);
    const double jump = m.jumpAt(static_cast<std::size_t>(step));
    const double s = room <= 0 ? 0 : jump <= 1e-12 ? 1.0 : std::sqrt(room / jump);
    at = std::min(1.0, at + s);
    if (at >= 1) return w;
    w.push_back(at);  // may repeat the previous weight: no step on this pair
  }
  w.push_back(2);  // did not reach 1 within maxSteps: marks failure
  return w;
}

}  // namespace

double seamPairRatio(double wa, double wb, const SeamModel& model, std::size_t pair) {
  const double step = wb - wa;
  return baseRatio(wa, model.rho) + step * step * std::max(0.0, model.jumpAt(pair));
}

double seamWorstRatio(const std::vector<double>& weights, const SeamModel& model) {
  double worst = 0, prev = 0;
  std::size_t pair = 0;
  for (double w : weights) {
    worst = std::max(worst, seamPairRatio(prev, w, model, pair++));
    prev = w;
  }
  return std::max(worst, seamPairRatio(prev, 1.0, model, pair));
}

SeamSchedule linearSchedule(int width, const SeamModel& model) {
  SeamSchedule s;
  for (int t = 1; t <= width; ++t) s.weights.push_back(static_cast<double>(t) / (width + 1));
  s.worstRatio = seamWorstRatio(s.weights, model);
  return s;
}

SeamSchedule fittedSchedule(int width, const SeamModel& model) {
  SeamSchedule linear = linearSchedule(width, model);
  bool anyJump = model.pairJumps.empty() ? model.jump > 1e-12 : false;
  for (double r : model.pairJumps) anyJump = anyJump || r > 1e-12;
  if (width <= 0 || !anyJump) return linear;
  SeamModel m = model;
  m.rho = std::clamp(model.rho, -1.0, 1.0);
  // Bisection on the worst ratio: the smallest limit whose greedy fade reaches 1 within
  // width + 1 steps. The linear fade's worst ratio is always reachable.
  double lo = 1.0, hi = std::max(1.0, linear.worstRatio);
  for (int i = 0; i < 100 && hi - lo > 1e-9 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    const std::vector<double> w = greedy(mid, m, width + 1);
    if (!w.empty() && w.back() > 1) lo = mid;
    else hi = mid;
  }
  std::vector<double> w = greedy(hi, m, width + 1);
  if (!w.empty() && w.back() > 1) return linear;  // cannot happen; stay safe
  // Fewer steps than frames (the limit is loose): the last frames are the later part's own
  // (w = 1; their pairs carry only that part's own change).
  w.resize(static_cast<std::size_t>(width), 1.0);
  SeamSchedule fitted;
  fitted.weights = std::move(w);
  fitted.worstRatio = seamWorstRatio(fitted.weights, m);
  return fitted.worstRatio <= linear.worstRatio ? fitted : linear;
}

double PairQuadratic::at(double va, double vb) const {
  return std::max(0.0, aa + va * va * bb + vb * vb * cc + 2 * va * ab - 2 * vb * ac - 2 * va * vb * bc);
}

double handoffPairRatio(double va, double vb, const HandoffModel& m, std::size_t pair) {
  return m.pairs.at(pair).at(va, vb);
}

SeamSchedule handoffSchedule(const HandoffModel& m) {
  if (m.pairs.empty() || (!m.mixLoss.empty() && m.mixLoss.size() + 1 != m.pairs.size()) ||
      (!m.steady.empty() && m.steady.size() != m.pairs.size())) {
    throw std::invalid_argument("handoffSchedule: needs width + 1 pairs (and width mix losses and width + 1 steady "
                                "flags, or none)");
  }
  constexpr int kLevels = 128;
  const std::size_t pairs = m.pairs.size();
  const std::size_t width = pairs - 1;
  auto level = [](int l) { return static_cast<double>(l) / kLevels; };
  // worst[l]: the smallest worst ratio of pairs 0..i with v_i on level l; from[i][l] its v_{i-1}.
  std::vector<double> worst(kLevels + 1, std::numeric_limits<double>::infinity());
  std::vector<std::vector<int>> from(pairs, std::vector<int>(kLevels + 1, 0));
  worst[0] = 0;  // v_{-1} = 0
  for (std::size_t i = 0; i < pairs; ++i) {
    std::vector<double> next(kLevels + 1, std::numeric_limits<double>::infinity());
    const int firstTo = i == width ? kLevels : 0;  // the last pair ends on Q's own frame
    for (int b = firstTo; b <= kLevels; ++b) {
      if (i < width && b > 0 && i < m.mixLoss.size() &&
          level(b) * (1 - level(b)) * m.mixLoss[i] > m.maxMixLoss) {
        continue;  // this mix would cost contrast
      }
      const bool steady = i < m.steady.size() && m.steady[i];
      for (int a = steady ? b : 0; a <= b; ++a) {
        if (!std::isfinite(worst[a])) continue;
        const double r = std::max(worst[a], handoffPairRatio(level(a), level(b), m, i));
        if (r < next[b]) next[b] = r, from[i][b] = a;
      }
    }
    worst = std::move(next);
  }
  SeamSchedule s;
  s.worstRatio = worst[kLevels];
  s.weights.assign(width, 0.0);
  int l = kLevels;
  for (std::size_t i = pairs; i-- > 1;) {
    l = from[i][l];
    s.weights[i - 1] = level(l);
  }
  return s;
}

}  // namespace flowstyle::pipeline
