// flowstyle-bench video: the optimize method on a few chaplin frames: first and later frame cost.
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

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

}  // namespace

Benchmark videoBenchmark() {
  return {"video", "optimize method on 3 chaplin frames [--sizes 320,640] [--nets vgg19,squeezenet]", false, benchVideo, {}};
}

}  // namespace flowstyle::bench
