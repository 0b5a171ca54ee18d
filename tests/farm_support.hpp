#pragma once
// Helpers of the farm tests: the CLI, tiny clips, and the local Slurm (tools/slurm-local.sh).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_support.hpp"

namespace flowstyle::test {

inline CommandResult flowstyleCli(std::vector<std::string> args, const std::filesystem::path& scratch) {
  args.insert(args.begin(), FLOWSTYLE_CLI);
  return run(args, scratch);
}

// A moving test pattern without audio, `frames` frames at 25 fps.
inline std::filesystem::path tinyClip(const std::filesystem::path& dir, int frames, const std::string& name = "in.mp4",
                                      const std::string& size = "64x48") {
  const std::filesystem::path p = dir / name;
  makeClip(p, "testsrc2=size=" + size + ":rate=25", frames / 25.0 - 0.001,
           {"-c:v", "libx264", "-pix_fmt", "yuv420p", "-frames:v", std::to_string(frames)});
  return p;
}

// framemd5 of the video stream (one line per frame, no header).
inline std::vector<std::string> frameMd5(const std::filesystem::path& file, const std::filesystem::path& scratch) {
  CommandResult r = run({"sh", "-c", "ffmpeg -v error -i " + shellQuote(file.string()) +
                                         " -map 0:v:0 -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}'"},
                        scratch);
  std::vector<std::string> lines;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Whether the local Slurm answers; sets SLURM_CONF to its config when the environment has none.
inline bool slurmRunning(std::string& why) {
  if (std::getenv("SLURM_CONF") == nullptr) ::setenv("SLURM_CONF", FLOWSTYLE_SLURM_CONF, 1);
  const std::string conf = std::getenv("SLURM_CONF");
  if (!std::filesystem::exists(conf)) {
    why = "no " + conf;
    return false;
  }
  CommandResult r = run({"sh", "-c", "timeout 10 sinfo -h -o %T"}, std::filesystem::path(FLOWSTYLE_TEST_TMP));
  if (r.exitCode != 0 || r.out.empty()) {
    why = "sinfo: " + r.err;
    return false;
  }
  return true;
}

#define FARM_REQUIRE_SLURM()                                                                          \
  do {                                                                                                 \
    std::string why_;                                                                                  \
    if (!::flowstyle::test::slurmRunning(why_)) {                                                      \
      GTEST_SKIP() << "Slurm is not running here (" << why_ << "); start it with tools/slurm-local.sh start"; \
    }                                                                                                  \
  } while (0)

// Polls `done` every 0.3 s for up to `seconds`; true when it came true.
inline bool waitFor(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return done();
}

// Whether Slurm still lists any of the job ids (pending, running, completing).
inline bool slurmQueued(const std::vector<std::string>& ids, const std::filesystem::path& scratch) {
  std::string list;
  for (const std::string& id : ids) list += (list.empty() ? "" : ",") + id;
  CommandResult r = run({"squeue", "-h", "-r", "-j", list, "-o", "%i %T"}, scratch);
  return r.exitCode == 0 && !r.out.empty();
}

// The ids in JOBDIR/jobs.txt: array first, then the joins.
inline std::vector<std::string> farmJobIds(const std::filesystem::path& jobDir) {
  std::vector<std::string> ids;
  std::stringstream ss(readFile(jobDir / "jobs.txt"));
  std::string word;
  while (ss >> word) {
    std::string id;
    if (word == "array" || word == "seams") {
      ss >> id;
    } else if (word == "join") {
      ss >> id >> id;
    }
    if (!id.empty()) ids.push_back(id);
  }
  return ids;
}

}  // namespace flowstyle::test
