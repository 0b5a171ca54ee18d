// `flowstyle farm` as a user runs it: the job folder, bad input, and real jobs on the
// local one-node Slurm (tools/slurm-local.sh start; the Slurm tests skip without it).
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "pipeline/farm/farm_plan.hpp"
#include "tests/cli_support.hpp"
#include "tests/farm_support.hpp"

namespace fs = std::filesystem;
using flowstyle::test::CommandResult;
using flowstyle::test::flowstyleCli;
using flowstyle::test::readFile;
using flowstyle::test::scratchDir;
using flowstyle::test::tinyClip;

namespace {

void writeText(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not found";
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// A copy job of 3 chunks over a 12-frame clip.
std::vector<std::string> copyJob(const fs::path& clip, const fs::path& out) {
  return {"farm", "slurm", clip.string(), "-o", out.string(), "--chunks", "3", "--preroll", "2", "--overlap", "1",
          "--method", "copy"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

}  // namespace

TEST(Farm_Cli, PlanPrintsTheChunkTableAndJson) {
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  CommandResult r = flowstyleCli({"farm", "plan", clip.string(), "--chunks", "3", "--preroll", "2", "--overlap", "1",
                                  "--method", "copy", "-o", (dir / "out.mp4").string()},
                                 dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("(12 frames)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--frames 4-7 --preroll 2 --overlap 1 --resume --method copy --codec ffv1"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" join "), std::string::npos);
  r = flowstyleCli({"farm", "plan", clip.string(), "--chunk-frames", "5", "--method", "copy", "--overlap", "1",
                    "--json"},
                   dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("\"flowstyle_farm_plan\": 2"), std::string::npos);
  const flowstyle::pipeline::FarmPlan plan = flowstyle::pipeline::parseFarmPlanJson(r.out, "farm plan --json");
  ASSERT_EQ(plan.clips.at(0).chunks.size(), 3u) << r.out;
  EXPECT_EQ(plan.clips[0].chunks[2].range.frames, (flowstyle::pipeline::FrameRange{10, 11})) << r.out;  // 5 + 5 + 2
}

TEST(Farm_Cli, DryRunWritesTheJobFolderAndSubmitsNothing) {
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  const fs::path out = dir / "out" / "x.mp4";
  CommandResult r = flowstyleCli(
      with(copyJob(clip, out), {"--dry-run", "--partition", "gpu", "--time", "00:10:00", "--gpus-per-task", "1",
                                "--sbatch-arg=--qos=low", "--crf", "23"}),
      dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("dry run: nothing submitted"), std::string::npos);
  const fs::path job = dir / "out" / "x.mp4.farm";
  for (const char* f : {"plan.json", "array.sh", "join-0.sh", "logs", "status", "parts/0-in"}) {
    EXPECT_TRUE(fs::exists(job / f)) << f;
  }
  EXPECT_FALSE(fs::exists(job / "jobs.txt"));
  const std::string array = readFile(job / "array.sh");
  for (const char* line : {"#SBATCH --array=0-2", "#SBATCH --requeue", "#SBATCH --partition=gpu",
                           "#SBATCH --time=00:10:00", "#SBATCH --gpus-per-task=1", "#SBATCH --qos=low",
                           "--frames 8-11 --preroll 2 --overlap 1 --resume"}) {
    EXPECT_NE(array.find(line), std::string::npos) << line;
  }
  const std::string join = readFile(job / "join-0.sh");
  EXPECT_NE(join.find("#SBATCH --kill-on-invalid-dep=yes"), std::string::npos);
  EXPECT_EQ(join.find("--gpus-per-task"), std::string::npos) << "the join needs no GPU";
  EXPECT_NE(join.find("-o " + out.string() + " --source " + clip.string() + " --crf 23"), std::string::npos) << join;
  // The scripts run without Slurm too, one task at a time (any farm can run the plan).
  EXPECT_NE(readFile(job / "plan.json").find("\"tasks\": 3"), std::string::npos);
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("(not submitted)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chunk 2 (task 2) frames 8-11: not submitted"), std::string::npos) << r.out;
  // A second plan into the same job folder is refused.
  r = flowstyleCli(with(copyJob(clip, out), {"--dry-run"}), dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("x.mp4.farm: exists"), std::string::npos) << r.err;
}

TEST(Farm_Cli, BadCountsAndOptionsSubmitNothing) {
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  const fs::path out = dir / "x.mp4";
  struct Case {
    std::vector<std::string> extra;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--chunks", "13"}, 2, "--chunks 13: the clip has only 12 frames"},
      {{"--chunks", "12"}, 2, "--overlap 1: the shortest chunk has only 1 frames"},
      {{"--chunk-frames", "2"}, 2, "--chunks and --chunk-frames: give one of them"},
      {{"--overlap", "3"}, 2, "--overlap 3 is larger than --preroll 2"},
      {{"--frames", "0-5"}, 2, "--frames: the farm chooses each chunk's frames"},
      {{"--flow", "paint"}, 2, "paint"},
      {{"--bogus"}, 2, "unrecognised option '--bogus'"},
      {{"--crf", "x"}, 2, "--crf"},
      {{"--preroll", "two"}, 2, "--preroll: 'two' is not a whole number"},
  };
  for (const Case& c : cases) {
    CommandResult r = flowstyleCli(with(with(copyJob(clip, out), c.extra), {"--dry-run"}), dir);
    EXPECT_EQ(r.exitCode, c.code) << c.message << "\n" << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "x.mp4.farm")) << c.message;
  }
  CommandResult r = flowstyleCli(with(copyJob(dir / "missing.mp4", out), {"--dry-run"}), dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("missing.mp4: file not found"), std::string::npos) << r.err;
  r = flowstyleCli({"farm", "status", dir.string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("no plan.json (not a flowstyle farm job folder)"), std::string::npos) << r.err;
  r = flowstyleCli({"farm", "launch"}, dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("unknown action 'launch'"), std::string::npos) << r.err;
}

TEST(Farm_Cli, SbatchMissingIsAClearErrorAndDryRunStillWorks) {
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  const fs::path out = dir / "x.mp4";
  std::vector<std::string> argv = {"env", "PATH=/nonexistent", FLOWSTYLE_CLI};
  const std::vector<std::string> job = copyJob(clip, out);
  argv.insert(argv.end(), job.begin(), job.end());
  CommandResult r = flowstyle::test::run(argv, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("sbatch: not found in PATH, nothing submitted"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--dry-run"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.mp4.farm"));
  argv.push_back("--dry-run");
  r = flowstyle::test::run(argv, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "x.mp4.farm" / "array.sh"));
  // Submitting the folder later needs sbatch too.
  r = flowstyle::test::run({"env", "PATH=/nonexistent", FLOWSTYLE_CLI, "farm", "submit", (dir / "x.mp4.farm").string()},
                           dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("sbatch: not found"), std::string::npos) << r.err;
}

TEST(Farm_Cli, EditedJobFolderOrChangedSourceIsNotSubmitted) {
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  const fs::path job = dir / "x.mp4.farm";
  ASSERT_EQ(flowstyleCli(with(copyJob(clip, dir / "x.mp4"), {"--dry-run"}), dir).exitCode, 0);
  const std::string array = readFile(job / "array.sh");
  const std::string plan = readFile(job / "plan.json");

  writeText(job / "array.sh", replaced(array, "--frames 4-7", "--frames 4-6"));
  CommandResult r = flowstyleCli({"farm", "submit", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("array.sh: its commands differ from plan.json"), std::string::npos) << r.err;
  // The #SBATCH lines are the user's to edit.
  writeText(job / "array.sh", replaced(array, "#SBATCH --requeue", "#SBATCH --requeue\n#SBATCH --nice=10"));
  writeText(job / "plan.json", replaced(plan, "\"flowstyle_farm_plan\": 2", "\"flowstyle_farm_plan\": 7"));
  r = flowstyleCli({"farm", "submit", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("plan.json: plan version 7, this flowstyle reads version 2"), std::string::npos) << r.err;
  writeText(job / "plan.json", replaced(plan, "\"last\": 7", "\"last\": 8"));
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("chunk 1 differs from what the recorded settings make"), std::string::npos) << r.err;
  writeText(job / "plan.json", plan);
  // The source changes after planning (same name, other content).
  tinyClip(dir, 12, "in.mp4", "80x48");
  r = flowstyleCli({"farm", "submit", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("in.mp4: changed after planning"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(job / "jobs.txt"));
}

TEST(Farm_Slurm, UnknownPartitionPassesSlurmsMessageOn) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  CommandResult r = flowstyleCli(with(copyJob(clip, dir / "x.mp4"), {"--partition", "no-such-partition"}), dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("failed, nothing submitted"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nvalid partition"), std::string::npos) << "Slurm's own words: " << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.mp4.farm")) << "nothing submitted, no job folder";
}

TEST(Farm_Slurm, FailedChunkStopsTheJoinAndStatusNamesIt) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 12);
  const fs::path job = dir / "x.mp4.farm";
  ASSERT_EQ(flowstyleCli(with(copyJob(clip, dir / "x.mp4"), {"--dry-run"}), dir).exitCode, 0);
  // Chunk 1 cannot write its part: a folder stands where the file goes.
  fs::create_directories(job / "parts" / "0-in" / "chunk-001.mkv");
  CommandResult r = flowstyleCli({"farm", "submit", job.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("submitted array job"), std::string::npos);
  const std::vector<std::string> ids = flowstyle::test::farmJobIds(job);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_TRUE(flowstyle::test::waitFor([&] { return !flowstyle::test::slurmQueued(ids, dir); }, 120))
      << "the jobs did not end";
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("chunk 0 (task 0) frames 0-3: done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chunk 1 (task 1) frames 4-7: failed: exit 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chunk-001.mkv"), std::string::npos) << "the log line names the part: " << r.out;
  EXPECT_NE(r.out.find("chunk 2 (task 2) frames 8-11: done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("join: not run: chunk 1 failed; flowstyle farm retry"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(job / "status" / "join-0.start")) << "the join must not have run";
  EXPECT_FALSE(fs::exists(dir / "x.mp4"));
  r = flowstyleCli({"farm", "status", job.string(), "--json"}, dir);
  EXPECT_NE(r.out.find("\"task\":1,\"first\":4,\"last\":7,\"state\":\"failed\""), std::string::npos) << r.out;
}

// --- end to end on the local Slurm, with the fast method (style network 'wave') ----------

namespace {

const auto* const kFarmEnv = ::testing::AddGlobalTestEnvironment(new flowstyle::test::cli::CliModelsEnvironment("farm"));

const std::vector<std::string> kFast = {"--method", "fast", "--model", "wave", "--threads", "1", "--progress", "none"};

// Waits until none of the job folder's jobs is queued; false on timeout.
bool waitForJobFolder(const fs::path& job, const fs::path& scratch, double seconds = 180) {
  const std::vector<std::string> ids = flowstyle::test::farmJobIds(job);
  return !ids.empty() &&
         flowstyle::test::waitFor([&] { return !flowstyle::test::slurmQueued(ids, scratch); }, seconds);
}

// The chunk commands of plan.json's clip 0, run by hand into `dir`, then joined by hand.
fs::path joinByHand(const fs::path& clip, const fs::path& dir, int frames, int chunks, int preroll, int overlap,
                    const std::vector<std::string>& joinArgs) {
  fs::create_directories(dir);
  std::vector<std::string> join = {"join"};
  for (int i = 0; i < chunks; ++i) {
    const int first = i * frames / chunks, last = (i + 1) * frames / chunks - 1;
    const fs::path part = dir / ("p" + std::to_string(i) + ".mkv");
    std::vector<std::string> v = {"video", clip.string(), "--frames", std::to_string(first) + "-" + std::to_string(last),
                                  "--preroll", std::to_string(preroll), "--overlap", std::to_string(overlap)};
    v.insert(v.end(), kFast.begin(), kFast.end());
    v.insert(v.end(), {"--codec", "ffv1", "--no-audio", "-o", part.string()});
    CommandResult r = flowstyleCli(v, dir);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    join.push_back(part.string());
  }
  const fs::path out = dir / "hand.mkv";
  join.insert(join.end(), {"-o", out.string(), "--source", clip.string()});
  join.insert(join.end(), joinArgs.begin(), joinArgs.end());
  CommandResult r = flowstyleCli(join, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return out;
}

// Frames chunk `chunk` of clip 0 has saved in its --resume state so far.
int savedFrames(const fs::path& job, int chunk) {
  char name[64];
  std::snprintf(name, sizeof name, ".chunk-%03d.mkv.flowstyle-state", chunk);
  const fs::path frames = job / "parts" / "0-in" / name / "frames";
  std::error_code ec;
  if (!fs::is_directory(frames, ec)) return 0;
  int n = 0;
  for (const auto& e : fs::directory_iterator(frames, ec)) n += e.path().extension() == ".png";
  return n;
}

// A 2-chunk fast job over a 120-frame clip at 128x96: long enough to interrupt chunk 1.
fs::path submitTwoChunks(const fs::path& dir, fs::path& clip) {
  clip = tinyClip(dir, 120, "in.mp4", "128x96");
  std::vector<std::string> args = {"farm", "slurm", clip.string(), "-o", (dir / "styled.mkv").string(),
                                   "--chunks", "2", "--preroll", "2", "--overlap", "1", "--codec", "ffv1"};
  args.insert(args.end(), kFast.begin(), kFast.end());
  CommandResult r = flowstyleCli(args, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return dir / "styled.mkv.farm";
}

}  // namespace

TEST(Farm_Slurm, ThreeChunksJoinedEqualTheSameChunksJoinedByHand) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 24);
  const fs::path out = dir / "out" / "styled.mkv";
  std::vector<std::string> args = {"farm", "slurm", clip.string(), "-o", out.string(), "--chunks", "3",
                                   "--preroll", "3", "--overlap", "2", "--codec", "ffv1"};
  args.insert(args.end(), kFast.begin(), kFast.end());
  CommandResult r = flowstyleCli(args, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const fs::path job = dir / "out" / "styled.mkv.farm";
  ASSERT_TRUE(waitForJobFolder(job, dir)) << "the farm job did not end";
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("3 done, 1 join done"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(out)) << readFile(job / "logs" / "join-0.log");
  const std::vector<std::string> farm = flowstyle::test::frameMd5(out, dir);
  EXPECT_EQ(farm.size(), 24u);
  const fs::path hand = joinByHand(clip, dir / "hand", 24, 3, 3, 2, {"--codec", "ffv1"});
  EXPECT_EQ(farm, flowstyle::test::frameMd5(hand, dir)) << "the farm's output differs from the chunks joined by hand";
  // And the chunks are not a plain copy: the network ran.
  EXPECT_NE(farm, flowstyle::test::frameMd5(clip, dir));
}

// --blend restyle on the farm: the seams are restyled by tasks of their own (seams.sh, after
// the chunks), and the output is what joining the same parts by hand, restyling there, gives.
TEST(Farm_Slurm, RestyledSeamsRunAsTheirOwnTasks) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 24);
  const fs::path out = dir / "styled.mkv";
  const std::vector<std::string> optimize = {"--method", "optimize", "--style",
                                             flowstyle::test::sharedPath("media/styles/starry_night.jpg"),
                                             "--loss-net", "squeezenet", "--max-side", "48", "--iterations-first", "6",
                                             "--iterations", "3", "--threads", "1", "--progress", "none"};
  std::vector<std::string> args = {"farm", "slurm", clip.string(), "-o", out.string(), "--chunks", "3",
                                   "--preroll", "3", "--overlap", "2", "--blend", "restyle", "--codec", "ffv1"};
  args.insert(args.end(), optimize.begin(), optimize.end());
  CommandResult r = flowstyleCli(args, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("seams.sh (2 seam tasks)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("submitted seam array job"), std::string::npos) << r.out;
  const fs::path job = dir / "styled.mkv.farm";
  ASSERT_TRUE(waitForJobFolder(job, dir, 400)) << "the farm job did not end";
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("seam before chunk 1 (seam task 0): done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seam before chunk 2 (seam task 1): done"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(out)) << readFile(job / "logs" / "join-0.log");
  EXPECT_EQ(readFile(job / "logs" / "join-0.log").find("restyled frame"), std::string::npos)
      << "the join must take the seam parts, not restyle";
  // The same parts joined by hand, restyling in the join: the same frames.
  std::vector<std::string> hand = {"join"};
  for (int i = 0; i < 3; ++i) hand.push_back((job / "parts" / "0-in" / ("chunk-00" + std::to_string(i) + ".mkv")).string());
  hand.insert(hand.end(), {"-o", (dir / "hand.mkv").string(), "--source", clip.string(), "--blend", "restyle",
                           "--codec", "ffv1", "--"});
  hand.insert(hand.end(), optimize.begin(), optimize.end());
  r = flowstyleCli(hand, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::vector<std::string> farm = flowstyle::test::frameMd5(out, dir);
  EXPECT_EQ(farm.size(), 24u);
  EXPECT_EQ(farm, flowstyle::test::frameMd5(dir / "hand.mkv", dir));
}

// A seam task that fails stops the join; status names it; retry runs that seam again (only
// it) and the join, and the output appears.
TEST(Farm_Slurm, FailedSeamStopsTheJoinAndRetryRunsItAgain) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  const fs::path clip = tinyClip(dir, 24);
  const fs::path out = dir / "styled.mkv";
  std::vector<std::string> args = {"farm", "slurm", clip.string(), "-o", out.string(), "--chunks", "3",
                                   "--preroll", "3", "--overlap", "2", "--blend", "restyle", "--codec", "ffv1",
                                   "--dry-run", "--method", "optimize", "--style",
                                   flowstyle::test::sharedPath("media/styles/starry_night.jpg"), "--loss-net",
                                   "squeezenet", "--max-side", "48", "--iterations-first", "4", "--iterations", "2",
                                   "--threads", "1", "--progress", "none"};
  ASSERT_EQ(flowstyleCli(args, dir).exitCode, 0);
  const fs::path job = dir / "styled.mkv.farm";
  // Seam 2 cannot write its part: a folder stands where the file goes.
  const fs::path blocked = job / "parts" / "0-in" / "seam-002.mkv";
  fs::create_directories(blocked);
  CommandResult r = flowstyleCli({"farm", "submit", job.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitForJobFolder(job, dir, 400)) << "the farm job did not end";
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.out.find("seam before chunk 1 (seam task 0): done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seam before chunk 2 (seam task 1): failed: exit 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("join: not run: the seam before chunk 2 failed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(blocked);
  r = flowstyleCli({"farm", "retry", job.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("(1 seam task(s) again)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("submitted join job"), std::string::npos) << r.out;
  ASSERT_TRUE(waitForJobFolder(job, dir, 400)) << "the retried jobs did not end";
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("seam before chunk 2 (seam task 1): done"), std::string::npos) << r.out;
  EXPECT_EQ(flowstyle::test::frameMd5(out, dir).size(), 24u);
}

TEST(Farm_Slurm, RequeuedTaskResumesAndTheOutputIsUnchanged) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  const int kFrames = 120;
  const fs::path clip = tinyClip(dir, kFrames, "in.mp4", "128x96");
  const fs::path out = dir / "styled.mkv";
  std::vector<std::string> args = {"farm", "slurm", clip.string(), "-o", out.string(), "--chunks", "2",
                                   "--preroll", "2", "--overlap", "1", "--codec", "ffv1"};
  args.insert(args.end(), kFast.begin(), kFast.end());
  CommandResult r = flowstyleCli(args, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const fs::path job = dir / "styled.mkv.farm";
  const std::vector<std::string> ids = flowstyle::test::farmJobIds(job);
  ASSERT_EQ(ids.size(), 2u);
  // Task 1 is requeued by the scheduler once it has saved a few frames (as a preemption does).
  auto saved = [&] { return savedFrames(job, 1); };
  ASSERT_TRUE(flowstyle::test::waitFor([&] { return saved() >= 3; }, 120)) << readFile(job / "logs" / "task-1.log");
  r = flowstyle::test::run({"scontrol", "requeue", ids[0] + "_1"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  const int savedAtRequeue = saved();
  ASSERT_LT(savedAtRequeue, kFrames / 2 + 2) << "the task finished before it was requeued: make the clip longer";
  ASSERT_TRUE(waitForJobFolder(job, dir, 240)) << "the farm job did not end";
  const std::string log = readFile(job / "logs" / "task-1.log");
  EXPECT_NE(log.find("resumed: "), std::string::npos) << log;
  EXPECT_NE(readFile(job / "status" / "task-1.start").find("restart 1"), std::string::npos);
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("2 done, 1 join done"), std::string::npos) << r.out;
  const fs::path hand = joinByHand(clip, dir / "hand", kFrames, 2, 2, 1, {"--codec", "ffv1"});
  EXPECT_EQ(flowstyle::test::frameMd5(out, dir), flowstyle::test::frameMd5(hand, dir))
      << "the resumed task changed the output (" << savedAtRequeue << " frames saved at the requeue)";
}

TEST(Farm_Slurm, KilledTaskStopsTheJoinAndRetryResumesIt) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  fs::path clip;
  const fs::path job = submitTwoChunks(dir, clip);
  const std::vector<std::string> ids = flowstyle::test::farmJobIds(job);
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(flowstyle::test::waitFor([&] { return savedFrames(job, 1) >= 3; }, 120))
      << readFile(job / "logs" / "task-1.log");
  // SIGKILL to the task's shell and flowstyle: nothing can clean up.
  CommandResult r = flowstyle::test::run({"scancel", "--batch", "--signal=KILL", ids[0] + "_1"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  const int savedAtKill = savedFrames(job, 1);
  ASSERT_TRUE(waitForJobFolder(job, dir, 240));
  ASSERT_LT(savedAtKill, 62) << "the task finished before it was killed: make the clip longer";
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("chunk 1 \\(task 1\\) frames 60-119: (lost|failed)"))) << r.out;
  EXPECT_NE(r.out.find("frames saved for --resume"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("join: not run: chunk 1 failed"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir / "styled.mkv"));

  r = flowstyleCli({"farm", "retry", job.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("requeued task " + ids[0] + "_1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("submitted join job"), std::string::npos) << r.out;
  ASSERT_TRUE(waitForJobFolder(job, dir, 240));
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("2 done, 1 join done"), std::string::npos) << r.out;
  EXPECT_NE(readFile(job / "logs" / "task-1.log").find("resumed: "), std::string::npos);
  const fs::path hand = joinByHand(clip, dir / "hand", 120, 2, 2, 1, {"--codec", "ffv1"});
  EXPECT_EQ(flowstyle::test::frameMd5(dir / "styled.mkv", dir), flowstyle::test::frameMd5(hand, dir))
      << "the killed and resumed task changed the output (" << savedAtKill << " frames saved at the kill)";
}

TEST(Farm_Slurm, FolderOfClipsIsOneArrayAndOneJoinPerClip) {
  FARM_REQUIRE_SLURM();
  const fs::path dir = scratchDir();
  fs::create_directories(dir / "clips");
  const fs::path a = tinyClip(dir / "clips", 12, "a.mp4");
  const fs::path b = tinyClip(dir / "clips", 9, "b.mov", "80x48");
  CommandResult r = flowstyleCli({"farm", "slurm", (dir / "clips").string() + "/", "-o", (dir / "styled").string() + "/",
                                  "--chunks", "3", "--preroll", "2", "--overlap", "1", "--method", "copy", "--ext", "mkv",
                                  "--codec", "ffv1"},
                                 dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("array.sh (6 tasks), 2 join script(s)"), std::string::npos) << r.out;
  const fs::path job = dir / "styled.farm";
  const std::string array = readFile(job / "array.sh");
  EXPECT_NE(array.find("#SBATCH --array=0-5"), std::string::npos);
  EXPECT_NE(array.find("  5) "), std::string::npos);
  const std::vector<std::string> ids = flowstyle::test::farmJobIds(job);
  ASSERT_EQ(ids.size(), 3u) << "one array, two joins";
  ASSERT_TRUE(waitForJobFolder(job, dir, 180));
  r = flowstyleCli({"farm", "status", job.string()}, dir);
  EXPECT_EQ(r.exitCode, 0) << r.out;
  EXPECT_NE(r.out.find("6 done, 2 join done"), std::string::npos) << r.out;
  // Each clip joined from its own chunks: the frames of a copy equal the source's.
  EXPECT_EQ(flowstyle::test::frameMd5(dir / "styled" / "a.mkv", dir).size(), 12u);
  EXPECT_EQ(flowstyle::test::frameMd5(dir / "styled" / "b.mkv", dir).size(), 9u);
}
