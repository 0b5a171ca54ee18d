// The cross-fade weights of `join --blend fitted` (pipeline/seam_blend.hpp): the model's
// pair ratios and the fitted schedule against the linear ramp.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/seam_blend.hpp"

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

TEST(Pipeline_Seam, PairRatioIsTheModel) {
  const SeamModel m{100.0, 0.2};
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

TEST(Pipeline_Seam, FittedFadeBeatsTheLinearRampWhereTheModelAllows) {
  for (double jump : {10.0, 60.0, 123.0, 400.0}) {
    for (double rho : {0.0, 0.5}) {
      for (int width : {1, 4, 8, 16, 24}) {
        const SeamModel m{jump, rho};
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
  const SeamModel m{123.0, 0.0};
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
  const SeamModel same{123.0, 1.0};
  EXPECT_NEAR(fittedSchedule(16, same).worstRatio, linearSchedule(16, same).worstRatio, 1e-3);
  // A repeated source frame (its pair's own error ~0, so R huge there): the fade takes no
  // step on that pair, and every other pair stays as good as with one R throughout.
  SeamModel dup{123.0, 0.0};
  dup.pairJumps.assign(17, 123.0);
  dup.pairJumps[5] = dup.pairJumps[8] = 1e9;
  const SeamSchedule d = fittedSchedule(16, dup);
  expectRisingInside(d.weights);
  EXPECT_NEAR(d.weights[5], d.weights[4], 1e-4);  // pair 5 goes from frame 4's weight to frame 5's
  EXPECT_NEAR(d.weights[8], d.weights[7], 1e-4);
  EXPECT_LT(d.worstRatio, 1.3);
  EXPECT_GT(linearSchedule(16, dup).worstRatio, 1e5);
  // Identical parts: nothing to fit.
  EXPECT_EQ(fittedSchedule(5, SeamModel{0.0, 0.0}).weights, linearSchedule(5, SeamModel{}).weights);
}
