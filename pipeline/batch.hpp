#pragma once
// `flowstyle batch`: which clips of a folder to stylize, and where each result goes.
// Planning only (files and names); the command runs each planned clip as a video job.
#include <memory>
#include <string>
#include <vector>

namespace flowstyle::pipeline {

struct BatchItem {
  enum class Action { Run, SkipDone, Reject };
  std::string input;   // the clip
  std::string output;  // OUT_DIR/<clip stem>.<ext>
  Action action = Action::Run;
  std::string reason;  // SkipDone / Reject: why
};

// The file extensions taken as clips (lower case, with the dot).
const std::vector<std::string>& clipExtensions();

// Lists the clips directly inside inputDir (not recursive; hidden files and other
// extensions ignored), sorted by name, and plans one output per clip in outputDir:
//   - SkipDone when the output exists and !overwrite (outputs are renamed into place only
//     when complete, so an existing file is a finished one);
//   - Reject when the output would be the input itself, or when an earlier clip already
//     maps to the same output name (a.mp4 and a.mov with ext mp4).
// Throws std::runtime_error naming the folder when inputDir is not a readable folder or
// holds no clips, or when outputDir exists and is not a folder; ext without its dot.
std::vector<BatchItem> planBatch(const std::string& inputDir, const std::string& outputDir,
                                 const std::string& ext, bool overwrite);

// The per-clip lock of `batch`: `<folder of output>/.<output file name>.flowstyle-lock`,
// created exclusively (O_CREAT|O_EXCL) and holding "host pid", so that several batch
// processes (nodes sharing a folder) never work on the same clip. Removed when the clip
// ends (done, failed or interrupted). A lock whose process is gone (same host, pid dead)
// is taken over; a lock from another host is respected (it cannot be checked from here).
std::string clipLockPath(const std::string& output);

class ClipLock {
 public:
  // The lock of `output`, or null when another live process holds it (`holder` is then
  // its "host pid"). Throws std::runtime_error naming the lock when it cannot be created
  // for another reason (folder missing or read-only).
  static std::unique_ptr<ClipLock> acquire(const std::string& output, std::string* holder);
  ~ClipLock();
  ClipLock(const ClipLock&) = delete;
  ClipLock& operator=(const ClipLock&) = delete;
  const std::string& path() const { return path_; }

 private:
  explicit ClipLock(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace flowstyle::pipeline
