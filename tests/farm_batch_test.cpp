// Per-clip locks of `flowstyle batch`, so that nodes sharing a folder never work on the
// same clip: the lock itself, and two real batch processes on one folder.
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>

#include <gtest/gtest.h>

#include "pipeline/batch.hpp"
#include "tests/farm_support.hpp"

namespace fs = std::filesystem;
using flowstyle::pipeline::ClipLock;
using flowstyle::pipeline::clipLockPath;
using flowstyle::test::readFile;
using flowstyle::test::scratchDir;

namespace {

std::string host() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// A pid that is certainly dead: a child that has exited and been reaped.
pid_t deadPid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST(Farm_ClipLock, ExclusiveAndRemovedWhenReleased) {
  const fs::path dir = scratchDir();
  const std::string out = (dir / "a.mp4").string();
  EXPECT_EQ(clipLockPath(out), (dir / ".a.mp4.flowstyle-lock").string());
  std::string holder;
  {
    std::unique_ptr<ClipLock> first = ClipLock::acquire(out, &holder);
    ASSERT_TRUE(first);
    EXPECT_EQ(readFile(clipLockPath(out)), host() + " " + std::to_string(getpid()) + "\n");
    std::unique_ptr<ClipLock> second = ClipLock::acquire(out, &holder);
    EXPECT_FALSE(second) << "a live holder (this process) must be respected";
    EXPECT_EQ(holder, host() + " " + std::to_string(getpid()));
  }
  EXPECT_FALSE(fs::exists(clipLockPath(out))) << "released with the clip";
  EXPECT_TRUE(ClipLock::acquire(out, &holder));
}

TEST(Farm_ClipLock, StaleLockOfADeadProcessIsTakenOver) {
  const fs::path dir = scratchDir();
  const std::string out = (dir / "a.mp4").string();
  std::ofstream(clipLockPath(out)) << host() << " " << deadPid() << "\n";
  std::string holder;
  std::unique_ptr<ClipLock> lock = ClipLock::acquire(out, &holder);
  ASSERT_TRUE(lock) << "stale lock not taken over (holder " << holder << ")";
  EXPECT_EQ(readFile(clipLockPath(out)), host() + " " + std::to_string(getpid()) + "\n");
  for (const std::string& f : flowstyle::test::listDir(dir)) {
    EXPECT_EQ(f.find("stale"), std::string::npos) << "left behind: " << f;
  }
}

TEST(Farm_ClipLock, OtherHostsAndLiveProcessesAreRespected) {
  const fs::path dir = scratchDir();
  const std::string out = (dir / "a.mp4").string();
  std::string holder;
  std::ofstream(clipLockPath(out)) << "some-other-node 1\n";
  EXPECT_FALSE(ClipLock::acquire(out, &holder)) << "a lock from another host cannot be checked: respected";
  EXPECT_EQ(holder, "some-other-node 1");
  std::ofstream(clipLockPath(out), std::ios::trunc) << host() << " 1\n";  // init: alive
  EXPECT_FALSE(ClipLock::acquire(out, &holder));
  EXPECT_EQ(readFile(clipLockPath(out)), host() + " 1\n") << "a live holder's lock is left as it is";
  EXPECT_THROW(ClipLock::acquire((dir / "missing" / "a.mp4").string(), &holder), std::runtime_error);
}

// Two batch processes started together on one folder: every clip is done exactly once,
// the other process skips it as locked (or finished), and no lock is left.
TEST(Farm_BatchLock, TwoBatchProcessesDoEachClipOnce) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "clips", out = dir / "styled";
  fs::create_directories(in);
  const int kClips = 4;
  for (int i = 0; i < kClips; ++i) flowstyle::test::tinyClip(in, 60, "c" + std::to_string(i) + ".mp4", "160x120");
  const std::string cmd = flowstyle::test::shellQuote(FLOWSTYLE_CLI) + " batch " +
                          flowstyle::test::shellQuote(in.string()) + " -o " + flowstyle::test::shellQuote(out.string()) +
                          " --method copy --preset veryslow --progress json";
  const flowstyle::test::CommandResult r = flowstyle::test::run(
      {"sh", "-c", "cd " + flowstyle::test::shellQuote(dir.string()) + " && (" + cmd + " > a.json 2> a.err & " + cmd +
                       " > b.json 2> b.err & wait)"},
      dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::map<std::string, int> done;
  int skippedLocked = 0;
  for (const char* f : {"a.json", "b.json"}) {
    const std::string text = readFile(dir / f);
    static const std::regex kLine("\\{\"clip\":\"([^\"]+)\",\"output\":\"[^\"]+\",\"status\":\"(\\w+)\".*\"detail\":\"([^\"]*)\"\\}");
    for (std::sregex_iterator it(text.begin(), text.end(), kLine), end; it != end; ++it) {
      if ((*it)[2] == "done") done[(*it)[1]]++;
      if ((*it)[2] == "skipped" && (*it)[3].str().find("another batch process works on it") != std::string::npos) {
        ++skippedLocked;
      }
    }
    EXPECT_NE(text.find("\"failed\":0"), std::string::npos) << f << ": " << text << readFile(dir / (std::string(f, 1) + ".err"));
  }
  ASSERT_EQ(static_cast<int>(done.size()), kClips) << readFile(dir / "a.json") << readFile(dir / "b.json");
  for (const auto& [clip, n] : done) EXPECT_EQ(n, 1) << clip << " was done " << n << " times";
  std::printf("clips skipped because the other process held the lock: %d\n", skippedLocked);
  for (const std::string& f : flowstyle::test::listDir(out)) {
    EXPECT_EQ(f.find("flowstyle-lock"), std::string::npos) << "lock left behind: " << f;
  }
  EXPECT_EQ(flowstyle::test::listDir(out).size(), static_cast<std::size_t>(kClips));
}
