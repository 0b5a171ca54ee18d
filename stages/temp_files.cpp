#include "stages/temp_files.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <regex>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace flowstyle::stages {
namespace fs = std::filesystem;

std::string temporaryName(const std::string& name, const std::string& ext, bool numbered) {
  static std::atomic<int> serial{0};
  std::string tmp = "." + name + ".flowstyle-tmp-" + std::to_string(::getpid());
  if (numbered) tmp += "-" + std::to_string(serial.fetch_add(1));
  return tmp + ext;
}

long temporaryOwnerPid(const std::string& filename) {
  // temporaryName's ".<name>.flowstyle-tmp-<pid>[-<n>]<ext>".
  static const std::regex kName(R"(^\..+\.flowstyle-tmp-([0-9]{1,9})(-[0-9]+)?(\.[A-Za-z0-9]+)?$)");
  std::smatch m;
  if (!std::regex_match(filename, m, kName)) return -1;
  return std::stol(m[1].str());
}

namespace {

int openForLock(const std::string& path) {
  std::error_code ec;
  const bool folder = fs::is_directory(path, ec);
  return ::open(path.c_str(), (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
}

bool processExists(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

TemporaryLock::TemporaryLock(const std::string& path) {
  fd_ = openForLock(path);
  if (fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

TemporaryLock::~TemporaryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

TemporaryLock::TemporaryLock(TemporaryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

TemporaryLock& TemporaryLock::operator=(TemporaryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

std::vector<std::string> removeStaleTemporaries(const std::string& folder) {
  std::vector<std::string> notes;
  std::error_code ec;
  const fs::path dir = folder.empty() ? fs::path(".") : fs::path(folder);
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find(".flowstyle-state") != std::string::npos || name.find(".flowstyle-lock") != std::string::npos)
      continue;  // resume state and batch locks belong to their own runs
    const long pid = temporaryOwnerPid(name);
    if (pid < 0 || pid == static_cast<long>(::getpid()) || processExists(pid)) continue;
    std::error_code typeEc;
    if (it->is_symlink(typeEc)) continue;  // never a writer's; not ours to follow
    const std::string path = it->path().string();
    const int fd = openForLock(path);
    if (fd < 0) continue;
    const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;  // held: a live run elsewhere
    std::error_code removeEc;
    const bool removed = free && fs::remove_all(path, removeEc) > 0 && !removeEc;
    ::close(fd);
    if (removed) {
      notes.push_back("removed " + path + ", left by a run that was killed (pid " + std::to_string(pid) +
                      " is gone)");
    }
  }
  return notes;
}

}  // namespace flowstyle::stages
