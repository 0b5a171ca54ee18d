#include "pipeline/farm/seam_handoff.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "pipeline/image_ops.hpp"
#include "stages/flow.hpp"
#include "stages/warping_error.hpp"

namespace flowstyle::pipeline {
namespace {

// Schedules tried per seam: the first, then one per round of pairs kept steady.
constexpr int kRounds = 6;
// A pair rounded more than this above the schedule's worst is kept steady next round.
constexpr double kRoundingSlack = 1.02;

}  // namespace

HandoffModel measureHandoff(const std::vector<cv::Mat>& src, const std::vector<cv::Mat>& chain,
                            const std::vector<cv::Mat>& earlier, const std::vector<cv::Mat>& later,
                            std::int64_t from, std::int64_t blendFirst, std::int64_t pLast,
                            std::vector<HandoffPair>& pairs) {
  pairs.assign(static_cast<std::size_t>(pLast - blendFirst + 2), {});
  stages::FlowEstimator flow{stages::FlowConfig{}};
  // Each frame as float once (a frame is in two pairs).
  auto toFloat = [](const std::vector<cv::Mat>& v) {
    std::vector<cv::Mat> out;
    for (const cv::Mat& f : v) out.push_back(toFloat01(f));
    return out;
  };
  const std::vector<cv::Mat> chainF = toFloat(chain), earlierF = toFloat(earlier), laterF = toFloat(later);
  auto frameOf = [](const std::vector<cv::Mat>& v, std::int64_t first, std::int64_t n) -> cv::Mat {
    const std::int64_t i = n - first;
    return i >= 0 && i < static_cast<std::int64_t>(v.size()) ? v[static_cast<std::size_t>(i)] : cv::Mat();
  };
  // The warping error's mean of V·<x, y>: over 3·sum V.
  auto dot = [](const cv::Mat& x, const cv::Mat& y, const cv::Mat& v, double norm) {
    return stages::visibleDot(x, y, v) / norm;
  };
  HandoffModel m;
  const std::int64_t width = pLast - blendFirst + 1;
  for (std::int64_t i = 0; i <= width; ++i) {
    const std::int64_t t = blendFirst - 1 + i;  // the pair (t, t + 1)
    PairQuadratic q;
    const cv::Mat rt = frameOf(chainF, from, t), qt = frameOf(laterF, blendFirst, t), q1 = frameOf(laterF, blendFirst, t + 1);
    cv::Mat r1 = frameOf(chainF, from, t + 1);
    const bool intoQ = r1.empty();  // the pair into Q's own range: R has no frame t + 1
    if (intoQ) r1 = q1;
    if (rt.empty() || t < from) {
      m.pairs.push_back(q);  // no frame before the fade: nothing to measure (v is 0 there anyway)
      continue;
    }
    const cv::Mat g0 = stages::toGray(src[static_cast<std::size_t>(t - from)]);
    const cv::Mat g1 = stages::toGray(src[static_cast<std::size_t>(t + 1 - from)]);
    const cv::Mat forward = flow(g0, g1), backward = flow(g1, g0);
    const cv::Mat visible = stages::certaintyHard(forward, backward);
    const double norm = 3 * cv::sum(visible)[0];
    if (norm <= 0) {
      m.pairs.push_back(q);  // no visible pixel: the warping error leaves the pair out
      continue;
    }
    const cv::Mat wr1 = stages::warp(r1, forward), wq1 = stages::warp(q1, forward);
    const cv::Mat a = rt - wr1, c = wq1 - wr1;
    const cv::Mat b = qt.empty() ? cv::Mat::zeros(rt.size(), rt.type()) : cv::Mat(qt - rt);
    q = {dot(a, a, visible, norm), dot(b, b, visible, norm), dot(c, c, visible, norm),
         dot(a, b, visible, norm), dot(a, c, visible, norm), dot(b, c, visible, norm)};
    // The unit: the smallest own error of R, Q and P on the pair (whichever are there).
    double unit = std::numeric_limits<double>::infinity();
    if (!intoQ) unit = std::min(unit, q.aa);
    if (!qt.empty()) {
      const cv::Mat dq = qt - wq1;
      unit = std::min(unit, dot(dq, dq, visible, norm));
    }
    const cv::Mat pt = frameOf(earlierF, from, t), p1 = frameOf(earlierF, from, t + 1);
    if (!pt.empty() && !p1.empty()) {
      const cv::Mat dp = pt - stages::warp(p1, forward);
      unit = std::min(unit, dot(dp, dp, visible, norm));
    }
    unit = std::max(1e-12, unit);
    pairs[static_cast<std::size_t>(i)] = {forward, visible, norm, unit};
    for (double* x : {&q.aa, &q.bb, &q.cc, &q.ab, &q.ac, &q.bc}) *x /= unit;
    m.pairs.push_back(q);
  }
  for (std::int64_t n = blendFirst; n <= pLast; ++n) {
    const cv::Mat& r = chain[static_cast<std::size_t>(n - from)];
    const cv::Mat& b = later[static_cast<std::size_t>(n - blendFirst)];
    const double d = cv::norm(r, b, cv::NORM_L2SQR) / (255.0 * 255.0 * static_cast<double>(r.total()) * 3.0);
    cv::Scalar mean, dev;
    cv::meanStdDev(b, mean, dev);
    const double variance = (dev[0] * dev[0] + dev[1] * dev[1] + dev[2] * dev[2]) / (3.0 * 255.0 * 255.0);
    m.mixLoss.push_back(d / std::max(1e-12, variance));
  }
  return m;
}


std::vector<cv::Mat> mixHandoff(const std::vector<cv::Mat>& restyled, const std::vector<cv::Mat>& later,
                                const std::vector<double>& v) {
  if (later.size() < restyled.size() || v.size() != restyled.size()) {
    throw std::invalid_argument("mixHandoff: needs a weight and a later frame per restyled frame");
  }
  std::vector<cv::Mat> fade(restyled.size());
  for (std::size_t i = 0; i < restyled.size(); ++i) {
    if (v[i] <= 0) {
      fade[i] = restyled[i];
    } else if (v[i] >= 1) {
      fade[i] = later[i];
    } else {
      cv::addWeighted(restyled[i], 1.0 - v[i], later[i], v[i], 0.0, fade[i]);
    }
  }
  return fade;
}

std::vector<double> handoffPairErrors(const cv::Mat& before, const std::vector<cv::Mat>& fade,
                                      const cv::Mat& after, const std::vector<HandoffPair>& pairs) {
  if (pairs.size() != fade.size() + 1) throw std::invalid_argument("handoffPairErrors: needs width + 1 pairs");
  std::vector<double> errors(pairs.size(), 0.0);
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const HandoffPair& p = pairs[i];
    const cv::Mat& a = i > 0 ? fade[i - 1] : before;
    const cv::Mat& b = i < fade.size() ? fade[i] : after;
    if (p.forward.empty() || p.norm <= 0 || a.empty() || b.empty()) continue;
    const cv::Mat d = toFloat01(a) - stages::warp(toFloat01(b), p.forward);
    errors[i] = stages::visibleDot(d, d, p.visible) / p.norm / p.unit;
  }
  return errors;
}

SettledHandoff settleHandoff(HandoffModel model, const std::vector<HandoffPair>& pairs,
                             const std::vector<cv::Mat>& restyled, const std::vector<cv::Mat>& later,
                             const cv::Mat& before, const cv::Mat& after) {
  SettledHandoff best;
  best.worst = std::numeric_limits<double>::infinity();
  model.steady.assign(model.pairs.size(), false);
  for (int round = 0; round < kRounds; ++round) {
    const SeamSchedule s = handoffSchedule(model);
    if (!std::isfinite(s.worstRatio)) break;  // every pair that could step is kept steady
    std::vector<cv::Mat> fade = mixHandoff(restyled, later, s.weights);
    const std::vector<double> errors = handoffPairErrors(before, fade, after, pairs);
    const double worst = *std::max_element(errors.begin(), errors.end());
    if (round == 0) best.firstWorst = worst;
    if (worst < best.worst) {
      best.worst = worst;
      best.frames = std::move(fade);
      best.weights = s.weights;
      best.steadyPairs = static_cast<int>(std::count(model.steady.begin(), model.steady.end(), true));
    }
    bool again = false;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      const double va = i > 0 ? s.weights[i - 1] : 0, vb = i < s.weights.size() ? s.weights[i] : 1;
      if (va != vb && errors[i] > s.worstRatio * kRoundingSlack) model.steady[i] = again = true;
    }
    if (!again) break;
  }
  return best;
}

}  // namespace flowstyle::pipeline
