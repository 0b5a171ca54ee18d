// Part records and join planning: what `join` trusts and what it refuses.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pipeline/farm/join.hpp"
#include "pipeline/farm/part.hpp"
#include "tests/test_support.hpp"

using namespace flowstyle::pipeline;
using flowstyle::test::errorOf;

namespace {

PartRecord record(std::int64_t a, std::int64_t b, int preroll, int overlap) {
  PartRecord r;
  r.source.path = "clip.mp4";
  r.source.bytes = 1000;
  r.source.frames = 90;
  r.source.hash = "00112233aabbccdd";
  r.settingsHash = "feedfacefeedface";
  r.method = "fast";
  r.range = {a, b};
  r.preroll = preroll;
  r.overlap = overlap;
  r.firstFrame = std::max<std::int64_t>(0, a - overlap);
  r.width = 320;
  r.height = 180;
  return r;
}

PartSpan span(const std::string& path, std::int64_t a, std::int64_t b, int overlap = 0, std::int64_t last = -2) {
  PartSpan s;
  s.path = path;
  s.record = record(a, b, overlap, overlap);
  s.frames = {s.record.firstFrame, last == -2 ? b : last};
  return s;
}

}  // namespace

TEST(Farm_Part, RecordSurvivesTagsWhateverTheirCase) {
  const PartRecord r = record(30, 59, 8, 4);
  std::map<std::string, std::string> upper;
  for (const auto& [k, v] : partTags(r)) {
    std::string key = k;
    for (char& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    upper[key] = v;  // what Matroska gives back
  }
  ASSERT_TRUE(hasPartRecord(upper));
  const PartRecord back = parsePartRecord(upper, "p.mkv");
  EXPECT_EQ(back.source.hash, r.source.hash);
  EXPECT_EQ(back.source.bytes, 1000);
  EXPECT_EQ(back.settingsHash, r.settingsHash);
  EXPECT_EQ(back.range, (FrameRange{30, 59}));
  EXPECT_EQ(back.preroll, 8);
  EXPECT_EQ(back.overlap, 4);
  EXPECT_EQ(back.firstFrame, 26);
  EXPECT_EQ(back.width, 320);
}

// A seam part (join --seam-part) carries the spans of the two chunk parts it was made from.
TEST(Farm_Part, SeamRecordKeepsTheSpansOfItsParts) {
  PartRecord r = record(22, 29, 8, 4);  // a fade over frames 22..29
  r.firstFrame = 22;
  r.seam = true;
  r.seamEarlier = {0, 29};
  r.seamLater = {22, 59};
  const PartRecord back = parsePartRecord(partTags(r), "s.mkv");
  EXPECT_TRUE(back.seam);
  EXPECT_EQ(back.seamEarlier, (FrameRange{0, 29}));
  EXPECT_EQ(back.seamLater, (FrameRange{22, 59}));
  EXPECT_EQ(partTags(r).at("flowstyle_seam"), "0-29,22-59");
  EXPECT_FALSE(parsePartRecord(partTags(record(30, 59, 8, 4)), "p.mkv").seam);
  // The landing hold it was restyled with, exactly (join compares it with its own).
  EXPECT_EQ(back.restyleHold, 0.0);
  for (double hold : {1.5, 0.1, 2.0 / 3.0, 8.0}) {
    r.restyleHold = hold;
    EXPECT_EQ(parsePartRecord(partTags(r), "s.mkv").restyleHold, hold);
  }
  // ... and the polish (join --restyle-polish), the same way.
  EXPECT_EQ(back.restylePolish, 0.0);
  for (double polish : {2.0, 0.25, 1.0 / 3.0, 8.0}) {
    r.restylePolish = polish;
    const PartRecord again = parsePartRecord(partTags(r), "s.mkv");
    EXPECT_EQ(again.restylePolish, polish);
    EXPECT_EQ(again.restyleHold, r.restyleHold);
  }
  // ... and the polish's look-ahead (join --restyle-lookahead).
  EXPECT_EQ(back.restyleLookahead, 0.0);
  for (double lookahead : {0.25, 0.1, 4.0}) {
    r.restyleLookahead = lookahead;
    const PartRecord again = parsePartRecord(partTags(r), "s.mkv");
    EXPECT_EQ(again.restyleLookahead, lookahead);
    EXPECT_EQ(again.restylePolish, r.restylePolish);
  }
  for (const char* field : {"restyle_hold", "restyle_polish", "restyle_lookahead"}) {
    auto tags = partTags(r);
    tags.erase(std::string("flowstyle_") + field);  // a seam part made before the field existed
    const PartRecord old = parsePartRecord(tags, "s.mkv");
    const std::string name = field;
    EXPECT_EQ(name == "restyle_hold"     ? old.restyleHold
              : name == "restyle_polish" ? old.restylePolish
                                         : old.restyleLookahead,
              0.0)
        << field;
    for (const char* bad : {"", "x", "-1", "8.5", "nan", "inf", "1.5x", "0x1"}) {
      tags[std::string("flowstyle_") + field] = bad;
      const std::string e = errorOf([&] { parsePartRecord(tags, "s.mkv"); });
      EXPECT_NE(e.find(std::string("s.mkv: part record field '") + field + "' = '" + bad + "' is not a number in 0..8"),
                std::string::npos)
          << bad << ": " << e;
    }
  }
  auto tags = partTags(r);
  for (const char* bad : {"0-29", "0-29,22-", "29-0,22-59", "0-29,0-59", "0-29,22-29", "0-29,22-59x",
                                 "0-28,22-59", "0-29,23-59"}) {
    tags["flowstyle_seam"] = bad;
    const std::string e = errorOf([&] { parsePartRecord(tags, "s.mkv"); });
    EXPECT_NE(e.find("s.mkv"), std::string::npos) << bad << ": " << e;
    EXPECT_NE(e.find("seam"), std::string::npos) << bad << ": " << e;
  }
}

TEST(Farm_Part, MalformedRecordsNameTheFileAndTheField) {
  const auto good = partTags(record(30, 59, 8, 4));
  auto with = [&](const std::string& key, const std::string& value) {
    auto t = good;
    t["flowstyle_" + key] = value;
    return t;
  };
  auto without = [&](const std::string& key) {
    auto t = good;
    t.erase("flowstyle_" + key);
    return t;
  };
  struct Case {
    std::map<std::string, std::string> tags;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{}, "not a flowstyle part"},
      {with("part", "2"), "version 2"},
      {with("part", "x"), "'part'"},
      {without("settings"), "'settings'"},
      {with("range_first", "-3"), "'range_first'"},
      {with("range_first", "12abc"), "'range_first'"},
      {with("width", "0"), "'width'"},
      {with("range_last", "10"), "reversed"},
      {with("first_frame", "40"), "inconsistent"},
      {with("overlap", "9"), "inconsistent"},
      {with("source_hash", ""), "empty"},
      {with("source_bytes", "99999999999999999999999"), "'source_bytes'"},
  };
  for (const Case& c : cases) {
    const std::string e = errorOf([&] { parsePartRecord(c.tags, "bad.mkv"); });
    EXPECT_NE(e.find("bad.mkv"), std::string::npos) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.expect << " in: " << e;
  }
}

TEST(Farm_Part, ChunkSpanClampsPreRollAndOverlapAtTheStart) {
  Config c;
  c.reader.selection.first = 5;
  c.reader.selection.last = 29;
  c.chunk.preroll = 8;
  c.chunk.overlap = 3;
  ChunkSpan s = chunkSpan(c);
  EXPECT_EQ(s.stylizeFirst, 0);
  EXPECT_EQ(s.writeFirst, 2);
  EXPECT_EQ(s.frames, (FrameRange{5, 29}));
  EXPECT_EQ(s.stylized(), (FrameRange{0, 29}));
  EXPECT_EQ(s.written(), (FrameRange{2, 29}));
  c.reader.selection.first = 100;
  s = chunkSpan(c);
  EXPECT_EQ(s.stylizeFirst, 92);
  EXPECT_EQ(s.writeFirst, 97);
}

TEST(Farm_JoinPlan, OrdersPartsAndFindsTheSeams) {
  const JoinPlan plan = planJoin({span("c", 60, 89, 4), span("a", 0, 29), span("b", 30, 59, 4)});
  ASSERT_EQ(plan.parts.size(), 3u);
  EXPECT_EQ(plan.parts[0].path, "a");
  EXPECT_EQ(plan.parts[2].path, "c");
  EXPECT_EQ(plan.frames, (FrameRange{0, 89}));
  EXPECT_EQ(plan.seams, (std::vector<std::int64_t>{30, 60}));
  // The last part may end early: the clip ends there (join checks the source).
  EXPECT_EQ(planJoin({span("a", 0, 29), span("b", 30, 99, 0, 75)}).frames.last, 75);
}

TEST(Farm_JoinPlan, RefusesWhatItCannotBlendAndNamesIt) {
  struct Case {
    std::vector<PartSpan> parts;
    std::vector<std::string> expect;
  };
  PartSpan foreign = span("foreign", 30, 59);
  foreign.record.source.hash = "ffffffffffffffff";
  PartSpan otherSettings = span("other", 30, 59);
  otherSettings.record.settingsHash = "0000000000000000";
  const std::vector<Case> cases = {
      {{span("a", 0, 29), span("c", 60, 89)}, {"frames missing: 30-59", "between a and c"}},
      {{span("a", 0, 29), span("b", 40, 49), span("c", 60, 89)}, {"30-39", "50-59"}},
      {{span("a", 0, 29), span("a2", 0, 29)}, {"same frames", "0-29"}},
      {{span("a", 0, 59), span("b", 30, 49)}, {"b", "inside"}},
      {{span("a", 0, 35), span("b", 30, 59, 2)}, {"own range", "30-35"}},
      {{span("a", 0, 29), span("b", 30, 59, 4, 40), span("c", 60, 89, 4)}, {"b", "truncated"}},
      {{span("a", 0, 29), span("b", 30, 31, 4), span("c", 32, 59, 4)}, {"blends two parts"}},
      {{span("a", 0, 29), foreign}, {"foreign", "another source"}},
      {{span("a", 0, 29), otherSettings}, {"other", "other settings"}},
  };
  for (const Case& c : cases) {
    const std::string e = errorOf([&] { planJoin(c.parts); });
    for (const std::string& x : c.expect) EXPECT_NE(e.find(x), std::string::npos) << x << " in: " << e;
  }
}
