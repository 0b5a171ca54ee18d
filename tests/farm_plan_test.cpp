// Farm planning: chunk ranges, the task commands, the JSON plan and its checks.
#include <gtest/gtest.h>

#include <regex>

#include "pipeline/farm/farm_plan.hpp"

using namespace flowstyle::pipeline;

namespace {

FarmRequest oneClip(std::int64_t frames, std::int64_t chunks) {
  FarmRequest r;
  r.clips.push_back({"/clips/a b.mp4", "/out/a.mp4", frames, 1234, 5678});
  r.chunks = chunks;
  r.preroll = 8;
  r.overlap = 4;
  r.flowstyle = "/opt/flowstyle";
  r.jobDir = "/out/a.mp4.farm";
  r.videoArgs = {"--method", "fast", "--model", "wave"};
  r.joinArgs = {"--crf", "20"};
  return r;
}

std::string replaceOnce(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST(Farm_Plan, EvenSplitCoversEveryFrameOnce) {
  for (std::int64_t frames : {1, 7, 10, 100, 1001}) {
    for (std::int64_t chunks : {1, 2, 3, 7}) {
      if (chunks > frames) continue;
      const std::vector<ChunkRange> r = splitFrames(frames, chunks, 0, 0, 0);
      ASSERT_EQ(static_cast<std::int64_t>(r.size()), chunks);
      std::int64_t next = 0, lo = frames, hi = 0;
      for (const ChunkRange& c : r) {
        EXPECT_EQ(c.frames.first, next);
        next = c.frames.last + 1;
        lo = std::min(lo, c.frames.count());
        hi = std::max(hi, c.frames.count());
      }
      EXPECT_EQ(next, frames) << frames << " frames, " << chunks << " chunks";
      EXPECT_LE(hi - lo, 1);
    }
  }
}

TEST(Farm_Plan, PrerollAndOverlapClampAtZero) {
  const std::vector<ChunkRange> r = splitFrames(300, 3, 0, 8, 5);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].frames.first, 0);
  EXPECT_EQ(r[0].frames.last, 99);
  EXPECT_EQ(r[0].stylizeFirst, 0);
  EXPECT_EQ(r[0].writeFirst, 0);
  EXPECT_EQ(r[1].frames.first, 100);
  EXPECT_EQ(r[1].stylizeFirst, 92);  // 100 - the pre-roll
  EXPECT_EQ(r[1].writeFirst, 95);
  EXPECT_EQ(r[2].frames.last, 299);
  const std::vector<ChunkRange> small = splitFrames(10, 2, 0, 8, 2);
  EXPECT_EQ(small[1].frames.first, 5);
  EXPECT_EQ(small[1].stylizeFirst, 0);
  EXPECT_EQ(small[1].writeFirst, 3);
}

TEST(Farm_Plan, ChunkFramesMakesShorterLastChunk) {
  const std::vector<ChunkRange> r = splitFrames(250, 0, 100, 0, 0);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[2].frames.first, 200);
  EXPECT_EQ(r[2].frames.last, 249);
  EXPECT_EQ(splitFrames(5, 0, 100, 0, 0).size(), 1u);
}

TEST(Farm_Plan, BadCountsNameTheOption) {
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message([] { splitFrames(10, 12, 0, 0, 0); }).find("--chunks 12: the clip has only 10 frames"),
            std::string::npos);
  EXPECT_NE(message([] { splitFrames(10, 2, 5, 0, 0); }).find("give one of them"), std::string::npos);
  EXPECT_NE(message([] { splitFrames(10, 0, 0, 0, 0); }).find("--chunks N or --chunk-frames F"), std::string::npos);
  EXPECT_NE(message([] { splitFrames(10, 2, 0, 2, 4); }).find("--overlap 4 is larger than --preroll 2"),
            std::string::npos);
  EXPECT_NE(message([] { splitFrames(10, 5, 0, 8, 2); }).find("the shortest chunk has only 2 frames"),
            std::string::npos);
  EXPECT_NE(message([] { splitFrames(10, 2, 0, -1, 0); }).find("--preroll -1"), std::string::npos);
  EXPECT_NE(message([] { splitFrames(0, 1, 0, 0, 0); }).find("no frames"), std::string::npos);
  EXPECT_NO_THROW(splitFrames(10, 10, 0, 8, 0));  // one frame per chunk is fine without overlap
}

TEST(Farm_Plan, CommandsFollowTheChunkInterface) {
  const FarmPlan plan = makeFarmPlan(oneClip(30, 3));
  ASSERT_EQ(plan.clips.size(), 1u);
  ASSERT_EQ(plan.taskCount(), 3);
  const FarmChunk& c = plan.clips[0].chunks[1];
  EXPECT_EQ(c.task, 1);
  EXPECT_EQ(c.part, "/out/a.mp4.farm/parts/0-a b/chunk-001.mkv");
  EXPECT_EQ(shellCommand(c.command),
            "/opt/flowstyle video '/clips/a b.mp4' --frames 10-19 --preroll 8 --overlap 4 --resume "
            "--method fast --model wave --codec ffv1 --no-audio -o '/out/a.mp4.farm/parts/0-a b/chunk-001.mkv'");
  EXPECT_EQ(shellCommand(plan.clips[0].joinCommand),
            "/opt/flowstyle join '/out/a.mp4.farm/parts/0-a b/chunk-000.mkv' "
            "'/out/a.mp4.farm/parts/0-a b/chunk-001.mkv' '/out/a.mp4.farm/parts/0-a b/chunk-002.mkv' "
            "-o /out/a.mp4 --source '/clips/a b.mp4' --crf 20");
  EXPECT_TRUE(plan.clips[0].seams.empty());
  EXPECT_EQ(plan.seamTaskCount(), 0);
  // join --blend restyle stylizes the overlap frames again: one task per seam, with the
  // chunks' options after --, writes a seam part; the join takes them after the chunk parts.
  FarmRequest r = oneClip(30, 3);
  r.joinArgs = {"--blend", "restyle", "--crf", "20"};
  r.videoArgs = {"--method", "optimize", "--style", "/s/starry.jpg"};
  const FarmPlan restyle = makeFarmPlan(r);
  ASSERT_EQ(restyle.clips[0].seams.size(), 2u);
  EXPECT_EQ(restyle.seamTaskCount(), 2);
  EXPECT_EQ(restyle.taskCount(), 3);
  const FarmSeam& s = restyle.clips[0].seams[1];
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.task, 1);
  EXPECT_EQ(shellCommand(s.command),
            "/opt/flowstyle join '/out/a.mp4.farm/parts/0-a b/chunk-001.mkv' '/out/a.mp4.farm/parts/0-a b/chunk-002.mkv' "
            "--seam-part -o '/out/a.mp4.farm/parts/0-a b/seam-002.mkv' --blend restyle -- --method optimize --style "
            "/s/starry.jpg");
  EXPECT_EQ(shellCommand(restyle.clips[0].joinCommand),
            "/opt/flowstyle join '/out/a.mp4.farm/parts/0-a b/chunk-000.mkv' "
            "'/out/a.mp4.farm/parts/0-a b/chunk-001.mkv' '/out/a.mp4.farm/parts/0-a b/chunk-002.mkv' "
            "'/out/a.mp4.farm/parts/0-a b/seam-001.mkv' '/out/a.mp4.farm/parts/0-a b/seam-002.mkv' "
            "-o /out/a.mp4 --source '/clips/a b.mp4' --blend restyle --crf 20");
  // --restyle-hold changes the restyled frames: the seam tasks get it.
  // So do --restyle-polish and --restyle-lookahead.
  r.joinArgs = {"--blend", "restyle", "--restyle-polish", "1", "--restyle-hold", "1.5", "--restyle-lookahead", "0.5"};
  const FarmPlan held = makeFarmPlan(r);
  EXPECT_EQ(shellCommand(held.clips[0].seams[0].command),
            "/opt/flowstyle join '/out/a.mp4.farm/parts/0-a b/chunk-000.mkv' '/out/a.mp4.farm/parts/0-a b/chunk-001.mkv' "
            "--seam-part -o '/out/a.mp4.farm/parts/0-a b/seam-001.mkv' --blend restyle --restyle-polish 1 "
            "--restyle-hold 1.5 --restyle-lookahead 0.5 -- --method optimize --style /s/starry.jpg");
  r.joinArgs = {"--blend", "restyle", "--crf", "20"};
  // Seam tasks are numbered across clips; a one-chunk clip has none.
  r.clips.push_back({"/clips/b.mov", "/out/b.mp4", 12, 1, 2});
  r.clips.push_back({"/clips/c.mov", "/out/c.mp4", 30, 1, 2});
  r.chunks = 0;
  r.chunkFrames = 12;
  const FarmPlan three = makeFarmPlan(r);
  EXPECT_EQ(three.clips[0].seams.size(), 2u);
  EXPECT_TRUE(three.clips[1].seams.empty());
  ASSERT_EQ(three.clips[2].seams.size(), 2u);
  EXPECT_EQ(three.clips[2].seams[0].task, 2);
  EXPECT_EQ(three.seamTaskCount(), 4);
  const FarmPlan back = parseFarmPlanJson(farmPlanJson(three), "plan.json");
  EXPECT_EQ(farmPlanJson(back), farmPlanJson(three));
  EXPECT_EQ(back.clips[2].seams[1].command, three.clips[2].seams[1].command);
}

TEST(Farm_Plan, TasksAreNumberedAcrossClips) {
  FarmRequest r = oneClip(30, 2);
  r.clips.push_back({"/clips/b.mov", "/out/b.mp4", 12, 1, 2});
  const FarmPlan plan = makeFarmPlan(r);
  ASSERT_EQ(plan.taskCount(), 4);
  EXPECT_EQ(plan.clips[1].chunks[0].task, 2);
  EXPECT_EQ(plan.clips[1].chunks[1].task, 3);
  EXPECT_EQ(plan.clips[1].chunks[1].part, "/out/a.mp4.farm/parts/1-b/chunk-001.mkv");
  r.clips.push_back({"/clips/c.mp4", "/out/c.mp4", 1, 1, 2});
  try {
    makeFarmPlan(r);
    FAIL() << "a 1-frame clip cannot make 2 chunks";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("/clips/c.mp4: --chunks 2"), std::string::npos) << e.what();
  }
}

TEST(Farm_Plan, JsonRoundTrip) {
  FarmRequest r = oneClip(30, 3);
  r.videoArgs.push_back("--style=it's \"quoted\"\\.jpg");
  r.videoArgs.push_back("tab\tnew line\n\x01 caf\xc3\xa9");  // control characters, UTF-8
  const FarmPlan plan = makeFarmPlan(r);
  const std::string json = farmPlanJson(plan);
  const FarmPlan back = parseFarmPlanJson(json, "plan.json");
  EXPECT_EQ(farmPlanJson(back), json);
  EXPECT_EQ(back.clips[0].chunks[2].command, plan.clips[0].chunks[2].command);
  EXPECT_EQ(back.clips[0].input.sourceBytes, 1234u);
  EXPECT_NE(json.find("\"flowstyle_farm_plan\": 2"), std::string::npos);
  EXPECT_NE(json.find("\"tab\\tnew line\\n\\u0001 caf\xc3\xa9\""), std::string::npos) << json;
  // JSON holds UTF-8 only: a path in another encoding is an error naming the cause, not a
  // plan that cannot be read back.
  r.clips[0].source = "/clips/caf\xe9.mp4";
  try {
    farmPlanJson(makeFarmPlan(r));
    ADD_FAILURE() << "a path that is not UTF-8 was written";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

TEST(Farm_Plan, EditedOrForeignPlansAreErrors) {
  const std::string json = farmPlanJson(makeFarmPlan(oneClip(30, 3)));
  auto error = [](const std::string& text) {
    try {
      parseFarmPlanJson(text, "job/plan.json");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error("{").find("job/plan.json: not a valid JSON plan"), std::string::npos);
  // A number beyond a double's range is the JSON library's out_of_range, reported the same way.
  EXPECT_NE(error("{\"flowstyle_farm_plan\": 1e999}").find("job/plan.json: not a valid JSON plan"), std::string::npos);
  EXPECT_NE(error("{\"a\": 1}").find("not a flowstyle farm plan"), std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"flowstyle_farm_plan\": 2", "\"flowstyle_farm_plan\": 1"))
                .find("plan version 1, this flowstyle reads version 2"),
            std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"seam_tasks\": 0", "\"seam_tasks\": 1")).find("'seam_tasks' is 1"),
            std::string::npos);
  // A range edited by hand: the commands no longer match the settings.
  EXPECT_NE(error(replaceOnce(json, "\"last\": 19", "\"last\": 18")).find("chunk 1 differs"), std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"20-29\"", "\"20-28\"")).find("chunk 2 differs"),
            std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"preroll\": 8", "\"preroll\": 9")).find("differs"), std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"preroll\": 8", "\"preroll\": \"x\"")).find("'preroll' is not an integer"),
            std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"job_dir\"", "\"jobdir\"")).find("missing field 'job_dir'"),
            std::string::npos);
  EXPECT_NE(error(replaceOnce(json, "\"tasks\": 3", "\"tasks\": 4")).find("'tasks' is 4"), std::string::npos);
}

TEST(Farm_Plan, ShellQuoting) {
  EXPECT_EQ(shellQuote("plain/path-1.mp4"), "plain/path-1.mp4");
  EXPECT_EQ(shellQuote(""), "''");
  EXPECT_EQ(shellQuote("a b"), "'a b'");
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote("$HOME"), "'$HOME'");
}
