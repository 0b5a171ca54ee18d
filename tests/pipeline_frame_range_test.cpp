// FrameRange (pipeline/frame_range.hpp): the frames of jobs, chunks, parts and joins, and
// their one printed form.
#include <gtest/gtest.h>

#include "pipeline/frame_range.hpp"

using flowstyle::pipeline::FrameRange;

TEST(Pipeline_FrameRange, BoundsAreInclusive) {
  const FrameRange r{12, 47};
  EXPECT_EQ(r.count(), 36);
  EXPECT_FALSE(r.toEnd());
  EXPECT_FALSE(r.contains(11));
  EXPECT_TRUE(r.contains(12));
  EXPECT_TRUE(r.contains(47));
  EXPECT_FALSE(r.contains(48));
  EXPECT_EQ((FrameRange{5, 5}).count(), 1);
  EXPECT_EQ((FrameRange{5, 4}).count(), 0);  // empty
}

TEST(Pipeline_FrameRange, ToTheEndOfTheClip) {
  const FrameRange r{30, FrameRange::kToEnd};
  EXPECT_TRUE(r.toEnd());
  EXPECT_TRUE(FrameRange{}.toEnd());  // the default: the whole clip
  EXPECT_EQ(FrameRange{}.first, 0);
  EXPECT_TRUE(r.contains(30));
  EXPECT_TRUE(r.contains(1'000'000'000));
  EXPECT_FALSE(r.contains(29));
}

// Printed as --frames takes it, the same way everywhere (farm plan commands, farm status,
// join's messages): a one-frame range too keeps both bounds.
TEST(Pipeline_FrameRange, PrintedAsFramesTakesIt) {
  EXPECT_EQ(toString(FrameRange{12, 47}), "12-47");
  EXPECT_EQ(toString(FrameRange{7, 7}), "7-7");
  EXPECT_EQ(toString(FrameRange{40, FrameRange::kToEnd}), "40-");
  EXPECT_EQ(toString(FrameRange{}), "0-");
}

TEST(Pipeline_FrameRange, EqualityComparesBothBounds) {
  EXPECT_EQ((FrameRange{1, 2}), (FrameRange{1, 2}));
  EXPECT_NE((FrameRange{1, 2}), (FrameRange{1, 3}));
  EXPECT_NE((FrameRange{0, 2}), (FrameRange{1, 2}));
}
