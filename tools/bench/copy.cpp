// flowstyle-bench copy: copy-mode throughput and peak RSS of the flowstyle CLI on synthetic clips.
#include <cstdio>
#include <string>
#include <vector>
#include <filesystem>
#include <map>

#include "tools/bench/harness.hpp"

namespace fs = std::filesystem;

namespace flowstyle::bench {
namespace {

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

}  // namespace

Benchmark copyBenchmark() {
  return {"copy", "copy-mode throughput and peak RSS (synthetic clips)", true, benchCopy, {}};
}

}  // namespace flowstyle::bench
