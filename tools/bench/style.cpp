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

// Child: _style NETPATH SIZE N [PRECISION]
int childStyle(const std::vector<std::string>& a) {
  if (a.size() != 3 && a.size() != 4) usage("_style NETPATH SIZE N [PRECISION]");
  const int size = std::stoi(a[1]), timed = std::stoi(a[2]);
  const models::Precision precision = models::parsePrecision(a.size() == 4 ? a[3] : "float32");
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
  cfg.precision = precision;
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
  // Convergence: the first iteration whose loss is within 2 % of the last one's (with
  // --iters 200, how many iterations a first frame needs).
  for (std::size_t i = 0; i < losses.size(); ++i) {
    if (losses[i] <= 1.02 * losses.back()) {
      emit("within_2pct_iter", static_cast<double>(i + 1));
      break;
    }
  }
  // Loss of one image without gradient: a forward-only reference for the per-iteration cost.
  std::vector<double> evalS;
  for (int k = 0; k < 3; ++k) {
    const auto te = Clock::now();
    opt.evaluate(content, res.image);
    evalS.push_back(secondsSince(te));
  }
  emit("eval_s", median(evalS));
  if (precision != models::Precision::Float32) {
    // What --precision auto decides here (its check at the start image), outside the timings.
    cfg.precision = models::Precision::Auto;
    models::StyleOptimizer autoOpt(net, cfg, {style});
    autoOpt.run(content, {}, {}, 1);
    emit("auto_bf16", autoOpt.precision().used == models::Precision::BFloat16 ? 1 : 0);
    emit("auto_loss_diff", autoOpt.precision().lossDiff);
    emit("auto_grad_diff", autoOpt.precision().gradDiff);
  }
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

void benchStyle() {
  printHeader("style: seconds per L-BFGS iteration (forward+backward), tubingen -> starry_night, float32 vs bfloat16 "
              "convolutions");
  std::vector<int> sizes = gOpt.sizes.empty() ? std::vector<int>{256, 512, 1024} : gOpt.sizes;
  std::vector<std::string> nets = gOpt.nets.empty() ? std::vector<std::string>{"vgg19", "squeezenet"} : gOpt.nets;
  std::printf("  %-11s %10s %9s %9s %9s %9s %9s %11s %8s %10s %10s\n", "net", "size", "format", "s/iter", "iter1 s",
              "timed", "fwd s", "loss", "speedup", "peak MB", "child s");
  for (const std::string& net : nets) {
    for (int size : sizes) {
      const int timed = gOpt.iterations > 0 ? gOpt.iterations : size <= 512 ? 5 : 3;
      double f32PerIter = NAN, f32Loss = NAN;
      for (const std::string precision : {"float32", "bfloat16"}) {
        ChildResult r = runSelf({"_style", netPath(net), std::to_string(size), std::to_string(timed), precision});
        if (!r.ok()) {
          reportFailure("style " + net + " " + std::to_string(size) + " " + precision, r);
          continue;
        }
        const bool f32 = precision == std::string("float32");
        if (f32) {
          f32PerIter = r.get("per_iter_s");
          f32Loss = r.get("loss");
        }
        const double speedup = f32PerIter / r.get("per_iter_s");
        const std::string dims = fmt("%.0f", r.get("width")) + "x" + fmt("%.0f", r.get("height"));
        std::printf("  %-11s %10s %9s %9.3f %9.2f %9.0f %9.3f %11.5f %8.2f %10.1f %10.1f\n", net.c_str(), dims.c_str(),
                    f32 ? "f32" : "bf16", r.get("per_iter_s"), r.get("first_s"), r.get("timed"), r.get("eval_s"),
                    r.get("loss"), speedup, r.maxRssMb, r.wall);
        if (!f32) {
          std::printf("  %-11s %10s %9s loss %+.2f %% of float32's; --precision auto: %s (start: loss %.1e, gradient %.1e "
                      "relative difference)\n", "", "", "", 100 * (r.get("loss") / f32Loss - 1),
                      r.get("auto_bf16") > 0 ? "bfloat16" : "float32", r.get("auto_loss_diff"), r.get("auto_grad_diff"));
        }
        JsonLine line("style");
        line.add("net", net).add("long_side", size).add("size", dims).add("precision", precision)
            .add("s_per_iter", r.get("per_iter_s")).add("first_iter_s", r.get("first_s"))
            .add("timed_iters", r.get("timed")).add("forward_only_s", r.get("eval_s")).add("loss", r.get("loss"))
            .add("speedup_vs_f32", speedup).add("within_2pct_iter", r.get("within_2pct_iter"))
            .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall).add("child_vmhwm_mb", r.get("vmhwm_mb")).add("threads", r.get("threads"));
        if (!f32) {
          line.add("loss_vs_f32", r.get("loss") / f32Loss).add("auto_precision", r.get("auto_bf16") > 0 ? "bfloat16" : "float32")
              .add("auto_loss_diff", r.get("auto_loss_diff")).add("auto_grad_diff", r.get("auto_grad_diff"));
        }
        line.add("load", loadAvg()).print();
      }
    }
  }
  std::printf("  (iter1 = first iteration incl. style targets and the initial evaluations; s/iter = mean of the\n"
              "   timed iterations after it (--iters N to change); tolerance 0; fwd s = one float32 loss evaluation\n"
              "   without gradient; loss = float32 loss of the result; bf16 = the loss network's convolutions in\n"
              "   bfloat16, loss terms, Gram matrices and L-BFGS in float32)\n");
}

}  // namespace

Benchmark styleBenchmark() {
  return {"style", "seconds per optimizer iteration, VGG19 / SqueezeNet [--sizes 256,512,1024] [--nets vgg19,squeezenet] [--iters N]", true, benchStyle, {{"_style", childStyle}}};
}

}  // namespace flowstyle::bench
