// flowstyle-bench video: the optimize method on a few chaplin frames: first and later frame cost.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

void benchVideo() {
  printHeader("video: optimize method, first 3 chaplin frames, starry_night (150 first / 30 later, tol 1e-4), "
              "float32 vs bfloat16 convolutions");
  std::vector<int> sizes = gOpt.sizes.empty() ? std::vector<int>{320, 640} : gOpt.sizes;
  std::vector<std::string> nets = gOpt.nets.empty() ? std::vector<std::string>{"vgg19", "squeezenet"} : gOpt.nets;
  std::printf("  %-11s %9s %6s %9s %7s %9s %7s %9s %9s %10s %9s\n", "net", "size", "format", "first s", "iters",
              "later s", "iters", "total s", "effic.", "warp err", "peak MB");
  for (int size : sizes) {
    for (const std::string& net : nets) {
      double f32Later = NAN, f32Warp = NAN;
      for (const std::string precision : {"float32", "bfloat16"}) {
        ChildResult r = runSelf({"_pipeline", "method=optimize", "frames=3", "max_side=" + std::to_string(size),
                                 "net=" + netPath(net), "precision=" + precision, "warp=1"});
        if (!r.ok()) {
          reportFailure("video " + net + " " + std::to_string(size) + " " + precision, r);
          continue;
        }
        const bool f32 = precision == std::string("float32");
        if (f32) {
          f32Later = r.get("later_frame_s");
          f32Warp = r.get("warp_stylized");
        }
        const std::string dims = fmt("%.0f", r.get("width")) + "x" + fmt("%.0f", r.get("height"));
        std::printf("  %-11s %9s %6s %9.1f %7.0f %9.1f %7.1f %9.1f %9.3f %10.6f %9.1f\n", net.c_str(), dims.c_str(),
                    f32 ? "f32" : "bf16", r.get("first_frame_s"), r.get("first_frame_iters"), r.get("later_frame_s"),
                    r.get("later_frame_iters"), r.get("seconds"), r.get("efficiency"), r.get("warp_stylized"),
                    r.maxRssMb);
        if (!f32) {
          std::printf("  %-11s %9s %6s later frames %.2fx faster than float32, warping error %+.1f %%\n", "", "", "",
                      f32Later / r.get("later_frame_s"), 100 * (r.get("warp_stylized") / f32Warp - 1));
        }
        JsonLine("video").add("net", net).add("long_side", size).add("size", dims).add("precision", precision)
            .add("first_frame_s", r.get("first_frame_s")).add("first_frame_iters", r.get("first_frame_iters"))
            .add("later_frame_s", r.get("later_frame_s")).add("later_frame_iters", r.get("later_frame_iters"))
            .add("seconds", r.get("seconds")).add("efficiency", r.get("efficiency"))
            .add("warping_error", r.get("warp_stylized")).add("later_speedup_vs_f32", f32Later / r.get("later_frame_s"))
            .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall)
            .add("threads", r.get("threads")).add("load", loadAvg()).print();
      }
    }
  }
  std::printf("  (first/later s = time in the stylize call per frame; effic. = stylizeSeconds / seconds; warp err =\n"
              "   warping error of the 3 output frames; bf16 = --precision bfloat16 for the loss network)\n");
}

}  // namespace

Benchmark videoBenchmark() {
  return {"video", "optimize method on 3 chaplin frames [--sizes 320,640] [--nets vgg19,squeezenet]", false, benchVideo, {}};
}

}  // namespace flowstyle::bench
