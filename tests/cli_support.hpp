#pragma once
// Helpers for the tests that run the flowstyle executable (FLOWSTYLE_CLI).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_support.hpp"

namespace flowstyle::test::cli {
namespace fs = std::filesystem;

// Weights for a suite that runs the CLI: the shared safetensors files plus the style network
// 'wave' and the arbitrary-style network 'microast' imported once into FLOWSTYLE_TEST_TMP/<name>-models, and a cache folder of the
// suite's own. Never the user's cache. Register with
// ::testing::AddGlobalTestEnvironment(new CliModelsEnvironment("name")).
class CliModelsEnvironment : public ::testing::Environment {
 public:
  explicit CliModelsEnvironment(std::string name) : name_(std::move(name)) {}
  void SetUp() override {
    const fs::path models = fs::path(FLOWSTYLE_TEST_TMP) / (name_ + "-models");
    const fs::path cache = fs::path(FLOWSTYLE_TEST_TMP) / (name_ + "-cache");
    fs::create_directories(models);
    fs::create_directories(cache);
    ::setenv("XDG_CACHE_HOME", cache.c_str(), 1);
    ::unsetenv("FLOWSTYLE_MODELS");
    if (!fs::exists(models / "wave.safetensors")) {
      CommandResult r = flowstyle::test::run(
          {FLOWSTYLE_CLI, "models", "install", sharedPath("models/ml5/wave"), "--to", models.string()}, models);
      ASSERT_EQ(r.exitCode, 0) << r.err;
    }
    // The default arbitrary-style network (any style image, one pass), as a user installs it.
    if (!fs::exists(models / "microast.safetensors")) {
      CommandResult r = flowstyle::test::run(
          {FLOWSTYLE_CLI, "models", "install", sharedPath("models/arbitrary/microast"), "--to", models.string()},
          models);
      ASSERT_EQ(r.exitCode, 0) << r.err;
    }
    const std::string dirs = models.string() + ":" + sharedPath("models");
    ::setenv("FLOWSTYLE_MODELS", dirs.c_str(), 1);
  }

 private:
  std::string name_;
};

inline CommandResult cli(std::vector<std::string> args, const fs::path& scratch) {
  args.insert(args.begin(), FLOWSTYLE_CLI);
  return flowstyle::test::run(args, scratch);
}

inline void expectNoOutputLeft(const fs::path& dir, const std::string& name) {
  EXPECT_FALSE(fs::exists(dir / name)) << name << " must not exist after a failure";
  if (!fs::is_directory(dir)) return;
  for (const std::string& f : flowstyle::test::listDir(dir)) {
    EXPECT_EQ(f.find("flowstyle-tmp"), std::string::npos) << "temporary file left behind: " << f;
  }
}

// A moving test pattern with a tone, 64x48, 25 fps.
inline fs::path smallClip(const fs::path& dir, double seconds = 1.0, const std::string& name = "in.mp4") {
  const fs::path p = dir / name;
  makeClip(p, "testsrc2=size=64x48:rate=25", seconds,
           {"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=22050", "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"});
  return p;
}

// Starts flowstyle, waits for the `occurrence`-th line on its stdout that contains `waitFor`
// (any line if empty), sends `sig`, returns the exit code.
inline int interruptAfterFirstFrame(const std::vector<std::string>& args, int sig, const std::string& waitFor = "",
                                    int occurrence = 1) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, STDERR_FILENO);
    std::vector<char*> argv;
    std::string cliPath = FLOWSTYLE_CLI;
    argv.push_back(cliPath.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  char c = 0;
  std::string line;
  while (::read(pipefd[0], &c, 1) == 1) {
    if (c != '\n') {
      line += c;
      continue;
    }
    if (line.find(waitFor) != std::string::npos && --occurrence <= 0) break;
    line.clear();
  }
  ::kill(pid, sig);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(pipefd[0]);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The decoded frames of a video as `ffmpeg -f framemd5` lists them (comment lines dropped).
inline std::string framemd5(const fs::path& video, const fs::path& scratch) {
  CommandResult r = run({"sh", "-c", "ffmpeg -v error -i " + shellQuote(video.string()) +
                                         " -map 0:v:0 -f framemd5 - | grep -v '^#'"},
                        scratch);
  EXPECT_FALSE(r.out.empty()) << video << ": " << r.err;
  return r.out;
}

}  // namespace flowstyle::test::cli
