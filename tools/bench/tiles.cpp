// flowstyle-bench tiles: the fast network at 3840x2160 whole and in tiles, through the real
// CLI; flowstyle-bench tiles-optimize: the optimizer at 1536 px whole and in 2x2 tiles. A 4K picture (tubingen cropped to 16:9 and scaled up, made once per run) is stylized
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

// The summary line of `flowstyle image`: "out.png: 1536x1152, 10 iterations, 61.2 s, loss
// 3.59 (content 1.2, style 0.41, tv 0.3)".
struct Losses {
  double total = NAN, content = NAN, style = NAN;
};
Losses lossesOf(const std::string& text) {
  std::smatch m;
  Losses l;
  if (std::regex_search(text, m, std::regex(R"(loss ([0-9.e+-]+) \(content ([0-9.e+-]+), style ([0-9.e+-]+))"))) {
    l.total = std::stod(m[1].str());
    l.content = std::stod(m[2].str());
    l.style = std::stod(m[3].str());
  }
  return l;
}

// Issue 24's optimize goals where both fit: the default optimizer (its automatic number
// format, --iters iterations, default 10) on tubingen at --sizes px long side (default 1536),
// whole (--tile 0) and in tiles of half the long side (--tile: at least 2x2 tiles). Prints
// each run's wall time, peak RSS, estimate and losses, then the losses' relative difference,
// the time ratio and the seams: the mean |tiled - whole| (0..255) in the 8-px bands along
// every inner tile border against the same mean everywhere else.
void benchTilesOptimize() {
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  const int side = gOpt.sizes.empty() ? 1536 : gOpt.sizes.front();
  const int iterations = gOpt.iterations > 0 ? gOpt.iterations : 10;
  const int tile = side / 2 / 16 * 16;
  // tubingen.jpg is 1024x768 and `image` does not enlarge: scaled up to the side asked for.
  const std::string content = gTmp + "/tubingen_" + std::to_string(side) + ".png";
  if (!fs::exists(content)) {
    const cv::Mat src = cv::imread(sharedPath("media/stills/tubingen.jpg"), cv::IMREAD_COLOR);
    if (src.empty()) throw std::runtime_error("tubingen.jpg: cannot read");
    cv::Mat big;
    cv::resize(src, big, cv::Size(side, side * src.rows / src.cols), 0, 0, cv::INTER_CUBIC);
    if (!cv::imwrite(content, big)) throw std::runtime_error(content + ": cannot write");
  }
  const std::string style = sharedPath("media/styles/starry_night.jpg");
  printHeader("tiles-optimize: flowstyle image tubingen.jpg (scaled to " + std::to_string(side) +
              " px) --style starry_night.jpg --max-side " + std::to_string(side) +
              " --iterations " + std::to_string(iterations) + ", --tile 0 vs --tile " + std::to_string(tile) + ", " +
              std::to_string(gOpt.threads) + " threads");
  struct Run {
    std::string name, out, tile;
    ChildResult r;
    Losses losses;
  };
  std::vector<Run> runs = {{"whole", gTmp + "/opt-whole.png", "0", {}, {}},
                           {"tiled", gTmp + "/opt-tiled.png", std::to_string(tile), {}, {}}};
  std::printf("  %-6s %11s %8s %10s %12s %9s %9s %9s  %s\n", "run", "size", "wall s", "peak MB", "estimate", "loss",
              "content", "style", "tiling");
  for (Run& run : runs) {
    const std::vector<std::string> argv = {cli, "image", content, "--style", style, "--max-side", std::to_string(side),
                                           "--iterations", std::to_string(iterations), "--threads",
                                           std::to_string(gOpt.threads), "--tile", run.tile, "--verbose", "-o", run.out};
    run.r = runChild(argv);
    if (!run.r.ok()) {
      reportFailure(run.name, run.r);
      return;
    }
    run.losses = lossesOf(run.r.stderrTail);
    const cv::Mat img = cv::imread(run.out, cv::IMREAD_COLOR);
    const std::string estimate = find(run.r.stderrTail, R"(memory: estimated ([0-9.]+ [GM]iB))");
    const std::string tiling = find(run.r.stderrTail, R"(tiled: ([^;\n]+))");
    std::printf("  %-6s %5dx%-5d %8.1f %10.0f %12s %9.4g %9.4g %9.4g  %s\n", run.name.c_str(), img.cols, img.rows,
                run.r.wall, run.r.maxRssMb, estimate.c_str(), run.losses.total, run.losses.content, run.losses.style,
                tiling.c_str());
    JsonLine("tiles_optimize").add("run", run.name).add("width", img.cols).add("height", img.rows)
        .add("iterations", iterations).add("wall_s", run.r.wall).add("peak_rss_mb", run.r.maxRssMb)
        .add("estimate", estimate).add("tiling", tiling).add("loss", run.losses.total)
        .add("content", run.losses.content).add("style", run.losses.style).add("load", loadAvg()).print();
  }
  const cv::Mat a = cv::imread(runs[0].out, cv::IMREAD_COLOR), b = cv::imread(runs[1].out, cv::IMREAD_COLOR);
  if (a.size() != b.size()) {
    std::printf("  sizes differ: %dx%d vs %dx%d\n", a.cols, a.rows, b.cols, b.rows);
    return;
  }
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  cv::Mat band(a.size(), CV_8U, cv::Scalar(0));  // 8 px wide along every inner tile border
  for (int x = tile; x < a.cols; x += tile) band(cv::Rect(x - 4, 0, 8, a.rows)).setTo(255);
  for (int y = tile; y < a.rows; y += tile) band(cv::Rect(0, y - 4, a.cols, 8)).setTo(255);
  cv::Mat interior;
  cv::bitwise_not(band, interior);
  const cv::Scalar inBand = cv::mean(diff, band), inInterior = cv::mean(diff, interior);
  const double bandMean = (inBand[0] + inBand[1] + inBand[2]) / 3,
               interiorMean = (inInterior[0] + inInterior[1] + inInterior[2]) / 3;
  const double seam = interiorMean > 0 ? bandMean / interiorMean : (bandMean > 0 ? INFINITY : 1.0);
  auto rel = [](double t, double w) { return 100.0 * (t - w) / w; };
  const Losses& w = runs[0].losses;
  const Losses& t = runs[1].losses;
  std::printf("  tiled vs whole: loss %+.2f %%, content %+.2f %%, style %+.2f %% (goal within 3 %%); seam bands %.3f vs "
              "interior %.3f of 255: ratio %.2f (goal <= 1.25); time %.2fx (goal <= 1.3); peak %.2fx; load %s\n",
              rel(t.total, w.total), rel(t.content, w.content), rel(t.style, w.style), bandMean, interiorMean, seam,
              runs[1].r.wall / runs[0].r.wall, runs[1].r.maxRssMb / runs[0].r.maxRssMb, loadAvg().c_str());
  JsonLine("tiles_optimize_diff").add("loss_pct", rel(t.total, w.total)).add("content_pct", rel(t.content, w.content))
      .add("style_pct", rel(t.style, w.style)).add("seam_band", bandMean).add("seam_interior", interiorMean)
      .add("seam_ratio", seam).add("time_ratio", runs[1].r.wall / runs[0].r.wall)
      .add("peak_ratio", runs[1].r.maxRssMb / runs[0].r.maxRssMb).add("load", loadAvg()).print();
}

}  // namespace

Benchmark tilesOptimizeBenchmark() {
  return {"tiles-optimize",
          "optimizer at 1536 px (--sizes), --iters 10: whole vs 2x2 tiles (losses, seam bands, time, peak RSS)", false,
          benchTilesOptimize, {}};
}

Benchmark tilesBenchmark() {
  return {"tiles", "fast network at 3840x2160: whole vs tiled under --max-memory 2G (RMS, time, peak RSS, estimate)",
          false, benchTiles, {}};
}

}  // namespace flowstyle::bench
