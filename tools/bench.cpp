// flowstyle-bench: measures throughput, per-iteration cost, memory and temporal quality.
//
//   flowstyle-bench [--json] [--threads N] [--device D] [--shared DIR] [--keep] COMMAND [options]
//
// Commands: all (= copy, style, flow, fast, precision), copy, style, flow, fast, precision, video, temporal, hybrid.
// Every measurement whose peak memory matters runs in a child process (the flowstyle CLI
// next to this binary, or this binary with a hidden "_..." command); the parent reads the
// child's wall time and peak RSS (ru_maxrss) from wait4(). A forked child's ru_maxrss also
// counts the anonymous memory it inherited from this (small) parent before exec; the
// "rss floor" line reports that floor (a child that only execs /bin/true).
//
// Synthetic clips are generated with the ffmpeg CLI into a temporary folder (removed at the
// end unless --keep). Real inputs come from $FLOWSTYLE_SHARED (default <repo>/../shared),
// weights by explicit path (never the user cache).
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/loss_network.hpp"
#include "models/style_transfer.hpp"
#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/video_pipeline.hpp"
#include "stages/av_log.hpp"
#include "stages/flow.hpp"
#include "stages/video_reader.hpp"
#include "stages/warping_error.hpp"

#include "tools/process_env.hpp"

#ifndef FLOWSTYLE_SOURCE_DIR
#define FLOWSTYLE_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using namespace flowstyle;

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------- options

struct Options {
  bool json = false;
  bool keep = false;
  int threads = 0;
  std::string device = "auto";      // LibTorch device of the fast/precision benchmarks
  std::string shared;
  std::string command;
  std::vector<int> sizes;           // style / video / fast override
  std::vector<std::string> nets;    // vgg19, squeezenet
  std::vector<std::string> args;    // child arguments
};

Options gOpt;
std::string gSelf;   // this executable
std::string gTmp;    // scratch folder

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "flowstyle-bench: %s\n", why.c_str());
  std::fprintf(stderr,
               "Usage: flowstyle-bench [--json] [--threads N] [--device auto|cpu|cuda] [--shared DIR] [--keep] COMMAND [options]\n"
               "Commands:\n"
               "  all        copy, style, flow, fast and precision\n"
               "  copy       copy-mode throughput and peak RSS (synthetic clips)\n"
               "  style      seconds per optimizer iteration, VGG19 / SqueezeNet [--sizes 256,512,1024] [--nets vgg19,squeezenet]\n"
               "  flow       ms per frame pair (fwd + bwd + certainty) at 640x360 on chaplin\n"
               "  fast       fast network alone (per number format) vs the whole pipeline [--sizes 360,720]\n"
               "  precision  bfloat16 (float16 on CUDA) vs float32 outputs, nine ml5 styles at 640x360\n"
               "  video      optimize method on 3 chaplin frames [--sizes 320,640] [--nets vgg19,squeezenet]\n"
               "  temporal   warping error: default run vs frame-by-frame (10 frames, 256 px)\n"
               "  hybrid     optimizer from content vs from the fast network (scream)\n");
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

class JsonLine {
 public:
  explicit JsonLine(const std::string& bench) { add("bench", bench); }
  JsonLine& add(const std::string& k, const std::string& v) {
    std::string esc;
    for (char c : v) {
      if (c == '"' || c == '\\') esc += '\\';
      esc += c;
    }
    parts_.push_back("\"" + k + "\":\"" + esc + "\"");
    return *this;
  }
  JsonLine& add(const std::string& k, double v) {
    char buf[64];
    if (std::isfinite(v)) std::snprintf(buf, sizeof buf, "%.6g", v);
    else std::snprintf(buf, sizeof buf, "null");
    parts_.push_back("\"" + k + "\":" + buf);
    return *this;
  }
  void print() const {
    if (!gOpt.json) return;
    std::string s = "{";
    for (std::size_t i = 0; i < parts_.size(); ++i) s += (i ? "," : "") + parts_[i];
    std::printf("%s}\n", s.c_str());
    std::fflush(stdout);
  }

 private:
  std::vector<std::string> parts_;
};

// ---------------------------------------------------------------- child processes

std::atomic<pid_t> gChild{0};
std::atomic<bool> gStop{false};

// SIGINT/SIGTERM: pass the signal to the running child; the parent then stops and
// removes its temporary folder.
extern "C" void onSignal(int sig) {
  gStop.store(true);
  const pid_t child = gChild.load();
  if (child > 0) kill(child, sig);
}

struct ChildResult {
  int exitCode = -1;
  double wall = 0;
  double maxRssMb = 0;
  double cpuSeconds = 0;  // user + system of the child (and its reaped children)
  std::map<std::string, double> values;   // "@key=number" lines of the child's stdout
  std::map<std::string, std::string> text;  // every "@key=..." line as text
  std::string stderrTail;
  bool ok() const { return exitCode == 0; }
  double get(const std::string& k, double fallback = NAN) const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
};

std::string readTail(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// Runs argv (argv[0] a path) with stdout captured, stderr to a file; wall time and
// peak RSS from wait4().
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
  if (!r.ok()) r.stderrTail = readTail(errPath, 1500);
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

// ---------------------------------------------------------------- copy

void benchCopy() {
  printHeader("copy: flowstyle video --method copy (decode + x264 medium encode)");
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  std::error_code ec;
  if (!fs::exists(cli, ec)) throw std::runtime_error(cli + ": flowstyle CLI not found next to flowstyle-bench (build target flowstyle)");
  struct Case {
    int w, h;
    double seconds;
  };
  const std::vector<Case> cases = {{640, 360, 10}, {1920, 1080, 10}, {640, 360, 60}};
  std::printf("  %-10s %7s %7s %9s %9s %10s\n", "size", "clip s", "frames", "wall s", "fps", "peak MB");
  {
    ChildResult v = runChild({cli, "--version"});
    std::printf("  baseline: 'flowstyle --version' peak RSS %.1f MB (libraries loaded, nothing decoded)\n", v.maxRssMb);
    JsonLine("copy_baseline").add("peak_rss_mb", v.maxRssMb).print();
  }
  std::map<double, double> rss360;
  for (const Case& c : cases) {
    const std::string in = ffmpegClip("testsrc2", c.w, c.h, c.seconds, 25);
    const std::string out = gTmp + "/copy-out.mp4";
    ChildResult r = runChild({cli, "video", in, "-o", out, "--method", "copy", "--progress", "none"});
    const std::string size = std::to_string(c.w) + "x" + std::to_string(c.h);
    if (!r.ok()) {
      reportFailure("copy " + size, r);
      continue;
    }
    const double frames = c.seconds * 25;
    std::printf("  %-10s %7.0f %7.0f %9.2f %9.1f %10.1f\n", size.c_str(), c.seconds, frames, r.wall,
                frames / r.wall, r.maxRssMb);
    JsonLine("copy").add("size", size).add("clip_seconds", c.seconds).add("frames", frames)
        .add("wall_s", r.wall).add("fps", frames / r.wall).add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall)
        .add("load", loadAvg()).print();
    if (c.w == 640) rss360[c.seconds] = r.maxRssMb;
    fs::remove(out, ec);
  }
  if (rss360.count(10) && rss360.count(60)) {
    const double ratio = rss360[60] / rss360[10];
    std::printf("  peak RSS 60 s / 10 s at 640x360: %.3f (streaming: should be ~1)\n", ratio);
    JsonLine("copy_rss_ratio").add("ratio_60s_10s", ratio).print();
  }
}

// ---------------------------------------------------------------- style (per iteration)

cv::Mat resizeLongSide(const cv::Mat& img, int longSide) {
  const double s = static_cast<double>(longSide) / std::max(img.cols, img.rows);
  cv::Mat out;
  cv::resize(img, out, cv::Size(std::max(1, static_cast<int>(std::lround(img.cols * s))),
                                std::max(1, static_cast<int>(std::lround(img.rows * s)))),
             0, 0, s < 1 ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

// Child: _style NETPATH SIZE N
int childStyle(const std::vector<std::string>& a) {
  if (a.size() != 3) usage("_style NETPATH SIZE N");
  const int size = std::stoi(a[1]), timed = std::stoi(a[2]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  auto t0 = Clock::now();
  std::shared_ptr<models::LossNetwork> net = models::loadLossNetwork(a[0]);
  emit("load_s", secondsSince(t0));
  cv::Mat content = resizeLongSide(pipeline::loadRgbImage(sharedPath("media/stills/tubingen.jpg"), "content"), size);
  cv::Mat style = pipeline::loadRgbImage(stylePath("starry_night.jpg"), "style");
  models::OptimizeConfig cfg;
  cfg.tolerance = 0;
  cfg.device = "cpu";
  cfg.iterations = 1 + timed;
  models::StyleOptimizer opt(net, cfg, {style});
  std::vector<double> stamps;
  std::vector<double> losses;
  t0 = Clock::now();
  models::OptimizeResult res = opt.run(content, {}, {}, 0, [&](const models::OptimizeProgress& p) {
    stamps.push_back(secondsSince(t0));
    losses.push_back(p.loss.total);
  });
  emit("width", content.cols);
  emit("height", content.rows);
  emit("iterations", res.iterations);
  if (stamps.size() >= 2) {
    emit("first_s", stamps[0]);
    emit("per_iter_s", (stamps.back() - stamps[0]) / (stamps.size() - 1));
    emit("timed", static_cast<double>(stamps.size() - 1));
  }
  emit("loss", res.loss.total);
  // Loss of one image without gradient: a forward-only reference for the per-iteration cost.
  std::vector<double> evalS;
  for (int k = 0; k < 3; ++k) {
    const auto te = Clock::now();
    opt.evaluate(content, res.image);
    evalS.push_back(secondsSince(te));
  }
  emit("eval_s", median(evalS));
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

void benchStyle() {
  printHeader("style: seconds per L-BFGS iteration (forward+backward), tubingen -> starry_night");
  std::vector<int> sizes = gOpt.sizes.empty() ? std::vector<int>{256, 512, 1024} : gOpt.sizes;
  std::vector<std::string> nets = gOpt.nets.empty() ? std::vector<std::string>{"vgg19", "squeezenet"} : gOpt.nets;
  std::printf("  %-11s %10s %9s %9s %9s %9s %10s %10s\n", "net", "size", "s/iter", "iter1 s", "timed", "fwd s",
              "peak MB", "child s");
  for (const std::string& net : nets) {
    for (int size : sizes) {
      const int timed = size <= 512 ? 5 : 3;
      ChildResult r = runSelf({"_style", netPath(net), std::to_string(size), std::to_string(timed)});
      if (!r.ok()) {
        reportFailure("style " + net + " " + std::to_string(size), r);
        continue;
      }
      const std::string dims = fmt("%.0f", r.get("width")) + "x" + fmt("%.0f", r.get("height"));
      std::printf("  %-11s %10s %9.3f %9.2f %9.0f %9.3f %10.1f %10.1f\n", net.c_str(), dims.c_str(),
                  r.get("per_iter_s"), r.get("first_s"), r.get("timed"), r.get("eval_s"), r.maxRssMb, r.wall);
      JsonLine("style").add("net", net).add("long_side", size).add("size", dims)
          .add("s_per_iter", r.get("per_iter_s")).add("first_iter_s", r.get("first_s"))
          .add("timed_iters", r.get("timed")).add("forward_only_s", r.get("eval_s"))
          .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall).add("child_vmhwm_mb", r.get("vmhwm_mb")).add("threads", r.get("threads"))
          .add("load", loadAvg()).print();
    }
  }
  std::printf("  (iter1 = first iteration incl. style targets and the initial evaluations; s/iter = mean of the\n"
              "   timed iterations after it; tolerance 0; fwd s = one loss evaluation without gradient)\n");
}

// ---------------------------------------------------------------- flow

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

struct FlowCase {
  std::string id, name;
  stages::FlowMethod method;
  std::string preset;
};
const std::vector<FlowCase> kFlowCases = {{"dis_ultrafast", "dis ultrafast", stages::FlowMethod::Dis, "ultrafast"},
                                          {"dis_fast", "dis fast", stages::FlowMethod::Dis, "fast"},
                                          {"dis_medium", "dis medium", stages::FlowMethod::Dis, "medium"},
                                          {"farneback", "farneback", stages::FlowMethod::Farneback, "medium"},
                                          {"deepflow", "deepflow", stages::FlowMethod::DeepFlow, "medium"}};

// Child: _flow PAIRS — the pipeline's per-pair flow work, one estimator per method.
int childFlow(const std::vector<std::string>& a) {
  const int pairs = a.empty() ? 5 : std::stoi(a[0]);
  std::vector<cv::Mat> rgb = readFrames(chaplinPath(), pairs + 2, 0);
  std::vector<cv::Mat> gray;
  for (const cv::Mat& f : rgb) gray.push_back(stages::toGray(f));
  emit("width", gray[0].cols);
  emit("height", gray[0].rows);
  for (const FlowCase& c : kFlowCases) {
    stages::FlowConfig fc;
    fc.method = c.method;
    fc.disPreset = c.preset;
    stages::FlowEstimator est(fc);
    std::vector<double> ms;
    for (int i = 0; i <= pairs && i + 1 < static_cast<int>(gray.size()); ++i) {
      const cv::Mat& cur = gray[i + 1];
      const cv::Mat& earlier = gray[i];
      const auto t0 = Clock::now();
      cv::Mat fwd = est(cur, earlier);
      cv::Mat bwd = est(earlier, cur);
      cv::Mat cert = stages::certaintySoft(stages::certaintyHard(fwd, bwd));
      const double t = secondsSince(t0) * 1000;
      if (i > 0) ms.push_back(t);  // i == 0: warm-up
    }
    emit(c.id + "_median", median(ms));
    emit(c.id + "_min", *std::min_element(ms.begin(), ms.end()));
    emit(c.id + "_max", *std::max_element(ms.begin(), ms.end()));
    emit(c.id + "_pairs", static_cast<double>(ms.size()));
  }
  return 0;
}

void benchFlow() {
  printHeader("flow: ms per frame pair (forward + backward + soft certainty), chaplin");
  const int pairs = 5;
  ChildResult r = runSelf({"_flow", std::to_string(pairs)});
  if (!r.ok()) {
    reportFailure("flow", r);
    return;
  }
  const std::string dims = fmt("%.0f", r.get("width")) + "x" + fmt("%.0f", r.get("height"));
  std::printf("  %-14s %9s %9s %9s %7s   (%s, %d pairs after 1 warm-up pair; OpenCV threads default)\n", "method",
              "median ms", "min ms", "max ms", "pairs", dims.c_str(), pairs);
  for (const FlowCase& c : kFlowCases) {
    std::printf("  %-14s %9.1f %9.1f %9.1f %7.0f\n", c.name.c_str(), r.get(c.id + "_median"), r.get(c.id + "_min"),
                r.get(c.id + "_max"), r.get(c.id + "_pairs"));
    JsonLine("flow").add("method", c.name).add("size", dims).add("median_ms", r.get(c.id + "_median"))
        .add("min_ms", r.get(c.id + "_min")).add("max_ms", r.get(c.id + "_max"))
        .add("pairs", r.get(c.id + "_pairs")).add("load", loadAvg()).print();
  }
}

// ---------------------------------------------------------------- fast

// The network variants `fast` times: number format x memory layout. float16 only on CUDA.
struct NetVariant {
  std::string id;
  models::Precision precision;
  bool channelsLast;
};

std::vector<NetVariant> netVariants(const torch::Device& device) {
  std::vector<NetVariant> v = {{"f32", models::Precision::Float32, false},
                               {"f32cl", models::Precision::Float32, true},
                               {"bf16", models::Precision::BFloat16, false},
                               {"bf16cl", models::Precision::BFloat16, true}};
  if (device.is_cuda()) {
    v.push_back({"f16", models::Precision::Float16, false});
    v.push_back({"f16cl", models::Precision::Float16, true});
  }
  return v;
}

// Child: _fast CLIP FRAMES_NET
int childFast(const std::vector<std::string>& a) {
  if (a.size() != 2) usage("_fast CLIP NETFRAMES");
  const std::string clip = a[0];
  const int netFrames = std::stoi(a[1]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const torch::Device device = models::resolveDevice(gOpt.device);
  emit("cuda", device.is_cuda() ? 1 : 0);
  const std::string model = sharedPath("models/ml5/wave");
  std::vector<cv::Mat> frames = readFrames(clip, netFrames, 0);
  while (static_cast<int>(frames.size()) < netFrames) frames.push_back(frames.back().clone());
  auto timeNet = [&](models::FastStyleNetwork& net, int batch) {
    net(std::vector<cv::Mat>(frames.begin(), frames.begin() + batch));  // warm-up (and Auto's check)
    const auto t0 = Clock::now();
    for (int i = 0; i + batch <= netFrames; i += batch) {
      net(std::vector<cv::Mat>(frames.begin() + i, frames.begin() + i + batch));
    }
    return (netFrames / batch * batch) / secondsSince(t0);
  };
  for (const NetVariant& v : netVariants(device)) {
    models::FastNetworkOptions o;
    o.precision = v.precision;
    o.channelsLast = v.channelsLast;
    models::FastStyleNetwork net(model, gOpt.device, o);
    emit("net_fps_" + v.id, timeNet(net, 1));
  }
  {
    models::FastNetworkOptions o;
    o.precision = models::Precision::Auto;
    models::FastStyleNetwork net(model, gOpt.device, o);
    emit("net_fps_auto_b1", timeNet(net, 1));
    emit("net_fps_auto_b4", timeNet(net, 4));
    emit("auto_bf16", net.precision().used == models::Precision::BFloat16 ? 1 : 0);
    emit("auto_f16", net.precision().used == models::Precision::Float16 ? 1 : 0);
    emit("auto_rms", net.precision().rmsDiff);
  }
  pipeline::Config c;
  c.reader.path = clip;
  c.writer.path = gTmp + "/fast-out.mp4";
  c.method = pipeline::Method::Fast;
  c.fast.model = model;
  c.run.device = gOpt.device;
  c.run.threads = gOpt.threads;
  c.run.progress = pipeline::ProgressMode::None;
  pipeline::validate(c);
  auto stylizer = pipeline::makeStylizer(c, {});
  pipeline::JobStats st = pipeline::runVideo(c, *stylizer, {}, nullptr);
  emit("pipe_frames", static_cast<double>(st.framesWritten));
  emit("pipe_s", st.seconds);
  emit("pipe_fps", st.framesWritten / st.seconds);
  emit("pipe_network_s", st.networkSeconds);
  emit("pipe_stylize_s", st.stylizeSeconds);
  emit("pipe_flow_s", st.flowSeconds);
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

void benchFast() {
  printHeader("fast: ml5/wave network alone (frames/s by number format and layout) vs the whole pipeline "
              "(--precision auto, stabilization 0.8, batch 1, x264 medium), device " + gOpt.device);
  std::vector<int> heights = gOpt.sizes.empty() ? std::vector<int>{360, 720} : gOpt.sizes;
  std::printf("  %-9s %7s %7s %7s %7s %7s %7s %8s %8s %8s %7s %8s %8s\n", "size", "f32", "f32-cl", "bf16",
              "bf16-cl", "f16", "f16-cl", "auto", "auto b4", "pipe", "effic.", "peak MB", "auto is");
  for (int h : heights) {
    const int w = h * 16 / 9;
    const double clipSeconds = 24.0 / 25.0;
    const std::string clip = ffmpegClip("mandelbrot", w, h, clipSeconds, 25);
    const int netFrames = h <= 360 ? 8 : 4;
    ChildResult r = runSelf({"_fast", clip, std::to_string(netFrames)});
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    if (!r.ok()) {
      reportFailure("fast " + size, r);
      continue;
    }
    auto cell = [&](const std::string& key) {
      return r.values.count(key) ? fmt("%.2f", r.get(key)) : std::string("-");
    };
    const double autoB1 = r.get("net_fps_auto_b1"), autoB4 = r.get("net_fps_auto_b4"), pipe = r.get("pipe_fps");
    const double eff = pipe / autoB1;
    const std::string chosen = r.get("auto_f16") > 0 ? "float16" : r.get("auto_bf16") > 0 ? "bfloat16" : "float32";
    std::printf("  %-9s %7s %7s %7s %7s %7s %7s %8.2f %8.2f %8.2f %7.2f %8.1f %8s\n", size.c_str(),
                cell("net_fps_f32").c_str(), cell("net_fps_f32cl").c_str(), cell("net_fps_bf16").c_str(),
                cell("net_fps_bf16cl").c_str(), cell("net_fps_f16").c_str(), cell("net_fps_f16cl").c_str(), autoB1,
                autoB4, pipe, eff, r.maxRssMb, chosen.c_str());
    JsonLine line("fast");
    line.add("size", size).add("device", gOpt.device).add("cuda", r.get("cuda"));
    for (const char* k : {"f32", "f32cl", "bf16", "bf16cl", "f16", "f16cl"}) {
      const std::string key = std::string("net_fps_") + k;
      if (r.values.count(key)) line.add(key, r.get(key));
    }
    line.add("net_fps_auto_batch1", autoB1).add("net_fps_auto_batch4", autoB4).add("auto_precision", chosen)
        .add("auto_rms_vs_f32", r.get("auto_rms")).add("pipeline_fps", pipe)
        .add("efficiency", eff).add("pipeline_frames", r.get("pipe_frames")).add("pipeline_s", r.get("pipe_s"))
        .add("network_s", r.get("pipe_network_s")).add("flow_s", r.get("pipe_flow_s"))
        .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall)
        .add("threads", r.get("threads")).add("load", loadAvg()).print();
  }
  std::printf("  (frames/s, batch 1 unless noted; -cl = channels-last; auto = --precision auto after its first-batch\n"
              "   check; effic. = pipeline fps / auto network fps; f16 columns only on CUDA)\n");
}

// ---------------------------------------------------------------- precision

const std::vector<std::string> kStyleNets = {"la_muse", "mathura", "matilde_perez", "matta", "rain_princess",
                                             "scream",  "udnie",   "wave",          "wreck"};

struct DiffStats {
  double rms = 0, mean = 0, max = 0, over2 = 0;  // over2: fraction of values differing by more than 2
};

DiffStats diffStats(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  DiffStats s;
  double sq = 0, sum = 0, over = 0, n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    cv::Mat d;
    cv::absdiff(a[i], b[i], d);
    cv::Mat d64;
    d.reshape(1).convertTo(d64, CV_64F);
    sq += d64.dot(d64);
    sum += cv::sum(d64)[0];
    over += cv::countNonZero(d.reshape(1) > 2);
    n += static_cast<double>(d64.total());
    double mx = 0;
    cv::minMaxLoc(d64, nullptr, &mx);
    s.max = std::max(s.max, mx);
  }
  s.rms = std::sqrt(sq / n);
  s.mean = sum / n;
  s.over2 = over / n;
  return s;
}

// The float32 outputs through x264 (crf 18, yuv420p, the video default) and back: the
// error every video output carries anyway, for scale.
std::vector<cv::Mat> x264RoundTrip(const std::vector<cv::Mat>& frames) {
  const std::string path = gTmp + "/roundtrip-" + std::to_string(getpid()) + ".mp4";
  stages::VideoInfo info;
  info.path = "(frames)";
  info.width = frames.front().cols;
  info.height = frames.front().rows;
  info.timeBase = {1, 25};
  info.avgFrameRate = {25, 1};
  stages::WriterConfig wc;
  wc.path = path;
  wc.copyAudio = false;
  {
    stages::VideoWriter writer(wc, info);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      stages::Frame f;
      f.rgb = frames[i];
      f.index = static_cast<std::int64_t>(i);
      f.pts = static_cast<std::int64_t>(i);
      f.duration = 1;
      f.timeBase = info.timeBase;
      writer.write(f);
    }
    writer.finish();
  }
  std::vector<cv::Mat> back = readFrames(path, static_cast<int>(frames.size()), 0);
  std::error_code ec;
  fs::remove(path, ec);
  return back;
}

// Child: _precision FRAMES STYLE...
int childPrecision(const std::vector<std::string>& a) {
  if (a.size() < 2) usage("_precision FRAMES STYLE...");
  const int count = std::stoi(a[0]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const torch::Device device = models::resolveDevice(gOpt.device);
  std::vector<cv::Mat> frames;
  for (const cv::Mat& f : readFrames(chaplinPath(), count, 0)) {
    cv::Mat r;
    cv::resize(f, r, cv::Size(640, 360), 0, 0, cv::INTER_AREA);
    frames.push_back(r);
  }
  std::vector<std::pair<std::string, models::Precision>> formats = {{"bf16", models::Precision::BFloat16}};
  if (device.is_cuda()) formats.push_back({"f16", models::Precision::Float16});
  for (std::size_t s = 1; s < a.size(); ++s) {
    const std::string& style = a[s];
    models::FastNetworkOptions f32;
    models::FastStyleNetwork reference(sharedPath("models/ml5/" + style), gOpt.device, f32);
    const std::vector<cv::Mat> expected = reference(frames);
    for (const auto& [id, precision] : formats) {
      models::FastNetworkOptions o;
      o.precision = precision;
      models::FastStyleNetwork net(sharedPath("models/ml5/" + style), gOpt.device, o);
      const DiffStats d = diffStats(expected, net(frames));
      emit(style + "_" + id + "_rms", d.rms);
      emit(style + "_" + id + "_mean", d.mean);
      emit(style + "_" + id + "_max", d.max);
      emit(style + "_" + id + "_over2", d.over2);
    }
    const DiffStats x = diffStats(expected, x264RoundTrip(expected));
    emit(style + "_x264_rms", x.rms);
    emit(style + "_x264_max", x.max);
  }
  return 0;
}

void benchPrecision() {
  printHeader("precision: reduced formats vs float32, ml5 styles on 4 chaplin frames at 640x360 (device " +
              gOpt.device + ")");
  ChildResult r = runSelf([] {
    std::vector<std::string> args = {"_precision", "4"};
    args.insert(args.end(), kStyleNets.begin(), kStyleNets.end());
    return args;
  }());
  if (!r.ok()) {
    reportFailure("precision", r);
    return;
  }
  std::printf("  %-14s %9s %9s %9s %10s %9s %9s %12s\n", "style", "bf16 rms", "bf16 mean", "bf16 max", "bf16 >2",
              "f16 rms", "f16 max", "x264 rms");
  for (const std::string& style : kStyleNets) {
    auto cell = [&](const std::string& key, const char* f) {
      return r.values.count(style + "_" + key) ? fmt(f, r.get(style + "_" + key)) : std::string("-");
    };
    std::printf("  %-14s %9s %9s %9s %10s %9s %9s %12s\n", style.c_str(), cell("bf16_rms", "%.3f").c_str(),
                cell("bf16_mean", "%.3f").c_str(), cell("bf16_max", "%.0f").c_str(),
                cell("bf16_over2", "%.5f").c_str(), cell("f16_rms", "%.3f").c_str(), cell("f16_max", "%.0f").c_str(),
                cell("x264_rms", "%.3f").c_str());
    JsonLine line("precision");
    line.add("style", style).add("device", gOpt.device);
    for (const char* k : {"bf16_rms", "bf16_mean", "bf16_max", "bf16_over2", "f16_rms", "f16_mean", "f16_max",
                          "f16_over2", "x264_rms", "x264_max"}) {
      if (r.values.count(style + "_" + k)) line.add(k, r.get(style + "_" + k));
    }
    line.print();
  }
  std::printf("  (differences of the 8-bit outputs from float32's, on 0..255; >2 = fraction of values off by more\n"
              "   than 2; x264 rms = float32's output after x264 crf 18 yuv420p and back, for scale;\n"
              "   --precision auto keeps a reduced format when its rms on the first batch is <= 1.0)\n");
}

// ---------------------------------------------------------------- pipeline child

// Wraps a stylizer: times each stylize() call, records content and output for the
// warping error, and optionally turns every frame into an independent one.
class RecordingStylizer final : public pipeline::FrameStylizer {
 public:
  RecordingStylizer(pipeline::FrameStylizer& first, pipeline::FrameStylizer* later, bool frameByFrame)
      : first_(first), later_(later), frameByFrame_(frameByFrame) {}
  std::vector<cv::Mat> prepareBatch(const std::vector<cv::Mat>& contents) override {
    return first_.prepareBatch(contents);
  }
  int batchSize() const override { return first_.batchSize(); }
  std::vector<int> temporalOffsets() const override {
    return frameByFrame_ ? std::vector<int>{} : first_.temporalOffsets();
  }
  pipeline::StylizeOutcome stylize(const pipeline::StylizeRequest& request) override {
    pipeline::StylizeRequest r = request;
    pipeline::FrameStylizer* target = &first_;
    if (frameByFrame_) {
      r.guides.clear();
      r.init = cv::Mat();
      if (request.index > 0 && later_) target = later_;
    }
    const auto t0 = Clock::now();
    pipeline::StylizeOutcome out = target->stylize(r);
    seconds.push_back(secondsSince(t0));
    iterations.push_back(out.iterations);
    losses.push_back(out.loss);
    contents.push_back(request.content.clone());
    cv::Mat out8;
    out.image.convertTo(out8, CV_8UC3, 255.0);
    outputs.push_back(out8);
    return out;
  }
  std::vector<double> seconds;
  std::vector<int> iterations;
  std::vector<models::LossTerms> losses;
  std::vector<cv::Mat> contents, outputs;

 private:
  pipeline::FrameStylizer& first_;
  pipeline::FrameStylizer* later_;
  bool frameByFrame_;
};

// Child: _pipeline key=value...
//   method=optimize|hybrid  frames=N  max_side=S  net=PATH  style=PATH  model=PATH
//   first=N  iters=N  frame_by_frame=0|1  warp=0|1
int childPipeline(const std::vector<std::string>& a) {
  std::map<std::string, std::string> kv;
  for (const std::string& s : a) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) usage("_pipeline: expected key=value, got " + s);
    kv[s.substr(0, eq)] = s.substr(eq + 1);
  }
  auto get = [&](const std::string& k, const std::string& d) { return kv.count(k) ? kv[k] : d; };
  emit("threads", models::configureTorchThreads(gOpt.threads));
  pipeline::Config c;
  c.reader.path = get("input", chaplinPath());
  c.reader.selection.first = 0;
  c.reader.selection.last = std::stoi(get("frames", "3")) - 1;
  c.writer.path = gTmp + "/pipeline-" + std::to_string(getpid()) + ".mp4";
  c.writer.copyAudio = false;
  c.size.maxSide = std::stoi(get("max_side", "320"));
  c.method = pipeline::parseMethod(get("method", "optimize"));
  c.style.styles = {get("style", stylePath("starry_night.jpg"))};
  c.style.lossNet = get("net", vggPath());
  c.style.iterationsFirst = std::stoi(get("first", "150"));
  c.style.iterations = std::stoi(get("iters", "30"));
  if (kv.count("model")) c.fast.model = kv["model"];
  c.run.device = "cpu";
  c.run.threads = gOpt.threads;
  c.run.progress = pipeline::ProgressMode::None;
  pipeline::validate(c);
  const bool frameByFrame = get("frame_by_frame", "0") == "1";
  auto stylizer = pipeline::makeStylizer(c, {});
  std::unique_ptr<pipeline::FrameStylizer> later;
  if (frameByFrame) {
    // Frames after the first get the default run's later-frame budget, from the content.
    pipeline::Config c2 = c;
    c2.style.iterationsFirst = c.style.iterations;
    later = pipeline::makeStylizer(c2, {});
  }
  RecordingStylizer rec(*stylizer, later.get(), frameByFrame);
  pipeline::JobStats st = pipeline::runVideo(c, rec, {}, nullptr);
  const double n = static_cast<double>(st.framesWritten);
  emit("frames", n);
  emit("width", st.outputWidth);
  emit("height", st.outputHeight);
  emit("seconds", st.seconds);
  emit("stylize_s", st.stylizeSeconds);
  emit("flow_s", st.flowSeconds);
  emit("network_s", st.networkSeconds);
  emit("iterations", static_cast<double>(st.iterations));
  emit("efficiency", st.stylizeSeconds / st.seconds);
  emit("loss_total_mean", st.lossSum.total / n);
  emit("loss_style_mean", st.lossSum.style / n);
  emit("loss_content_mean", st.lossSum.content / n);
  emit("loss_temporal_mean", st.lossSum.temporal / n);
  if (!rec.seconds.empty()) {
    emit("first_frame_s", rec.seconds[0]);
    emit("first_frame_iters", rec.iterations[0]);
    double later_s = 0, laterIt = 0;
    for (std::size_t i = 1; i < rec.seconds.size(); ++i) {
      later_s += rec.seconds[i];
      laterIt += rec.iterations[i];
    }
    if (rec.seconds.size() > 1) {
      emit("later_frame_s", later_s / (rec.seconds.size() - 1));
      emit("later_frame_iters", laterIt / (rec.seconds.size() - 1));
    }
  }
  if (get("warp", "0") == "1") {
    stages::WarpingErrorMeter meter(stages::FlowConfig{});
    for (std::size_t i = 0; i < rec.contents.size(); ++i) meter.add(rec.contents[i], rec.outputs[i]);
    stages::WarpingErrorReport rep = meter.report();
    emit("warp_stylized", rep.meanStylized);
    emit("warp_original", rep.meanOriginal);
  }
  emit("vmhwm_mb", ownPeakRssMb());
  std::error_code ec;
  fs::remove(c.writer.path, ec);
  return 0;
}

// ---------------------------------------------------------------- video

void benchVideo() {
  printHeader("video: optimize method, first 3 chaplin frames, starry_night (150 first / 30 later, tol 1e-4)");
  std::vector<int> sizes = gOpt.sizes.empty() ? std::vector<int>{320, 640} : gOpt.sizes;
  std::vector<std::string> nets = gOpt.nets.empty() ? std::vector<std::string>{"vgg19", "squeezenet"} : gOpt.nets;
  std::printf("  %-11s %9s %9s %7s %9s %7s %9s %9s %9s\n", "net", "size", "first s", "iters", "later s", "iters",
              "total s", "effic.", "peak MB");
  for (int size : sizes) {
    for (const std::string& net : nets) {
      ChildResult r = runSelf({"_pipeline", "method=optimize", "frames=3", "max_side=" + std::to_string(size),
                               "net=" + netPath(net)});
      if (!r.ok()) {
        reportFailure("video " + net + " " + std::to_string(size), r);
        continue;
      }
      const std::string dims = fmt("%.0f", r.get("width")) + "x" + fmt("%.0f", r.get("height"));
      std::printf("  %-11s %9s %9.1f %7.0f %9.1f %7.1f %9.1f %9.3f %9.1f\n", net.c_str(), dims.c_str(),
                  r.get("first_frame_s"), r.get("first_frame_iters"), r.get("later_frame_s"),
                  r.get("later_frame_iters"), r.get("seconds"), r.get("efficiency"), r.maxRssMb);
      JsonLine("video").add("net", net).add("long_side", size).add("size", dims)
          .add("first_frame_s", r.get("first_frame_s")).add("first_frame_iters", r.get("first_frame_iters"))
          .add("later_frame_s", r.get("later_frame_s")).add("later_frame_iters", r.get("later_frame_iters"))
          .add("seconds", r.get("seconds")).add("efficiency", r.get("efficiency"))
          .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall).add("threads", r.get("threads")).add("load", loadAvg()).print();
    }
  }
  std::printf("  (first/later s = time in the stylize call per frame; effic. = stylizeSeconds / seconds)\n");
}

// ---------------------------------------------------------------- temporal

void benchTemporal() {
  printHeader("temporal: warping error, chaplin frames 0-9 at 256 px, VGG19, starry_night");
  std::printf("  frame-by-frame: no temporal term, no warm start; every frame from the content;\n"
              "  budgets equal to the default run's (frame 0: 150, later frames: 30, tolerance 1e-4)\n");
  std::printf("  %-16s %11s %11s %11s %11s %9s %9s\n", "run", "warp err", "floor", "ratio", "style loss",
              "total s", "peak MB");
  for (bool fbf : {false, true}) {
    ChildResult r = runSelf({"_pipeline", "method=optimize", "frames=10", "max_side=256", "net=" + vggPath(),
                             "warp=1", std::string("frame_by_frame=") + (fbf ? "1" : "0")});
    const std::string name = fbf ? "frame-by-frame" : "default";
    if (!r.ok()) {
      reportFailure("temporal " + name, r);
      continue;
    }
    const double e = r.get("warp_stylized"), floor = r.get("warp_original");
    std::printf("  %-16s %11.6f %11.6f %11.2f %11.5f %9.1f %9.1f\n", name.c_str(), e, floor, e / floor,
                r.get("loss_style_mean"), r.get("seconds"), r.maxRssMb);
    JsonLine("temporal").add("run", name).add("warping_error", e).add("warping_error_input", floor)
        .add("style_loss_mean", r.get("loss_style_mean")).add("total_loss_mean", r.get("loss_total_mean"))
        .add("iterations", r.get("iterations")).add("seconds", r.get("seconds"))
        .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall).add("load", loadAvg()).print();
  }
  std::printf("  (floor = the input's own warping error; style loss = mean over frames, normalized)\n");
}

// ---------------------------------------------------------------- hybrid

struct StopAt {};

// Child: _hybrid_first — part (a).
int childHybridFirst(const std::vector<std::string>& a) {
  const int budget = a.empty() ? 150 : std::stoi(a[0]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  cv::Mat content = resizeLongSide(readFrames(chaplinPath(), 1, 0)[0], 256);
  std::shared_ptr<models::LossNetwork> net = models::loadLossNetwork(vggPath());
  models::OptimizeConfig cfg;
  cfg.tolerance = 0;
  cfg.device = "cpu";
  cfg.iterations = budget;
  models::StyleOptimizer opt(net, cfg, {pipeline::loadRgbImage(stylePath("the_scream.jpg"), "style")});
  opt.evaluate(content, content);  // style targets for this size, outside the timings
  std::vector<double> t, loss;
  auto t0 = Clock::now();
  models::OptimizeResult fromContent = opt.run(content, {}, {}, budget, [&](const models::OptimizeProgress& p) {
    t.push_back(secondsSince(t0));
    loss.push_back(p.loss.total);
  });
  const double target = fromContent.loss.total;
  int reachIt = -1;
  double reachS = NAN;
  for (std::size_t i = 0; i < loss.size(); ++i) {
    if (loss[i] <= target) {
      reachIt = static_cast<int>(i) + 1;
      reachS = t[i];
      break;
    }
  }
  emit("content_iters", reachIt);
  emit("content_s", reachS);
  emit("content_run_iters", fromContent.iterations);
  emit("target_loss", target);
  auto t1 = Clock::now();
  models::FastStyleNetwork fastNet(sharedPath("models/ml5/scream"), "cpu");
  const double fastLoad = secondsSince(t1);
  t1 = Clock::now();
  cv::Mat painted = fastNet({content}).front();
  const double fastS = secondsSince(t1);
  emit("fast_load_s", fastLoad);
  emit("fast_s", fastS);
  emit("fast_loss", opt.evaluate(content, painted).total);
  cv::Mat init;
  painted.convertTo(init, CV_32FC3, 1.0 / 255.0);
  int hit = -1;
  double hitS = NAN, last = NAN;
  int done = 0;
  t0 = Clock::now();
  try {
    opt.run(content, init, {}, budget, [&](const models::OptimizeProgress& p) {
      done = p.iteration;
      last = p.loss.total;
      if (p.loss.total <= target) {
        hit = p.iteration;
        hitS = secondsSince(t0);
        throw StopAt{};
      }
    });
  } catch (const StopAt&) {
  }
  emit("hybrid_iters", hit);
  emit("hybrid_s", hitS);
  emit("hybrid_ran", done);
  emit("hybrid_last_loss", last);
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

void benchHybrid() {
  printHeader("hybrid: chaplin at 256 px, VGG19, style the_scream.jpg, fast net ml5/scream");
  {
    ChildResult r = runSelf({"_hybrid_first", "150"});
    if (!r.ok()) {
      reportFailure("hybrid first frame", r);
    } else {
      std::printf("  (a) first frame: loss after 150 iterations from the content = %.5f (tolerance 0)\n",
                  r.get("target_loss"));
      std::printf("      fast network output alone: loss %.5f (%.2f s net, %.2f s load)\n", r.get("fast_loss"),
                  r.get("fast_s"), r.get("fast_load_s"));
      std::printf("      %-22s %9s %9s\n", "start", "iters", "seconds");
      std::printf("      %-22s %9.0f %9.1f\n", "content", r.get("content_iters"), r.get("content_s"));
      if (r.get("hybrid_iters") > 0) {
        std::printf("      %-22s %9.0f %9.1f  (+ %.2f s network)\n", "fast network output", r.get("hybrid_iters"),
                    r.get("hybrid_s"), r.get("fast_s"));
      } else {
        std::printf("      %-22s not reached in %.0f iterations (loss %.5f)\n", "fast network output",
                    r.get("hybrid_ran"), r.get("hybrid_last_loss"));
      }
      JsonLine("hybrid_first").add("target_loss", r.get("target_loss")).add("content_iters", r.get("content_iters"))
          .add("content_s", r.get("content_s")).add("fast_loss", r.get("fast_loss")).add("fast_s", r.get("fast_s"))
          .add("hybrid_iters", r.get("hybrid_iters")).add("hybrid_s", r.get("hybrid_s"))
          .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall).add("load", loadAvg()).print();
    }
  }
  std::printf("  (b) first 6 frames, defaults (optimize 150/30, hybrid 50/10; tolerance 1e-4)\n");
  std::printf("      %-10s %9s %9s %9s %9s %11s %9s %9s\n", "method", "s/frame", "first s", "later s", "iters",
              "mean loss", "warp err", "floor");
  const std::string model = sharedPath("models/ml5/scream");
  for (const std::string method : {"optimize", "hybrid"}) {
    const bool hybrid = method == "hybrid";
    ChildResult r = runSelf({"_pipeline", "method=" + method, "frames=6", "max_side=256", "net=" + vggPath(),
                             "style=" + stylePath("the_scream.jpg"), "model=" + model, "warp=1",
                             hybrid ? "first=50" : "first=150", hybrid ? "iters=10" : "iters=30"});
    if (!r.ok()) {
      reportFailure("hybrid clip " + method, r);
      continue;
    }
    const double spf = r.get("seconds") / r.get("frames");
    std::printf("      %-10s %9.1f %9.1f %9.1f %9.0f %11.5f %9.6f %9.6f\n", method.c_str(), spf,
                r.get("first_frame_s"), r.get("later_frame_s"), r.get("iterations"), r.get("loss_total_mean"),
                r.get("warp_stylized"), r.get("warp_original"));
    JsonLine("hybrid_clip").add("method", method).add("s_per_frame", spf).add("first_frame_s", r.get("first_frame_s"))
        .add("later_frame_s", r.get("later_frame_s")).add("iterations", r.get("iterations"))
        .add("loss_total_mean", r.get("loss_total_mean")).add("warping_error", r.get("warp_stylized"))
        .add("warping_error_input", r.get("warp_original")).add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall)
        .add("load", loadAvg()).print();
  }
  std::printf("      (mean loss = JobStats.lossSum.total / frames, includes the temporal term)\n");
}

// ---------------------------------------------------------------- main

std::string selfPath() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("/proc/self/exe: cannot resolve the benchmark's own path");
  return p.string();
}

}  // namespace

int main(int argc, char** argv) {
  // Same OpenMP wait policy as the flowstyle CLI, inherited by every child it measures.
  flowstyle::tools::ensurePassiveOpenMpWait(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= args.size()) usage(a + " needs a value");
      return args[++i];
    };
    if (a == "--json") gOpt.json = true;
    else if (a == "--keep") gOpt.keep = true;
    else if (a == "--threads") gOpt.threads = parseInts(next(), "--threads").at(0);
    else if (a == "--shared") gOpt.shared = next();
    else if (a == "--device") gOpt.device = next();
    else if (a == "--sizes") gOpt.sizes = parseInts(next(), "--sizes");
    else if (a == "--nets") gOpt.nets = splitComma(next());
    else if (a == "-h" || a == "--help") usage("");
    else if (gOpt.command.empty()) gOpt.command = a;
    else if (!a.empty() && a[0] == '_') usage("unexpected " + a);
    else if (gOpt.command[0] == '_') gOpt.args.push_back(a);
    else usage("unexpected argument '" + a + "'");
  }
  if (gOpt.command.empty()) usage("missing COMMAND");
  try {
    stages::setLibavLogLevel(stages::LibavLog::Errors);
    gSelf = selfPath();
    const bool child = gOpt.command[0] == '_';
    if (child) {
      gTmp = fs::temp_directory_path().string();
      if (const char* t = std::getenv("FLOWSTYLE_BENCH_TMP")) gTmp = t;
      if (gOpt.command == "_style") return childStyle(gOpt.args);
      if (gOpt.command == "_fast") return childFast(gOpt.args);
      if (gOpt.command == "_precision") return childPrecision(gOpt.args);
      if (gOpt.command == "_flow") return childFlow(gOpt.args);
      if (gOpt.command == "_pipeline") return childPipeline(gOpt.args);
      if (gOpt.command == "_hybrid_first") return childHybridFirst(gOpt.args);
      usage("unknown command " + gOpt.command);
    }
    std::string tmpl = (fs::temp_directory_path() / "flowstyle-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error(tmpl + ": cannot create a temporary folder");
    gTmp = tmpl;
    setenv("FLOWSTYLE_BENCH_TMP", gTmp.c_str(), 1);
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    const std::string& cmd = gOpt.command;
    std::printf("flowstyle-bench %s: shared %s, %ld cores online, load %s\n", cmd.c_str(), sharedDir().c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), loadAvg().c_str());
    ChildResult floor = rssFloor();
    std::printf("rss floor (a forked child that only execs /bin/true): %.1f MB\n", floor.maxRssMb);
    JsonLine("rss_floor").add("peak_rss_mb", floor.maxRssMb).print();
    const auto t0 = Clock::now();
    bool known = true;
    if (cmd == "all") {
      benchCopy();
      benchStyle();
      benchFlow();
      benchFast();
      benchPrecision();
    } else if (cmd == "copy") benchCopy();
    else if (cmd == "style") benchStyle();
    else if (cmd == "flow") benchFlow();
    else if (cmd == "fast") benchFast();
    else if (cmd == "precision") benchPrecision();
    else if (cmd == "video") benchVideo();
    else if (cmd == "temporal") benchTemporal();
    else if (cmd == "hybrid") benchHybrid();
    else known = false;
    if (!gOpt.keep) {
      std::error_code ec;
      fs::remove_all(gTmp, ec);
    } else {
      std::printf("kept %s\n", gTmp.c_str());
    }
    if (!known) usage("unknown command '" + cmd + "'");
    std::printf("\ndone in %.1f s (load %s)\n", secondsSince(t0), loadAvg().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowstyle-bench: %s\n", e.what());
    if (!gTmp.empty() && gOpt.command[0] != '_' && !gOpt.keep) {
      std::error_code ec;
      fs::remove_all(gTmp, ec);
    }
    return 1;
  }
}
