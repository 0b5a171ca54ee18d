// flowstyle-bench harness: see harness.hpp.
#include "tools/bench/harness.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "stages/video_reader.hpp"
#include "tools/json_output.hpp"

#ifndef FLOWSTYLE_SOURCE_DIR
#define FLOWSTYLE_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace flowstyle::bench {

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------- options

Options gOpt;
std::string gSelf;
std::string gTmp;

namespace {
std::vector<Benchmark> gBenchmarks;
}  // namespace

const std::vector<Benchmark>& benchmarks() { return gBenchmarks; }
void setBenchmarks(std::vector<Benchmark> all) { gBenchmarks = std::move(all); }

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "flowstyle-bench: %s\n", why.c_str());
  std::string all;
  for (const Benchmark& b : gBenchmarks) {
    if (b.inAll) all += (all.empty() ? "" : ", ") + b.name;
  }
  const auto last = all.rfind(", ");
  if (last != std::string::npos) all.replace(last, 2, " and ");
  std::fprintf(stderr,
               "Usage: flowstyle-bench [--json] [--threads N] [--device auto|cpu|cuda] [--shared DIR] [--keep | --work DIR] COMMAND [options]\n"
               "  --keep      keep the temporary work folder; --work DIR: use DIR as it and keep it\n"
               "              (farm reuses the uninterrupted run and the chunk parts DIR holds)\n"
               "Commands:\n"
               "  %-10s %s\n", "all", all.c_str());
  for (const Benchmark& b : gBenchmarks) {
    if (!b.name.empty()) std::fprintf(stderr, "  %-10s %s\n", b.name.c_str(), b.help.c_str());
  }
  std::exit(2);
}

std::vector<std::string> splitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::vector<int> parseInts(const std::string& s, const std::string& what) {
  std::vector<int> out;
  for (const std::string& p : splitComma(s)) {
    try {
      out.push_back(std::stoi(p));
    } catch (const std::exception&) {
      usage(what + ": '" + p + "' is not a whole number");
    }
  }
  return out;
}

std::string sharedDir() {
  if (!gOpt.shared.empty()) return gOpt.shared;
  if (const char* env = std::getenv("FLOWSTYLE_SHARED")) return env;
  return (fs::path(FLOWSTYLE_SOURCE_DIR) / ".." / "shared").lexically_normal().string();
}

std::string sharedPath(const std::string& rel) {
  const std::string p = (fs::path(sharedDir()) / rel).string();
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    throw std::runtime_error(p + ": not found (set FLOWSTYLE_SHARED or --shared to the shared folder)");
  }
  return p;
}

std::string vggPath() { return sharedPath("models/vgg19-caffe-conv1_1-conv5_1.safetensors"); }
std::string squeezePath() { return sharedPath("models/squeezenet1_1-caffe-trunk.safetensors"); }
std::string netPath(const std::string& net) {
  if (net == "vgg19") return vggPath();
  if (net == "squeezenet") return squeezePath();
  throw std::runtime_error("--nets: unknown network '" + net + "' (valid: vgg19, squeezenet)");
}
std::string chaplinPath() { return sharedPath("media/clips/chaplin.mp4"); }
std::string stylePath(const std::string& name) { return sharedPath("media/styles/" + name); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string loadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---------------------------------------------------------------- JSON output

JsonLine::JsonLine(const std::string& bench) { add("bench", bench); }

JsonLine& JsonLine::add(const std::string& k, const std::string& v) {
  members_.emplace_back(k, v);
  return *this;
}

JsonLine& JsonLine::add(const std::string& k, double v) {
  members_.emplace_back(k, v);
  return *this;
}

void JsonLine::print() const {
  if (!gOpt.json) return;
  tools::Json line = tools::Json::object();
  for (const auto& [k, v] : members_) {
    if (const double* x = std::get_if<double>(&v)) line[k] = tools::printedAs("%.6g", *x);  // NaN, inf: null
    else line[k] = std::get<std::string>(v);
  }
  std::printf("%s\n", tools::jsonLine(line).c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------- child processes

namespace {

std::atomic<pid_t> gChild{0};
std::atomic<bool> gStop{false};

// SIGINT/SIGTERM: pass the signal to the running child; the parent then stops and
// removes its temporary folder.
extern "C" void onSignal(int sig) {
  gStop.store(true);
  const pid_t child = gChild.load();
  if (child > 0) kill(child, sig);
}

std::string readTail(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > n ? s.substr(s.size() - n) : s;
}

}  // namespace

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

ChildResult runChild(const std::vector<std::string>& argv) {
  static int counter = 0;
  const std::string errPath = gTmp + "/child-" + std::to_string(++counter) + ".stderr";
  int pipeFd[2];
  if (pipe(pipeFd) != 0) throw std::runtime_error("pipe() failed");
  std::fflush(stdout);
  std::fflush(stderr);
  const auto t0 = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork() failed");
  if (pid > 0) gChild = pid;
  if (pid == 0) {
    close(pipeFd[0]);
    dup2(pipeFd[1], STDOUT_FILENO);
    close(pipeFd[1]);
    FILE* err = std::fopen(errPath.c_str(), "w");
    if (err) dup2(fileno(err), STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(pipeFd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  for (;;) {
    n = read(pipeFd[0], buf, sizeof buf);
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
    else if (n < 0 && errno == EINTR) continue;
    else break;
  }
  close(pipeFd[0]);
  int status = 0;
  struct rusage ru {};
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  ChildResult r;
  r.wall = secondsSince(t0);
  r.maxRssMb = ru.ru_maxrss / 1024.0;  // KiB on Linux
  r.cpuSeconds = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  gChild = 0;
  if (gStop.load()) throw std::runtime_error("interrupted");
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line)) {
    if (line.size() < 2 || line[0] != '@') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(1, eq - 1), value = line.substr(eq + 1);
    r.text[key] = value;
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end && *end == '\0' && end != value.c_str()) r.values[key] = v;
  }
  r.stderrTail = readTail(errPath, 1500);  // the failure, or a summary a benchmark reads
  return r;
}

ChildResult runSelf(std::vector<std::string> args) {
  args.insert(args.begin(), {gSelf, "--threads", std::to_string(gOpt.threads), "--shared", sharedDir()});
  return runChild(args);
}

void reportFailure(const std::string& what, const ChildResult& r) {
  std::printf("  %s: FAILED (exit %d)\n", what.c_str(), r.exitCode);
  std::fprintf(stderr, "--- %s stderr (tail) ---\n%s\n", what.c_str(), r.stderrTail.c_str());
  JsonLine("error").add("what", what).add("exit", r.exitCode).print();
}

// In a child: one result value.
void emit(const std::string& key, double v) { std::printf("@%s=%.9g\n", key.c_str(), v); }

double ownPeakRssMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return NAN;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---------------------------------------------------------------- synthetic clips

std::string ffmpegClip(const std::string& source, int w, int h, double seconds, int fps) {
  const std::string name = source + "-" + std::to_string(w) + "x" + std::to_string(h) + "-" +
                           fmt("%g", seconds) + "s.mp4";
  const std::string path = gTmp + "/" + name;
  std::error_code ec;
  if (fs::exists(path, ec)) return path;
  const std::string lavfi = source + "=size=" + std::to_string(w) + "x" + std::to_string(h) +
                            ":rate=" + std::to_string(fps);
  ChildResult r = runChild({"/usr/bin/env", "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                            lavfi, "-t", fmt("%g", seconds), "-c:v", "libx264", "-preset", "ultrafast",
                            "-pix_fmt", "yuv420p", path});
  if (!r.ok()) throw std::runtime_error(path + ": ffmpeg failed: " + r.stderrTail);
  return path;
}

ChildResult rssFloor() {
  ChildResult r = runChild({"/bin/true"});
  return r;
}

void printHeader(const std::string& title) {
  std::printf("\n== %s  (load %s, threads %d)\n", title.c_str(), loadAvg().c_str(), gOpt.threads);
  std::fflush(stdout);
}

cv::Mat resizeLongSide(const cv::Mat& img, int longSide) {
  const double s = static_cast<double>(longSide) / std::max(img.cols, img.rows);
  cv::Mat out;
  cv::resize(img, out, cv::Size(std::max(1, static_cast<int>(std::lround(img.cols * s))),
                                std::max(1, static_cast<int>(std::lround(img.rows * s)))),
             0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

std::string chaplinFramePng() {
  const std::string path = gTmp + "/chaplin-frame0.png";
  if (!std::filesystem::exists(path)) {
    cv::Mat bgr;
    cv::cvtColor(readFrames(chaplinPath(), 1, 0).front(), bgr, cv::COLOR_RGB2BGR);
    cv::imwrite(path, bgr);
  }
  return path;
}

std::vector<cv::Mat> readFrames(const std::string& path, int count, int maxSide) {
  stages::ReaderConfig rc;
  rc.path = path;
  rc.selection.first = 0;
  rc.selection.last = count - 1;
  stages::VideoReader reader(rc);
  std::vector<cv::Mat> frames;
  while (auto f = reader.next()) {
    cv::Mat rgb = f->rgb;
    if (maxSide > 0 && std::max(rgb.cols, rgb.rows) > maxSide) rgb = resizeLongSide(rgb, maxSide);
    frames.push_back(rgb.clone());
  }
  if (frames.empty()) throw std::runtime_error(path + ": no frames decoded");
  return frames;
}

}  // namespace flowstyle::bench
