// flowstyle-bench tiles: the fast network at 3840x2160 whole and in tiles, through the real
// CLI. A 4K picture (tubingen cropped to 16:9 and scaled up, made once per run) is stylized
// by `flowstyle image --method fast --model <ml5 wave> --precision float32` twice: without a
// limit (whole frames) and under `--max-memory 2G` (the memory check chooses the tiles).
// Prints each run's wall time, peak RSS (the child's ru_maxrss), the estimate and the
// tiling it reported, and the RMS / largest difference between the two pictures (0..255).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 3840, kHeight = 2160;
const char* const kLimit = "2G";

std::string picture4k() {
  const std::string path = gTmp + "/tubingen_3840x2160.png";
  if (fs::exists(path)) return path;
  const cv::Mat src = cv::imread(sharedPath("media/stills/tubingen.jpg"), cv::IMREAD_COLOR);
  if (src.empty()) throw std::runtime_error("tubingen.jpg: cannot read");
  const int h = src.cols * 9 / 16;  // 16:9 from the middle
  cv::Mat crop = src(cv::Rect(0, (src.rows - h) / 2, src.cols, h)), big;
  cv::resize(crop, big, cv::Size(kWidth, kHeight), 0, 0, cv::INTER_CUBIC);
  if (!cv::imwrite(path, big)) throw std::runtime_error(path + ": cannot write");
  return path;
}

// What the run's --verbose summary says: the estimate ("memory: estimated 1.23 GiB at ...")
// and the tiling ("tiled: 4x3 tiles of 1024 px, halo 16").
std::string find(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : std::string("-");
}

void benchTiles() {
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  const std::string in = picture4k(), model = sharedPath("models/ml5/wave");
  printHeader("tiles: flowstyle image --method fast --model wave --precision float32 at " + std::to_string(kWidth) +
              "x" + std::to_string(kHeight) + ", whole (no limit) vs --max-memory " + kLimit +
              " (tiled by the memory check), " + std::to_string(gOpt.threads) + " threads");
  struct Run {
    std::string name, out;
    std::vector<std::string> extra;
    ChildResult r;
  };
  std::vector<Run> runs = {{"whole", gTmp + "/tiles-whole.png", {"--tile", "0"}, {}},
                           {"tiled", gTmp + "/tiles-tiled.png", {"--max-memory", kLimit}, {}}};
  std::printf("  %-6s %11s %8s %10s %12s  %s\n", "run", "size", "wall s", "peak MB", "estimate", "tiling");
  for (Run& run : runs) {
    std::vector<std::string> argv = {cli,         "image",     in,      "--method", "fast", "--model", model,
                                     "--precision", "float32", "--threads", std::to_string(gOpt.threads),
                                     "--verbose", "-o",        run.out};
    argv.insert(argv.end(), run.extra.begin(), run.extra.end());
    run.r = runChild(argv);
    if (!run.r.ok()) {
      reportFailure(run.name, run.r);
      return;
    }
    const cv::Mat img = cv::imread(run.out, cv::IMREAD_COLOR);
    const std::string estimate = find(run.r.stderrTail, R"(memory: estimated ([0-9.]+ [GM]iB))");
    const std::string tiling = find(run.r.stderrTail, R"(tiled: ([^;\n]+))");
    std::printf("  %-6s %5dx%-5d %8.1f %10.0f %12s  %s\n", run.name.c_str(), img.cols, img.rows, run.r.wall,
                run.r.maxRssMb, estimate.c_str(), tiling.c_str());
    JsonLine("tiles").add("run", run.name).add("width", img.cols).add("height", img.rows).add("wall_s", run.r.wall)
        .add("peak_rss_mb", run.r.maxRssMb).add("estimate", estimate).add("tiling", tiling).add("load", loadAvg())
        .print();
  }
  cv::Mat a = cv::imread(runs[0].out, cv::IMREAD_COLOR), b = cv::imread(runs[1].out, cv::IMREAD_COLOR);
  if (a.size() != b.size()) {
    std::printf("  sizes differ: %dx%d vs %dx%d\n", a.cols, a.rows, b.cols, b.rows);
    return;
  }
  cv::Mat fa, fb, d;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  d = fa - fb;
  const cv::Mat sq = d.mul(d), absd = cv::abs(d);
  const double rms = std::sqrt(cv::mean(sq.reshape(1))[0]);
  double maxAbs = 0;
  cv::minMaxLoc(absd.reshape(1), nullptr, &maxAbs);
  std::printf("  tiled vs whole: RMS %.4f, max %.0f (of 255); time tiled / whole %.2f; peak tiled / whole %.2f; "
              "load %s\n",
              rms, maxAbs, runs[1].r.wall / runs[0].r.wall, runs[1].r.maxRssMb / runs[0].r.maxRssMb,
              loadAvg().c_str());
  JsonLine("tiles_diff").add("rms", rms).add("max", maxAbs).add("load", loadAvg()).print();
  std::printf("  (wall = the child's whole run: start, weights, decode, network, PNG encode; peak = its ru_maxrss;\n"
              "   estimate = the memory check's, printed by --verbose)\n");
}

}  // namespace

Benchmark tilesBenchmark() {
  return {"tiles", "fast network at 3840x2160: whole vs tiled under --max-memory 2G (RMS, time, peak RSS, estimate)",
          false, benchTiles, {}};
}

}  // namespace flowstyle::bench
