// The cross-fade weights of `join --blend fitted` (pipeline/farm/seam_blend.hpp): the model's
// pair ratios and the fitted schedule against the linear ramp; the restyled fade's chain.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "pipeline/farm/seam_blend.hpp"
#include "pipeline/farm/seam_handoff.hpp"
#include "pipeline/farm/seam_polish.hpp"
#include "pipeline/farm/seam_restyle.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/image_ops.hpp"

using namespace flowstyle::pipeline;

namespace {

void expectRisingInside(const std::vector<double>& w) {
  double prev = 0;
  for (double x : w) {
    EXPECT_GE(x, prev);
    EXPECT_LE(x, 1.0);
    prev = x;
  }
}

}  // namespace

TEST(Farm_Seam, PairRatioIsTheModel) {
  const SeamModel m{100.0, 0.2, {}};
  // Pure parts: the parts' own error only, plus the jump over the step.
  EXPECT_NEAR(seamPairRatio(0.0, 0.0, m), 1.0, 1e-12);
  EXPECT_NEAR(seamPairRatio(0.0, 1.0, m), 101.0, 1e-12);  // a cut
  // Half and half: (0.25 + 0.25 + 2*0.2*0.25) = 0.6, plus 0.1^2 * 100 = 1.
  EXPECT_NEAR(seamPairRatio(0.5, 0.6, m), 1.6, 1e-12);
  // Linear ramp over 9 frames: steps of 0.1, the first pair is the worst (base 1).
  const SeamSchedule lin = linearSchedule(9, m);
  ASSERT_EQ(lin.weights.size(), 9u);
  EXPECT_NEAR(lin.weights.front(), 0.1, 1e-12);
  EXPECT_NEAR(lin.worstRatio, 2.0, 1e-9);
}

TEST(Farm_Seam, FittedFadeBeatsTheLinearRampWhereTheModelAllows) {
  for (double jump : {10.0, 60.0, 123.0, 400.0}) {
    for (double rho : {0.0, 0.5}) {
      for (int width : {1, 4, 8, 16, 24}) {
        const SeamModel m{jump, rho, {}};
        const SeamSchedule lin = linearSchedule(width, m);
        const SeamSchedule fit = fittedSchedule(width, m);
        ASSERT_EQ(fit.weights.size(), static_cast<std::size_t>(width)) << jump << " " << rho << " " << width;
        expectRisingInside(fit.weights);
        EXPECT_NEAR(fit.worstRatio, seamWorstRatio(fit.weights, m), 1e-12);
        EXPECT_LE(fit.worstRatio, lin.worstRatio + 1e-9) << jump << " " << rho << " " << width;
      }
    }
  }
  // A real gain where the fade is long enough for the ends to matter: R = 123 (chaplin,
  // optimize, 160 px), uncorrelated changes, 16 frames: linear 1.43, fitted about 1.14.
  const SeamModel m{123.0, 0.0, {}};
  EXPECT_NEAR(linearSchedule(16, m).worstRatio, 1.43, 0.01);
  const SeamSchedule fit = fittedSchedule(16, m);
  EXPECT_LT(fit.worstRatio, 1.2);
  // Small steps at both ends, the largest in the middle.
  const double first = fit.weights.front(), last = 1.0 - fit.weights.back();
  double largest = 0;
  for (std::size_t i = 1; i < fit.weights.size(); ++i) largest = std::max(largest, fit.weights[i] - fit.weights[i - 1]);
  EXPECT_LT(first, 0.7 * largest);
  EXPECT_LT(last, 0.7 * largest);
  // Fully correlated changes: every frame of the fade carries the full error, and equal
  // steps are best: the fit is the linear ramp.
  const SeamModel same{123.0, 1.0, {}};
  EXPECT_NEAR(fittedSchedule(16, same).worstRatio, linearSchedule(16, same).worstRatio, 1e-3);
  // A repeated source frame (its pair's own error ~0, so R huge there): the fade takes no
  // step on that pair, and every other pair stays as good as with one R throughout.
  SeamModel dup{123.0, 0.0, {}};
  dup.pairJumps.assign(17, 123.0);
  dup.pairJumps[5] = dup.pairJumps[8] = 1e9;
  const SeamSchedule d = fittedSchedule(16, dup);
  expectRisingInside(d.weights);
  EXPECT_NEAR(d.weights[5], d.weights[4], 1e-4);  // pair 5 goes from frame 4's weight to frame 5's
  EXPECT_NEAR(d.weights[8], d.weights[7], 1e-4);
  EXPECT_LT(d.worstRatio, 1.3);
  EXPECT_GT(linearSchedule(16, dup).worstRatio, 1e5);
  // Identical parts: nothing to fit.
  EXPECT_EQ(fittedSchedule(5, SeamModel{0.0, 0.0, {}}).weights, linearSchedule(5, SeamModel{}).weights);
}

// `join --blend restyle` (pipeline/farm/seam_restyle.hpp) with a stylizer that returns its
// temporal guide as it is (an ideal temporal hold) on a still source (zero flow): each joined
// frame must then be the cross-fade (1 - w)·P + w·Q of the schedule exactly, a frame with no
// step must repeat the previous one, and a weight of 1 must give the later part's own frame.
namespace {

class HoldGuide final : public FrameStylizer {
 public:
  int calls = 0;
  std::vector<double> weights;  // the nearest guide's weight per call (-1: no guide)
  std::vector<int> temporalOffsets() const override { return {1}; }
  StylizeOutcome stylize(const StylizeRequest& request) override {
    ++calls;
    weights.push_back(request.guides.empty() ? -1.0 : request.guides.front().weight);
    StylizeOutcome out;
    out.image = request.guides.empty() ? request.init.clone() : request.guides.front().warped.clone();
    return out;
  }
};

}  // namespace

TEST(Farm_SeamRestyle, IdealHoldFollowsTheScheduleExactly) {
  const cv::Size size(64, 48);
  cv::Mat texture(size, CV_8UC3);
  cv::randu(texture, 0, 255);  // a still source with detail, so the flow is zero and certain
  SeamFrames seam;
  seam.from = 10;
  seam.blendFirst = 11;
  const std::vector<double> weights = {0.2, 0.2, 0.6, 1.0};
  const cv::Mat p(size, CV_8UC3, cv::Scalar(200, 40, 40)), q(size, CV_8UC3, cv::Scalar(40, 40, 200));
  for (int n = 10; n <= 14; ++n) {
    seam.source.push_back(texture);
    seam.earlier.push_back(p);
    if (n >= 11) seam.later.push_back(q);
  }
  seam.weights = weights;
  HoldGuide hold;
  std::vector<std::int64_t> reported;
  const std::vector<cv::Mat> out = restyleSeam(hold, seam, flowstyle::stages::FlowConfig{}, {1},
                                               [&](std::int64_t n, int, int) { reported.push_back(n); });
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(reported, (std::vector<std::int64_t>{11, 12, 13, 14}));
  EXPECT_EQ(hold.calls, 3) << "the frame whose weight is 1 is the later part's, not stylized";
  for (std::size_t i = 0; i < out.size(); ++i) {
    cv::Mat expected;
    cv::addWeighted(p, 1 - weights[i], q, weights[i], 0, expected);
    double worst = 0;
    cv::minMaxLoc(cv::abs(out[i] - expected) | cv::abs(expected - out[i]), nullptr, &worst);
    EXPECT_LE(worst, 1.0) << "frame " << 11 + i << ", w " << weights[i];
  }
  double step = 0;
  cv::minMaxLoc(cv::abs(out[1] - out[0]) | cv::abs(out[0] - out[1]), nullptr, &step);
  EXPECT_EQ(step, 0) << "no step of the schedule: the chain holds still";
  EXPECT_EQ(cv::norm(out[3], q, cv::NORM_INF), 0);
}

// The landing hold: the temporal terms of restyled frame t weigh (1 - w_t)^-hold (capped), so
// the chain is free early in the fade and held on its guide, which reaches the later part, late.
TEST(Farm_SeamRestyle, LandingHoldWeighsTheTemporalTermsMoreTowardsTheEnd) {
  const cv::Size size(48, 32);
  cv::Mat texture(size, CV_8UC3);
  cv::randu(texture, 0, 255);
  SeamFrames seam;
  seam.from = 0;
  seam.blendFirst = 1;
  seam.weights = {0.25, 0.5, 0.75};
  const cv::Mat p(size, CV_8UC3, cv::Scalar(200, 40, 40)), q(size, CV_8UC3, cv::Scalar(40, 40, 200));
  for (int n = 0; n <= 3; ++n) {
    seam.source.push_back(texture);
    seam.earlier.push_back(p);
    if (n >= 1) seam.later.push_back(q);
  }
  for (double hold : {0.0, 1.0, 2.0}) {
    seam.hold = hold;
    HoldGuide rec;
    restyleSeam(rec, seam, flowstyle::stages::FlowConfig{}, {1});
    ASSERT_EQ(rec.weights.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(rec.weights[i], std::pow(1.0 - seam.weights[i], -hold), 1e-9) << "hold " << hold << ", frame " << i;
    }
  }
  EXPECT_DOUBLE_EQ(landingHold(0.999999, 2), kMaxHold);
  EXPECT_DOUBLE_EQ(landingHold(1.0, 2), kMaxHold);
  EXPECT_DOUBLE_EQ(landingHold(0.5, 0), 1.0);
}

// The polish (pipeline/farm/seam_polish.hpp) with a stylizer that records what it is asked and
// brightens its start by a fixed amount: on a still source (zero flow) each polished frame
// starts from its joined frame, is held on the polished frame before it (the chain) and, by
// the anchor (1 - w)^-P - 1, on its own joined frame; the later part's frames stay.
namespace {

class RecordingPainter final : public FrameStylizer {
 public:
  std::vector<StylizeRequest> requests;
  StylizeOutcome stylize(const StylizeRequest& request) override {
    requests.push_back(request);
    StylizeOutcome out;
    out.image = cv::min(request.init + cv::Scalar::all(0.1), 1.0);
    return out;
  }
};

double maxDiff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }

}  // namespace

TEST(Farm_SeamPolish, EachFrameStartsFromItselfHeldOnThePolishedChainAndAnchoredTowardsTheEnd) {
  const cv::Size size(40, 30);
  cv::Mat texture(size, CV_8UC3);
  cv::randu(texture, 0, 255);
  PolishFrames frames;
  for (int n = 0; n <= 5; ++n) frames.source.push_back(texture);  // frame before + 4 fade frames + after
  frames.before = cv::Mat(size, CV_8UC3, cv::Scalar(100, 100, 100));
  for (int v : {60, 80, 120, 160}) frames.fade.push_back(cv::Mat(size, CV_8UC3, cv::Scalar(v, v, v)));
  frames.weights = {0.0, 0.5, 0.75, 1.0};
  frames.handoff = {0.0, 0.2, 0.6, 1.0};
  frames.polish = 2;
  RecordingPainter painter;
  std::vector<int> reported, painted;
  const std::vector<cv::Mat> out = polishSeam(painter, frames, flowstyle::stages::FlowConfig{}, [&](int i, bool p) {
    reported.push_back(i);
    if (p) painted.push_back(i);
  });
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(reported, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(painted, (std::vector<int>{0, 1, 2}));
  ASSERT_EQ(painter.requests.size(), 3u) << "the frame the handoff gave to the later part is not painted";
  EXPECT_EQ(maxDiff(out[3], frames.fade[3]), 0);
  for (std::size_t i = 0; i < 3; ++i) {
    const StylizeRequest& r = painter.requests[i];
    EXPECT_LE(maxDiff(r.init, toFloat01(frames.fade[i])), 1e-6) << "frame " << i << " starts from its joined frame";
    EXPECT_LE(maxDiff(out[i], toByte(cv::min(toFloat01(frames.fade[i]) + cv::Scalar::all(0.1), 1.0))), 1.0);
    ASSERT_FALSE(r.guides.empty());
    // The chain: the polished frame before (the frame before the fade for the first).
    const cv::Mat expectedPrevious = i == 0 ? toFloat01(frames.before) : toFloat01(out[i - 1]);
    EXPECT_LE(maxDiff(r.guides[0].warped, expectedPrevious), 1.0 / 255 + 1e-6) << "frame " << i;
    EXPECT_DOUBLE_EQ(r.guides[0].weight, 1.0);
    const double anchor = std::pow(1.0 - frames.weights[i], -frames.polish) - 1.0;
    EXPECT_DOUBLE_EQ(polishAnchor(frames.weights[i], frames.polish), anchor);
    if (anchor <= 0) {
      EXPECT_EQ(r.guides.size(), 1u) << "no anchor where the fade has not begun";
      continue;
    }
    ASSERT_EQ(r.guides.size(), 2u) << "frame " << i;
    EXPECT_NEAR(r.guides[1].weight, anchor, 1e-12);
    EXPECT_LE(maxDiff(r.guides[1].warped, toFloat01(frames.fade[i])), 1e-6);
    double lowest = 0;
    cv::minMaxLoc(r.guides[1].certainty, &lowest);
    EXPECT_EQ(lowest, 1.0) << "the anchor holds every pixel";
  }
  // A fade at the clip's first frame: nothing holds its first frame, which stays as it is.
  frames.before = cv::Mat();
  RecordingPainter first;
  const std::vector<cv::Mat> alone = polishSeam(first, frames, flowstyle::stages::FlowConfig{});
  EXPECT_EQ(maxDiff(alone[0], frames.fade[0]), 0);
  ASSERT_EQ(first.requests.size(), 2u);
  EXPECT_LE(maxDiff(first.requests[0].guides[0].warped, toFloat01(frames.fade[0])), 1.0 / 255 + 1e-6);
  EXPECT_THROW(polishSeam(first, PolishFrames{}, flowstyle::stages::FlowConfig{}), std::logic_error)
      << "frames that do not line up are a programming error";
  frames.lookahead = 0.25;
  EXPECT_THROW(polishSeam(first, frames, flowstyle::stages::FlowConfig{}), std::logic_error)
      << "a look-ahead needs the later part's frame after the fade";
}

// The look-ahead (pipeline/farm/seam_polish.hpp): each polished frame with an anchor is also held
// on the next joined frame, and the last fade frame on the later part's first own frame after
// the fade, moved back by the flow (zero here), with lookahead times the anchor's weight.
TEST(Farm_SeamPolish, LookAheadHoldsEachFrameOnTheNextJoinedFrameAndTheLastOnTheLaterPart) {
  const cv::Size size(40, 30);
  cv::Mat texture(size, CV_8UC3);
  cv::randu(texture, 0, 255);
  PolishFrames frames;
  for (int n = 0; n <= 4; ++n) frames.source.push_back(texture);  // frame before + 3 fade frames + after
  frames.before = cv::Mat(size, CV_8UC3, cv::Scalar(100, 100, 100));
  for (int v : {60, 80, 120}) frames.fade.push_back(cv::Mat(size, CV_8UC3, cv::Scalar(v, v, v)));
  frames.after = cv::Mat(size, CV_8UC3, cv::Scalar(200, 200, 200));
  frames.weights = {0.0, 0.5, 0.8};
  frames.handoff = {0.0, 0.3, 0.9};  // every fade frame is painted: the last one's next is `after`
  frames.polish = 2;
  frames.lookahead = 0.25;
  RecordingPainter painter;
  polishSeam(painter, frames, flowstyle::stages::FlowConfig{});
  ASSERT_EQ(painter.requests.size(), 3u);
  EXPECT_EQ(painter.requests[0].guides.size(), 1u) << "no anchor, so no look-ahead, before the fade has begun";
  for (std::size_t i = 1; i < 3; ++i) {
    const StylizeRequest& r = painter.requests[i];
    ASSERT_EQ(r.guides.size(), 3u) << "frame " << i << ": the chain, the anchor and the look-ahead";
    const double anchor = polishAnchor(frames.weights[i], frames.polish);
    EXPECT_NEAR(r.guides[2].weight, 0.25 * anchor, 1e-12) << "frame " << i;
    const cv::Mat& next = i + 1 < 3 ? frames.fade[i + 1] : frames.after;
    EXPECT_LE(maxDiff(r.guides[2].warped, toFloat01(next)), 1.0 / 255 + 1e-6) << "frame " << i;
    double lowest = 0;
    cv::minMaxLoc(r.guides[2].certainty, &lowest);
    EXPECT_GT(lowest, 0.5) << "frame " << i << ": the flow is certain on a still source";
  }
  // Look-ahead 0: the polish as before, two guides per anchored frame.
  frames.lookahead = 0;
  RecordingPainter without;
  polishSeam(without, frames, flowstyle::stages::FlowConfig{});
  ASSERT_EQ(without.requests.size(), 3u);
  EXPECT_EQ(without.requests[2].guides.size(), 2u);
}

// A repeated source frame (old film) is not painted again: it is the polished frame before it
// plus what the handoff changed on the pair, as an uninterrupted run paints it (two frames
// optimized apart differ far more than that run's own pair, whose source does not change).
TEST(Farm_SeamPolish, RepeatedSourceFrameIsThePolishedFrameBeforeIt) {
  const cv::Size size(40, 30);
  std::vector<cv::Mat> textures(5);
  for (cv::Mat& t : textures) {
    t.create(size, CV_8UC3);
    cv::randu(t, 0, 255);
  }
  PolishFrames frames;
  // before, fade 0..3, after; fade frame 2 repeats fade frame 1 (a near-copy: one pixel off by 1).
  frames.source = {textures[0], textures[1], textures[2], textures[2].clone(), textures[3], textures[4]};
  frames.source[3].at<cv::Vec3b>(5, 5)[0] ^= 1;
  const std::vector<bool> repeated = repeatedFrames(frames.source, 4);
  EXPECT_EQ(repeated, (std::vector<bool>{false, false, true, false}));
  frames.before = cv::Mat(size, CV_8UC3, cv::Scalar(100, 100, 100));
  for (int v : {60, 80, 90, 120}) frames.fade.push_back(cv::Mat(size, CV_8UC3, cv::Scalar(v, v, v)));
  frames.after = textures[4];
  frames.weights = {0.2, 0.4, 0.6, 0.8};
  frames.handoff = {0.1, 0.2, 0.3, 0.4};
  frames.polish = 2;
  frames.lookahead = 0.25;
  RecordingPainter painter;
  std::vector<int> painted;
  const std::vector<cv::Mat> out = polishSeam(painter, frames, flowstyle::stages::FlowConfig{}, [&](int i, bool p) {
    if (p) painted.push_back(i);
  });
  EXPECT_EQ(painted, (std::vector<int>{0, 1, 3}));
  ASSERT_EQ(painter.requests.size(), 3u);
  cv::Mat carried;
  cv::add(out[1], cv::Scalar::all(10), carried);  // the handoff's frames 80 -> 90 on the pair
  EXPECT_LE(maxDiff(out[2], carried), 1) << "the repeated frame is the polished frame before it plus the handoff's change";
  EXPECT_GT(maxDiff(out[1], frames.fade[1]), 0) << "frame 1 was painted";
  // No repeats among frames that all change alike.
  std::vector<cv::Mat> moving(textures.begin(), textures.end());
  moving.push_back(textures[0]);
  EXPECT_EQ(repeatedFrames(moving, 4), (std::vector<bool>(4, false)));
}

// One pair of the handoff from vectors standing for images: r = R's own change, q = Q's,
// d = Q_t - R_t (so A = r, B = d, C = A + B - q, the pair's error at v = 1 being Q's own).
PairQuadratic pairOf(const cv::Vec3d& r, const cv::Vec3d& q, const cv::Vec3d& d) {
  const cv::Vec3d c = r + d - q;
  return {r.dot(r), d.dot(d), c.dot(c), r.dot(d), r.dot(c), d.dot(c)};
}

// The handoff of `join --blend restyle` from the restyled chain R onto the later part's own
// chain Q (pipeline/farm/seam_blend.hpp): dynamic programming over the weights, with the mix
// kept where R and Q have come close.
TEST(Farm_Seam, HandoffMovesOntoTheLaterChainWhereThatLowersTheWorstPair) {
  // The quadratic is the mix's pair error: |(1 - v_b)·r + v_b·q + (v_a - v_b)·d|².
  const cv::Vec3d r{0, 2, 0}, q{1, 0, 0}, d{0, 0, 3};
  const PairQuadratic one = pairOf(r, q, d);
  for (double va : {0.0, 0.25, 1.0}) {
    for (double vb : {va, 0.5, 1.0}) {
      const cv::Vec3d mix = (1 - vb) * r + vb * q + (va - vb) * d;
      EXPECT_NEAR(one.at(va, vb), mix.dot(mix), 1e-12) << va << " " << vb;
    }
  }
  // Twelve frames: R and Q far apart early, close late; R's own last pairs change 4x as much
  // as a settled chain (a repainted end of the fade), Q's are settled. The pair into Q's own
  // range has no R frame after it: its A is R_t - Q_{t+1} (r = q - d), C = 0.
  HandoffModel m;
  const int width = 12;
  for (int i = 0; i <= width; ++i) {
    const cv::Vec3d own{0, i >= 9 && i < width ? 2.0 : 1.0, 0};
    const cv::Vec3d apart{0, 0, std::sqrt(i < 6 ? 200.0 : 2.0)};
    m.pairs.push_back(i < width ? pairOf(own, q, apart) : pairOf(q - apart, q, apart));
  }
  for (int i = 0; i < width; ++i) m.mixLoss.push_back(i < 6 ? 1.0 : 0.02);
  const SeamSchedule s = handoffSchedule(m);
  ASSERT_EQ(s.weights.size(), static_cast<std::size_t>(width));
  expectRisingInside(s.weights);
  // Cut over at the end without a fade: R's bad pairs (4x) and the jump into Q (1 + 2).
  double cutOver = 0, worst = 0, prev = 0;
  for (int i = 0; i <= width; ++i) {
    cutOver = std::max(cutOver, handoffPairRatio(0.0, i < width ? 0.0 : 1.0, m, static_cast<std::size_t>(i)));
    const double v = i < width ? s.weights[static_cast<std::size_t>(i)] : 1.0;
    worst = std::max(worst, handoffPairRatio(prev, v, m, static_cast<std::size_t>(i)));
    prev = v;
  }
  EXPECT_NEAR(cutOver, 4.0, 1e-12);
  EXPECT_NEAR(handoffPairRatio(0.0, 1.0, m, width), 3.0, 1e-12);
  EXPECT_NEAR(s.worstRatio, worst, 1e-9);  // the reported worst is the schedule's
  EXPECT_LT(s.worstRatio, 1.6);            // onto Q before R's bad pairs, in steps
  EXPECT_GT(s.weights[8], 0.5);
  // The mix stays where it keeps its contrast: v(1 - v)·mixLoss <= the limit on every frame.
  for (int i = 0; i < width; ++i) {
    const double v = s.weights[static_cast<std::size_t>(i)];
    EXPECT_LE(v * (1 - v) * m.mixLoss[static_cast<std::size_t>(i)], m.maxMixLoss + 1e-12) << i;
  }
  EXPECT_LT(s.weights[5], 0.011);  // R and Q far apart: (next to) no mix
  // With no limit on the mix, the fade may start earlier and is at least as good.
  HandoffModel free = m;
  free.mixLoss.clear();
  EXPECT_LE(handoffSchedule(free).worstRatio, s.worstRatio + 1e-12);
  // A restyled chain that has landed on Q: nothing to gain, the cut-over is the fade.
  HandoffModel settled;
  settled.pairs.assign(5, pairOf(q, q, cv::Vec3d{0, 0, 0}));
  EXPECT_NEAR(handoffSchedule(settled).worstRatio, 1.0, 1e-12);
  // The measured correlation counts: a step of the handoff adds to R's own change where R
  // already moves towards Q (A = R_t - R_{t+1} against d), and cancels it where R moves away.
  const cv::Vec3d towardsQ{0, 0, -1}, awayFromQ{0, 0, 1}, gap{0, 0, 2};
  EXPECT_NEAR(pairOf(towardsQ, q, gap).at(0, 0.5), 2.5, 1e-12);  // |(0.5, 0, -0.5 - 1)|²
  EXPECT_NEAR(pairOf(awayFromQ, q, gap).at(0, 0.5), 0.5, 1e-12);  // |(0.5, 0, 0.5 - 1)|²
  EXPECT_THROW(handoffSchedule(HandoffModel{}), std::invalid_argument);
  HandoffModel mismatched = m;
  mismatched.mixLoss.pop_back();
  EXPECT_THROW(handoffSchedule(mismatched), std::invalid_argument);
}

TEST(Farm_Seam, SteadyPairsKeepTheirWeight) {
  // Six pairs alike: the best fade steps on every pair; kept steady on two, it steps on the
  // others only and its worst pair can only be worse.
  const cv::Vec3d own{0, 1, 0}, q{1, 0, 0}, apart{0, 0, 3};
  HandoffModel m;
  m.pairs.assign(6, pairOf(own, q, apart));
  const SeamSchedule free = handoffSchedule(m);
  m.steady = {false, true, false, false, true, false};
  const SeamSchedule held = handoffSchedule(m);
  ASSERT_EQ(held.weights.size(), 5u);
  EXPECT_EQ(held.weights[0], held.weights[1]);  // pair 1: frames 0 -> 1
  EXPECT_EQ(held.weights[3], held.weights[4]);  // pair 4: frames 3 -> 4
  EXPECT_GT(held.weights[2], held.weights[1]);
  EXPECT_GE(held.worstRatio, free.worstRatio - 1e-12);
  EXPECT_LT(free.worstRatio, held.worstRatio);
  // Every pair steady: v cannot reach 1, no schedule.
  m.steady.assign(6, true);
  EXPECT_FALSE(std::isfinite(handoffSchedule(m).worstRatio));
  m.steady.assign(5, false);
  EXPECT_THROW(handoffSchedule(m), std::invalid_argument);
}

TEST(Farm_SeamHandoff, RoundingOnRepeatedFramesIsMeasuredAndAvoided) {
  // A still source (zero flow, every pixel visible). The restyled chain R changes by up to
  // ±6 on "moving" pairs and by ±1 on a fifth of its pixels on "repeated" ones (every third,
  // as chaplin's); Q = R + D, D fixed in [-8, 8]; P = R. So a step of v adds
  // (v_b - v_a)²·|D|² to a pair in the model, cheap on a moving pair and dear on a repeated
  // one, and the fade puts small steps on the repeated pairs. Rounded, R + round(v·D) flips
  // about |D|·step of their pixels by 1: on a repeated pair that is several times the model.
  const int width = 10, w = 64, h = 48;
  cv::RNG rng(7);
  cv::Mat texture(h, w, CV_8UC3);
  rng.fill(texture, cv::RNG::UNIFORM, 60, 196);
  cv::Mat d(h, w, CV_16SC3);
  rng.fill(d, cv::RNG::UNIFORM, -8, 9);
  std::vector<cv::Mat> src(static_cast<std::size_t>(width + 2), texture);
  std::vector<cv::Mat> r;  // frames 0..width + 1 of R (frame 0: before the fade)
  cv::Mat frame;
  texture.convertTo(frame, CV_16SC3);
  for (int t = 0; t <= width + 1; ++t) {
    cv::Mat r8;
    frame.convertTo(r8, CV_8UC3);
    r.push_back(r8);
    cv::Mat step(h, w, CV_16SC3);
    if (t % 3 == 1) {  // the pair (t, t + 1) repeats the source frame
      cv::Mat mask(h, w, CV_8UC1), sign(h, w, CV_16SC3);
      rng.fill(mask, cv::RNG::UNIFORM, 0, 5);
      rng.fill(sign, cv::RNG::UNIFORM, 0, 2);
      step = sign * 2;
      step -= cv::Scalar::all(1);
      step.setTo(cv::Scalar::all(0), mask != 0);
    } else {
      rng.fill(step, cv::RNG::UNIFORM, -6, 7);
    }
    frame += step;
  }
  auto plusD = [&](const cv::Mat& x) {
    cv::Mat x16, out;
    x.convertTo(x16, CV_16SC3);
    cv::Mat(x16 + d).convertTo(out, CV_8UC3);
    return out;
  };
  const std::vector<cv::Mat> chain(r.begin(), r.begin() + width + 1);   // 0..width
  const std::vector<cv::Mat> restyled(r.begin() + 1, r.begin() + width + 1);
  std::vector<cv::Mat> later;                                           // Q: 1..width + 1
  for (int t = 1; t <= width + 1; ++t) later.push_back(plusD(r[static_cast<std::size_t>(t)]));
  std::vector<HandoffPair> pairs;
  const HandoffModel model = measureHandoff(src, chain, chain, later, 0, 1, width, pairs);
  ASSERT_EQ(model.pairs.size(), static_cast<std::size_t>(width + 1));
  ASSERT_EQ(pairs.size(), model.pairs.size());
  // The model's first fade: every pair near 1 (R's own change), repeated ones included.
  const SeamSchedule planned = handoffSchedule(model);
  EXPECT_LT(planned.worstRatio, 1.1);
  const std::vector<cv::Mat> plainFade = mixHandoff(restyled, later, planned.weights);
  const std::vector<double> plain = handoffPairErrors(r[0], plainFade, later[width], pairs);
  const double plainWorst = *std::max_element(plain.begin(), plain.end());
  EXPECT_GT(plainWorst, 1.4) << "rounding on the repeated pairs";

  const SettledHandoff settled = settleHandoff(model, pairs, restyled, later, r[0], later[width]);
  EXPECT_NEAR(settled.firstWorst, plainWorst, 1e-12);
  EXPECT_GT(settled.steadyPairs, 0);
  EXPECT_LT(settled.worst, 1.2) << "planned " << planned.worstRatio << ", rounded " << plainWorst;
  // What it reports is what it returns: the frames are the mix of its weights, and their
  // measured worst pair.
  ASSERT_EQ(settled.frames.size(), static_cast<std::size_t>(width));
  const std::vector<cv::Mat> again = mixHandoff(restyled, later, settled.weights);
  for (int i = 0; i < width; ++i) {
    EXPECT_EQ(cv::norm(again[static_cast<std::size_t>(i)], settled.frames[static_cast<std::size_t>(i)], cv::NORM_INF), 0)
        << i;
  }
  const std::vector<double> errors = handoffPairErrors(r[0], settled.frames, later[width], pairs);
  EXPECT_NEAR(*std::max_element(errors.begin(), errors.end()), settled.worst, 1e-12);
  expectRisingInside(settled.weights);
  EXPECT_THROW(mixHandoff(restyled, later, std::vector<double>(3, 0.5)), std::invalid_argument);
}
