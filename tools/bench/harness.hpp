#pragma once
// flowstyle-bench's shared harness: options, the child-process runner (wall time and peak
// RSS from wait4), load average, "@key=value" results of children, JSON lines, inputs.
//
// A benchmark is a file tools/bench/<name>.cpp that defines `Benchmark <name>Benchmark()`
// (see Benchmark below) and is registered by one line in tools/bench/main.cpp.
//
// Every measurement whose peak memory matters runs in a child process (the flowstyle CLI
// next to this binary, or this binary with a hidden "_..." command); the parent reads the
// child's wall time and peak RSS (ru_maxrss) from wait4(). A forked child's ru_maxrss also
// counts the anonymous memory it inherited from this (small) parent before exec; the
// "rss floor" line reports that floor (a child that only execs /bin/true).
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <opencv2/core.hpp>

namespace flowstyle::bench {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0);

// ---------------------------------------------------------------- registry

// One benchmark: a public command (run in the parent) and the hidden child commands
// ("_name") it starts through runSelf(). A benchmark with an empty name only provides
// children to others.
struct Benchmark {
  using Child = std::function<int(const std::vector<std::string>& args)>;
  std::string name;   // command name, e.g. "fast"
  std::string help;   // one line of --help, after the name
  bool inAll = false; // part of "all"
  std::function<void()> run;
  std::vector<std::pair<std::string, Child>> children;  // "_fast" -> childFast
};

// The registered benchmarks, in --help order (set by main).
const std::vector<Benchmark>& benchmarks();
void setBenchmarks(std::vector<Benchmark> all);

// ---------------------------------------------------------------- options

struct Options {
  bool json = false;
  bool keep = false;
  std::string work;                 // --work DIR: the work folder (kept; farm reuses its parts)
  int threads = 0;
  std::string device = "auto";      // LibTorch device of the fast/precision benchmarks
  std::string shared;
  std::string command;
  std::vector<int> sizes;           // style / video / fast override
  std::vector<std::string> nets;    // vgg19, squeezenet
  std::vector<std::string> clips;   // farm --clips chaplin,gif,pan,chaplin240: which clips (empty: all but chaplin240)
  std::vector<int> prerolls;        // farm --prerolls 28,40: only the rows with these pre-rolls (empty: all)
  int iterations = 0;               // --iters: timed iterations of style (0 = its default)
  std::vector<std::string> args;    // child arguments
};

extern Options gOpt;
extern std::string gSelf;   // this executable
extern std::string gTmp;    // scratch folder

[[noreturn]] void usage(const std::string& why);
std::vector<std::string> splitComma(const std::string& s);
std::vector<int> parseInts(const std::string& s, const std::string& what);

// ---------------------------------------------------------------- inputs

std::string sharedDir();
std::string sharedPath(const std::string& rel);  // throws when missing
std::string vggPath();
std::string squeezePath();
std::string netPath(const std::string& net);     // vgg19 | squeezenet
std::string chaplinPath();
std::string stylePath(const std::string& name);

cv::Mat resizeLongSide(const cv::Mat& img, int longSide);
// The first `count` frames of a clip as RGB, resized to maxSide when it is > 0.
std::vector<cv::Mat> readFrames(const std::string& path, int count, int maxSide);
// Chaplin's frame 0 as a PNG in gTmp (for what reads pictures), made once per run.
std::string chaplinFramePng();
// A synthetic lavfi clip (x264 ultrafast) in gTmp, made once per name.
std::string ffmpegClip(const std::string& source, int w, int h, double seconds, int fps);

// ---------------------------------------------------------------- output

std::string fmt(const char* f, double v);
std::string loadAvg();
void printHeader(const std::string& title);

// One JSON object per line on stdout, only with --json: members in the order added, numbers
// with 6 significant digits (as %.6g), NaN and infinity as null (tools/json_output.hpp).
class JsonLine {
 public:
  explicit JsonLine(const std::string& bench);
  JsonLine& add(const std::string& k, const std::string& v);
  JsonLine& add(const std::string& k, double v);
  void print() const;

 private:
  std::vector<std::pair<std::string, std::variant<std::string, double>>> members_;
};

// ---------------------------------------------------------------- child processes

struct ChildResult {
  int exitCode = -1;
  double wall = 0;
  double maxRssMb = 0;
  double cpuSeconds = 0;  // user + system of the child (and its reaped children)
  std::map<std::string, double> values;   // "@key=number" lines of the child's stdout
  std::map<std::string, std::string> text;  // every "@key=..." line as text
  std::string stderrTail;  // the last 1500 characters of its stderr
  bool ok() const { return exitCode == 0; }
  double get(const std::string& k, double fallback = NAN) const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
};

// SIGINT/SIGTERM go to the running child; the parent then stops.
void installSignalHandlers();
// Runs argv (argv[0] a path) with stdout captured, stderr to a file; wall time and
// peak RSS from wait4().
ChildResult runChild(const std::vector<std::string>& argv);
// This executable with --threads/--shared and a hidden command: runSelf({"_fast", ...}).
ChildResult runSelf(std::vector<std::string> args);
ChildResult rssFloor();
void reportFailure(const std::string& what, const ChildResult& r);

// In a child: one result value.
void emit(const std::string& key, double v);
double ownPeakRssMb();
double median(std::vector<double> v);

}  // namespace flowstyle::bench
