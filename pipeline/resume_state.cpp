#include "pipeline/resume_state.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace flowstyle::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kVersion = "1";

std::string frameName(std::int64_t index, const char* ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08lld%s", static_cast<long long>(index), ext);
  return buf;
}

std::string hostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
void writeAtomic(const fs::path& path, const void* data, std::size_t size) {
  const fs::path tmp = path.string() + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error(tmp.string() + ": cannot write resume state: " + std::strerror(errno));
  const auto* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(tmp.string() + ": cannot write resume state: " + why);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error(tmp.string() + ": cannot write resume state: " + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw std::runtime_error(path.string() + ": cannot write resume state: " + ec.message());
}

std::map<std::string, std::string> readFields(const fs::path& file) {
  std::map<std::string, std::string> fields;
  std::ifstream in(file);
  if (!in) return fields;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    fields[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return fields;
}

bool processAlive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Takes the folder's lock; a lock of a dead process on this host is taken over.
void takeLock(const fs::path& folder) {
  const fs::path lock = folder / "lock";
  const std::string mine = hostName() + " " + std::to_string(::getpid()) + "\n";
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      const ssize_t n = ::write(fd, mine.data(), mine.size());
      ::close(fd);
      if (n != static_cast<ssize_t>(mine.size())) throw std::runtime_error(lock.string() + ": cannot write the lock");
      return;
    }
    std::ifstream in(lock);
    std::string host;
    long pid = 0;
    in >> host >> pid;
    if (host == hostName() && pid == ::getpid()) return;
    if (host == hostName() && !processAlive(pid)) {
      std::error_code ec;
      fs::remove(lock, ec);
      continue;
    }
    throw std::runtime_error(folder.string() + ": another flowstyle process (" + host + " pid " + std::to_string(pid) +
                             ") is working on this output; wait for it, or remove " + lock.string() +
                             " if that process is gone");
  }
  throw std::runtime_error(lock.string() + ": cannot take the lock");
}

std::int64_t countComplete(const fs::path& folder) {
  std::int64_t n = 0;
  std::error_code ec;
  while (fs::exists(folder / "frames" / frameName(n, ".png"), ec)) ++n;
  return n;
}

}  // namespace

std::string ResumeState::folderFor(const std::string& output) {
  const fs::path p(output);
  std::string name = p.filename().string();
  std::replace(name.begin(), name.end(), '%', '_');
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  return (parent / ("." + name + ".flowstyle-state")).string();
}

std::unique_ptr<ResumeState> ResumeState::open(const std::string& output, const std::string& identity,
                                               const std::string& description, bool resume, int carryFrames,
                                               int alignment, const Note& note) {
  const fs::path folder = folderFor(output);
  std::error_code ec;
  const bool exists = fs::exists(folder, ec);
  if (!resume) {
    if (exists) {
      takeLock(folder);  // never remove the state of a run that is still going
      const std::int64_t n = countComplete(folder);
      fs::remove_all(folder, ec);
      if (note) {
        note("removed the resume state of an earlier, unfinished run (" + folder.string() + ", " + std::to_string(n) +
             " frames); with --resume it would have continued from there");
      }
    }
    return nullptr;
  }
  std::unique_ptr<ResumeState> s(new ResumeState());
  s->folder_ = folder.string();
  s->carryFrames_ = std::max(0, carryFrames);
  s->alignment_ = std::max(1, alignment);
  if (exists) {
    if (!fs::is_directory(folder, ec)) {
      throw std::runtime_error(folder.string() + ": exists but is not a resume-state folder; remove it");
    }
    takeLock(folder);
    s->fields_ = readFields(folder / "state.txt");
    if (s->fields_["version"] != kVersion || s->fields_["identity"].empty()) {
      throw std::runtime_error(folder.string() + ": not a resume state this flowstyle can read (state.txt missing, "
                               "damaged or of another version); remove the folder to start over");
    }
    if (s->fields_["identity"] != identity) {
      throw std::runtime_error(folder.string() + ": the resume state belongs to another command (" +
                               s->fields_["job"] + "); the input, the frame range or a setting that changes the "
                               "pixels differs. Run the original command with --resume, or remove the folder "
                               "(or run without --resume) to start over");
    }
    std::int64_t n = countComplete(folder);
    n -= n % s->alignment_;
    // Every carried frame the next one needs must be there (written before its PNG).
    while (n > 0) {
      bool ok = true;
      for (std::int64_t k = std::max<std::int64_t>(0, n - s->carryFrames_); k < n && s->carryFrames_ > 0; ++k) {
        if (!fs::exists(folder / "carry" / frameName(k, ".f32"), ec)) ok = false;
      }
      if (ok) break;
      n -= s->alignment_;
    }
    s->restored_ = std::max<std::int64_t>(0, n);
    if (note && s->restored_ > 0) {
      note("resuming from " + folder.string() + ": " + std::to_string(s->restored_) + " frames done");
    }
    return s;
  }
  fs::create_directories(folder / "frames", ec);
  if (!ec) fs::create_directories(folder / "carry", ec);
  if (ec) throw std::runtime_error(folder.string() + ": cannot create the resume-state folder: " + ec.message());
  takeLock(folder);
  s->fields_["version"] = kVersion;
  s->fields_["identity"] = identity;
  s->fields_["job"] = description;
  s->writeStateFile();
  return s;
}

ResumeState::~ResumeState() {
  if (finished_) return;
  std::error_code ec;
  fs::remove(fs::path(folder_) / "lock", ec);  // the state stays for the next --resume
}

void ResumeState::writeStateFile() const {
  std::string text;
  for (const auto& [k, v] : fields_) {
    std::string clean = v;
    std::replace(clean.begin(), clean.end(), '\n', ' ');
    text += k + "=" + clean + "\n";
  }
  writeAtomic(fs::path(folder_) / "state.txt", text.data(), text.size());
}

cv::Mat ResumeState::output(std::int64_t index) const {
  const fs::path file = fs::path(folder_) / "frames" / frameName(index, ".png");
  cv::Mat bgr = cv::imread(file.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error(file.string() + ": damaged resume state (cannot read the frame); remove " + folder_);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Mat ResumeState::carry(std::int64_t index) const {
  const fs::path file = fs::path(folder_) / "carry" / frameName(index, ".f32");
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  std::int32_t header[3] = {0, 0, 0};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  if (!in || header[0] <= 0 || header[1] <= 0 || header[0] > 65536 || header[1] > 65536 || header[2] != CV_32FC3) {
    throw std::runtime_error(file.string() + ": damaged resume state (bad header); remove " + folder_);
  }
  const std::uintmax_t expected = sizeof header + static_cast<std::uintmax_t>(header[0]) * header[1] * 3 * sizeof(float);
  std::error_code ec;
  if (fs::file_size(file, ec) != expected || ec) {  // checked before allocating what the header asks for
    throw std::runtime_error(file.string() + ": damaged resume state (size does not match its header); remove " + folder_);
  }
  cv::Mat m(header[0], header[1], CV_32FC3);
  in.read(reinterpret_cast<char*>(m.data), static_cast<std::streamsize>(m.total() * m.elemSize()));
  if (!in) throw std::runtime_error(file.string() + ": damaged resume state (truncated); remove " + folder_);
  return m;
}

void ResumeState::save(std::int64_t index, const cv::Mat& carry01, const cv::Mat& output) {
  const fs::path folder(folder_);
  if (!carry01.empty() && carryFrames_ > 0) {
    CV_Assert(carry01.type() == CV_32FC3);
    const cv::Mat c = carry01.isContinuous() ? carry01 : carry01.clone();
    const std::int32_t header[3] = {c.rows, c.cols, CV_32FC3};
    std::vector<char> bytes(sizeof header + c.total() * c.elemSize());
    std::memcpy(bytes.data(), header, sizeof header);
    std::memcpy(bytes.data() + sizeof header, c.data, c.total() * c.elemSize());
    writeAtomic(folder / "carry" / frameName(index, ".f32"), bytes.data(), bytes.size());
  }
  cv::Mat bgr;
  cv::cvtColor(output, bgr, cv::COLOR_RGB2BGR);
  std::vector<unsigned char> png;
  if (!cv::imencode(".png", bgr, png, {cv::IMWRITE_PNG_COMPRESSION, 1})) {
    throw std::runtime_error(folder_ + ": cannot encode a frame for the resume state");
  }
  writeAtomic(folder / "frames" / frameName(index, ".png"), png.data(), png.size());
  // Carried frames the chain (and a resume aligned to the batch) no longer needs.
  const std::int64_t keep = carryFrames_ + alignment_ - 1;
  const std::int64_t old = index - keep;
  if (old >= 0) {
    std::error_code ec;
    fs::remove(folder / "carry" / frameName(old, ".f32"), ec);
  }
}

std::string ResumeState::value(const std::string& key) const {
  auto it = fields_.find(key);
  return it == fields_.end() ? std::string() : it->second;
}

void ResumeState::setValue(const std::string& key, const std::string& value) {
  if (fields_[key] == value) return;
  fields_[key] = value;
  writeStateFile();
}

void ResumeState::finish() {
  std::error_code ec;
  fs::remove_all(folder_, ec);
  finished_ = true;
}

}  // namespace flowstyle::pipeline
