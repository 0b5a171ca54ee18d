#pragma once
// Temporary outputs and what a killed run leaves of them. Every output is written under
// "<folder>/.<name>.flowstyle-tmp-<pid>-<n><ext>" (a folder of that name for image
// sequences; stills: ".<stem>.flowstyle-tmp-<pid><ext>") and renamed when complete, so a
// run killed with SIGKILL leaves its temporary behind. The next run in that folder
// removes it. Resume state (".<name>.flowstyle-state/") and batch locks
// (".flowstyle-lock") are never touched.
#include <string>
#include <vector>

namespace flowstyle::stages {

// The file name of a temporary output, the one format temporaryOwnerPid reads:
// ".<name>.flowstyle-tmp-<pid>-<n><ext>" when `numbered` (n: a serial of this process, so
// that two outputs of one process never share a name), ".<name>.flowstyle-tmp-<pid><ext>"
// otherwise. `ext` with its dot, or empty (a folder for an image sequence).
std::string temporaryName(const std::string& name, const std::string& ext, bool numbered);

// The pid in a temporary output's file name, or -1 when `filename` (no folder) is not one.
long temporaryOwnerPid(const std::string& filename);

// An advisory lock (flock) held on a temporary output while its writer lives, so that a
// run elsewhere (another container, another host on a shared folder) that cannot see the
// pid still sees the temporary is in use. Movable; releases on destruction.
class TemporaryLock {
 public:
  TemporaryLock() = default;
  explicit TemporaryLock(const std::string& path);  // no lock if it cannot be taken
  ~TemporaryLock();
  TemporaryLock(TemporaryLock&& other) noexcept;
  TemporaryLock& operator=(TemporaryLock&& other) noexcept;
  TemporaryLock(const TemporaryLock&) = delete;
  TemporaryLock& operator=(const TemporaryLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the temporary outputs in `folder` whose process is gone: no process with that pid
// on this host and no lock held on the file. Returns one note per removal
// ("removed PATH, left by a run that was killed (pid N is gone)"); errors are ignored
// (a file another run removes first is fine).
std::vector<std::string> removeStaleTemporaries(const std::string& folder);

}  // namespace flowstyle::stages
