#include "pipeline/batch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace flowstyle::pipeline {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool isClip(const fs::directory_entry& e) {
  std::error_code ec;
  if (!e.is_regular_file(ec)) return false;
  const std::string name = e.path().filename().string();
  if (name.empty() || name[0] == '.') return false;
  const std::string ext = lower(e.path().extension().string());
  const auto& known = clipExtensions();
  return std::find(known.begin(), known.end(), ext) != known.end();
}

std::string joinExtensions() {
  std::string s;
  for (const std::string& e : clipExtensions()) s += (s.empty() ? "" : " ") + e;
  return s;
}

std::string hostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

std::string readSmallFile(const std::string& path) {
  std::ifstream f(path);
  std::string host, pid;
  f >> host >> pid;
  return host.empty() ? std::string() : host + " " + pid;
}

// Whether "host pid" names a process that is gone (on this host only).
bool isStale(const std::string& holder) {
  const auto sp = holder.find(' ');
  if (sp == std::string::npos) return false;  // being written right now, or not ours: respect it
  if (holder.substr(0, sp) != hostName()) return false;
  char* end = nullptr;
  const long pid = std::strtol(holder.c_str() + sp + 1, &end, 10);
  if (pid <= 0 || *end != '\0') return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

std::string clipLockPath(const std::string& output) {
  const fs::path out(output);
  return (out.parent_path() / ("." + out.filename().string() + ".flowstyle-lock")).string();
}

std::unique_ptr<ClipLock> ClipLock::acquire(const std::string& output, std::string* holder) {
  const std::string path = clipLockPath(output);
  const std::string me = hostName() + " " + std::to_string(::getpid()) + "\n";
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const bool ok = ::write(fd, me.data(), me.size()) == static_cast<ssize_t>(me.size());
      ::close(fd);
      if (!ok) {
        ::unlink(path.c_str());
        throw std::runtime_error(path + ": cannot write the clip lock");
      }
      return std::unique_ptr<ClipLock>(new ClipLock(path));
    }
    if (errno != EEXIST) throw std::runtime_error(path + ": cannot create the clip lock: " + std::strerror(errno));
    const std::string current = readSmallFile(path);
    if (!isStale(current)) {
      if (holder) *holder = current.empty() ? "another process" : current;
      return nullptr;
    }
    // Take over a dead process's lock: move it aside (only one taker wins the rename),
    // check that what moved is still the stale lock, then create ours.
    const std::string aside = path + ".stale-" + std::to_string(::getpid());
    if (::rename(path.c_str(), aside.c_str()) != 0) continue;  // someone else took it first
    const std::string moved = readSmallFile(aside);
    if (moved != current && !isStale(moved)) {
      // A fresh lock was moved by mistake: put it back unless the place is taken again.
      if (::link(aside.c_str(), path.c_str()) != 0) {}
      ::unlink(aside.c_str());
      if (holder) *holder = moved;
      return nullptr;
    }
    ::unlink(aside.c_str());
  }
  if (holder) *holder = readSmallFile(path);
  return nullptr;
}

ClipLock::~ClipLock() { ::unlink(path_.c_str()); }

const std::vector<std::string>& clipExtensions() {
  static const std::vector<std::string> ext = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi",
                                               ".gif", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                                               ".wmv", ".flv", ".ogv", ".y4m"};
  return ext;
}

std::vector<BatchItem> planBatch(const std::string& inputDir, const std::string& outputDir,
                                 const std::string& ext, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(inputDir, ec)) throw std::runtime_error(inputDir + ": folder not found");
  if (!fs::is_directory(inputDir, ec)) {
    throw std::runtime_error(inputDir + ": is not a folder (batch takes a folder of clips; "
                             "for one file use flowstyle video)");
  }
  if (fs::exists(outputDir, ec) && !fs::is_directory(outputDir, ec)) {
    throw std::runtime_error(outputDir + ": exists and is not a folder");
  }
  if (ext.empty() || ext.find('/') != std::string::npos || ext[0] == '.') {
    throw std::runtime_error("--ext '" + ext + "': expected an extension without the dot, e.g. mp4");
  }
  std::vector<fs::path> clips;
  fs::directory_iterator it(inputDir, ec);
  if (ec) throw std::runtime_error(inputDir + ": cannot list the folder: " + ec.message());
  for (const fs::directory_entry& e : it) {
    if (isClip(e)) clips.push_back(e.path());
  }
  if (clips.empty()) {
    throw std::runtime_error(inputDir + ": no clips in this folder (looked for " + joinExtensions() +
                             ")");
  }
  std::sort(clips.begin(), clips.end());

  std::vector<BatchItem> plan;
  std::map<std::string, std::string> claimed;  // output -> the clip it belongs to
  for (const fs::path& clip : clips) {
    BatchItem item;
    item.input = clip.string();
    item.output = (fs::path(outputDir) / (clip.stem().string() + "." + ext)).string();
    const fs::path inAbs = fs::weakly_canonical(clip, ec);
    const fs::path outAbs = fs::weakly_canonical(item.output, ec);
    auto earlier = claimed.find(outAbs.string());
    if (inAbs == outAbs) {
      item.action = BatchItem::Action::Reject;
      item.reason = "the output " + item.output + " would overwrite the clip itself (use another -o or --ext)";
    } else if (earlier != claimed.end()) {
      item.action = BatchItem::Action::Reject;
      item.reason = "the output " + item.output + " is already the output of " + earlier->second +
                    " (same name, other extension)";
    } else if (!overwrite && fs::exists(item.output, ec)) {
      item.action = BatchItem::Action::SkipDone;
      item.reason = item.output + " exists (--overwrite to redo it)";
    }
    if (item.action != BatchItem::Action::Reject) claimed[outAbs.string()] = item.input;
    plan.push_back(item);
  }
  return plan;
}

}  // namespace flowstyle::pipeline
