// flowstyle-bench style: seconds per optimizer iteration (forward + backward) of the loss networks.
#include <cstdio>
#include <string>
#include <vector>

#include "models/device.hpp"
#include "models/loss_network.hpp"
#include "models/style_transfer.hpp"
#include "pipeline/frame_stylizer.hpp"

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

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

}  // namespace

Benchmark styleBenchmark() {
  return {"style", "seconds per optimizer iteration, VGG19 / SqueezeNet [--sizes 256,512,1024] [--nets vgg19,squeezenet]", true, benchStyle, {{"_style", childStyle}}};
}

}  // namespace flowstyle::bench
