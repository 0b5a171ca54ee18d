// flowstyle-bench temporal: warping error of the default optimize run against a frame-by-frame run.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

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

}  // namespace

Benchmark temporalBenchmark() {
  return {"temporal", "warping error: default run vs frame-by-frame (10 frames, 256 px)", false, benchTemporal, {}};
}

}  // namespace flowstyle::bench
