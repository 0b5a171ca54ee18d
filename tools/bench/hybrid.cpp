// flowstyle-bench hybrid: the optimizer started from the content against started from the fast network.
#include <cstdio>
#include <string>
#include <vector>
#include <memory>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/loss_network.hpp"
#include "models/style_transfer.hpp"
#include "pipeline/frame_stylizer.hpp"

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

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

}  // namespace

Benchmark hybridBenchmark() {
  return {"hybrid", "optimizer from content vs from the fast network (scream)", false, benchHybrid, {{"_hybrid_first", childHybridFirst}}};
}

}  // namespace flowstyle::bench
