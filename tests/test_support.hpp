#pragma once
// Helpers for tests that run commands (the flowstyle CLI, ffmpeg, ffprobe).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace flowstyle::test {

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

inline std::string shellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

inline std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv[0] with arguments; captures stdout and stderr; stdin is /dev/null.
inline CommandResult run(const std::vector<std::string>& argv, const std::filesystem::path& scratch) {
  std::string cmd;
  for (const std::string& a : argv) cmd += shellQuote(a) + " ";
  const auto outPath = scratch / ".cmd.out";
  const auto errPath = scratch / ".cmd.err";
  cmd += "</dev/null >" + shellQuote(outPath.string()) + " 2>" + shellQuote(errPath.string());
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = readFile(outPath);
  r.err = readFile(errPath);
  std::filesystem::remove(outPath);
  std::filesystem::remove(errPath);
  return r;
}

// A fresh scratch folder for one test, under FLOWSTYLE_TEST_TMP.
inline std::filesystem::path scratchDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p = std::filesystem::path(FLOWSTYLE_TEST_TMP) /
                            (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

inline std::string sharedPath(const std::string& rel) {
  return std::string(FLOWSTYLE_SHARED_DIR) + "/" + rel;
}

// Makes a clip with ffmpeg's lavfi sources; `filter` is a lavfi video source graph.
inline void makeClip(const std::filesystem::path& out, const std::string& filter, double seconds,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {"ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", filter};
  for (const std::string& e : extra) argv.push_back(e);
  argv.insert(argv.end(), {"-t", std::to_string(seconds), out.string()});
  CommandResult r = run(argv, out.parent_path());
  ASSERT_EQ(r.exitCode, 0) << r.err;
}

// Lines of ffprobe's CSV output for one stream's packets or frames.
inline std::vector<std::string> probeLines(const std::string& file, const std::string& args,
                                           const std::filesystem::path& scratch) {
  std::vector<std::string> argv = {"sh", "-c", "ffprobe -v error " + args + " -of csv=p=0 " + shellQuote(file)};
  CommandResult r = run(argv, scratch);
  std::vector<std::string> lines;
  std::stringstream ss(r.out);
  std::string line;
  while (std::getline(ss, line)) {
    // ffprobe's CSV may end fields with separators and print side-data rows as blanks.
    while (!line.empty() && (line.back() == ',' || line.back() == ' ')) line.pop_back();
    while (!line.empty() && line.front() == ',') line.erase(line.begin());
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Files in `dir` (non-recursive), names only.
inline std::vector<std::string> listDir(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

// The message of the std::runtime_error that `fn` throws; a test failure when it throws none.
inline std::string errorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "(no exception)";
}

}  // namespace flowstyle::test
