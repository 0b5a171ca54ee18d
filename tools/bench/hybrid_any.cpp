// flowstyle-bench hybrid-any: `flowstyle image --method hybrid --style S` with no per-style
// model (the default arbitrary-style network paints the optimizer's head start) against
// today's `--method optimize` default, on the same pictures at 384 px: the loss over time of
// each, the time optimize takes to reach its final loss and the time hybrid takes to reach
// that same loss. Each method runs in a child of its own (runImage, the image command's
// job, configured as `flowstyle image` configures it), so its peak RSS is its own.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/device.hpp"
#include "models/model_store.hpp"
#include "pipeline/config.hpp"
#include "pipeline/jobs.hpp"
#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxSide = 384;
const char* const kStyle = "starry_night.jpg";

// The default arbitrary-style network imported from the shared folder once per run (as
// `flowstyle models install`).
std::string defaultNetwork() {
  const std::string name = pipeline::kDefaultArbitraryNetwork;
  const fs::path dir = fs::path(gTmp) / "hybrid-any-models";
  const fs::path file = dir / (name + ".safetensors");
  if (!fs::exists(file)) {
    fs::create_directories(dir);
    models::installModels({sharedPath("models/arbitrary/" + name)}, dir.string());
  }
  return file.string();
}

// What `flowstyle image CONTENT --style S --max-side 384 [--method hybrid]` configures
// (tools/options.cpp parseImage): --precision auto for the optimizer too, a still's budget
// the optimizer's cap (150; hybrid 50 unless `hybridCap` says otherwise).
pipeline::Config imageConfig(bool hybrid, const std::string& style, int hybridCap) {
  pipeline::Config c;
  c.method = hybrid ? pipeline::Method::Hybrid : pipeline::Method::Optimize;
  c.size.maxSide = kMaxSide;
  c.style.styles = {style};
  c.style.lossNet = vggPath();
  c.fast.precision = models::Precision::Auto;
  c.style.optimize.precision = models::Precision::Auto;
  c.run.threads = gOpt.threads;
  c.run.progress = pipeline::ProgressMode::None;
  pipeline::GivenOptions given;
  given.size = true;
  if (hybrid) {
    c.fast.model = defaultNetwork();
    c.style.optimize.iterations = hybridCap;
    given.iterations = true;
  }
  pipeline::applyMethodDefaults(c, pipeline::JobKind::Image, given);
  pipeline::validate(c);
  return c;
}

struct Reached {};

// Child: _hybrid_any METHOD CONTENT STYLE OUT [CAP [TARGET]] — one still, the loss after
// every iteration with its time since the job started (weights, style, painting included).
// Emits the trace as t<i>/l<i>. With TARGET it stops at the first iteration whose loss is at
// most TARGET (nothing written).
int childHybridAny(const std::vector<std::string>& a) {
  if (a.size() < 4) usage("_hybrid_any optimize|hybrid CONTENT STYLE OUT [CAP [TARGET]]");
  const bool hybrid = a[0] == "hybrid";
  const int cap = a.size() > 4 ? std::stoi(a[4]) : 50;
  const double target = a.size() > 5 ? std::stod(a[5]) : -1;
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const pipeline::Config c = imageConfig(hybrid, a[2], cap);
  std::vector<double> at;
  std::vector<models::LossTerms> loss;
  const auto t0 = Clock::now();
  pipeline::ImageStats st;
  bool reached = false;
  try {
    st = pipeline::runImage(c, a[1], a[3], [&](const models::OptimizeProgress& p) {
      at.push_back(secondsSince(t0));
      loss.push_back(p.loss);
      if (p.loss.total <= target) throw Reached{};
    });
  } catch (const Reached&) {
    reached = true;
    st.loss = loss.back();
    st.iterations = static_cast<int>(loss.size());
    st.network = "stopped at the target";
  }
  const double total = secondsSince(t0);  // the job from its start: weights, style, painting, iterations
  emit("reached", reached ? 1 : 0);
  emit("job_s", total);
  for (std::size_t i = 0; i < at.size(); ++i) {
    emit("t" + std::to_string(i + 1), at[i]);
    emit("l" + std::to_string(i + 1), loss[i].total);
  }
  if (!loss.empty()) {  // where each method starts: the loss terms after its first iteration
    emit("first_content", loss.front().content);
    emit("first_style", loss.front().style);
    emit("first_tv", loss.front().tv);
  }
  std::printf("@describe=%s\n", st.network.c_str());
  emit("seconds", st.seconds);
  emit("iterations", st.iterations);
  emit("loss", st.loss.total);
  emit("content", st.loss.content);
  emit("style", st.loss.style);
  emit("tv", st.loss.tv);
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

struct Trace {
  std::vector<double> t, loss;
};

Trace traceOf(const ChildResult& r) {
  Trace tr;
  for (int i = 1;; ++i) {
    const double t = r.get("t" + std::to_string(i));
    if (std::isnan(t)) break;
    tr.t.push_back(t);
    tr.loss.push_back(r.get("l" + std::to_string(i)));
  }
  return tr;
}

void benchHybridAny() {
  // Hybrid gets optimize's budget (150) and stops at optimize's final loss; --iters N sets its cap.
  const std::string cap = gOpt.iterations > 0 ? std::to_string(gOpt.iterations) : "150";
  printHeader("hybrid-any: flowstyle image --style " + std::string(kStyle) + " --max-side " + std::to_string(kMaxSide) +
              ", optimize (default) vs --method hybrid (no --model: " + pipeline::kDefaultArbitraryNetwork +
              "; cap " + cap + ", stopped at optimize's final loss), VGG19, --precision auto");
  std::printf("  %-9s %-8s %6s %9s %9s %9s %8s %9s\n", "picture", "method", "iters", "loss", "job s", "ratio",
              "peak MB", "load");
  const std::string style = stylePath(kStyle);
  const std::vector<std::pair<std::string, std::string>> pictures = {
      {"tubingen", sharedPath("media/stills/tubingen.jpg")}, {"chaplin", chaplinFramePng()}};
  const std::string outDir = gTmp + "/hybrid-any";
  fs::create_directories(outDir);
  for (const auto& [name, path] : pictures) {
    ChildResult opt = runSelf({"_hybrid_any", "optimize", path, style, outDir + "/" + name + "-optimize.png"});
    if (!opt.ok()) { reportFailure(name + " optimize", opt); continue; }
    const std::string optLoad = loadAvg().substr(0, 4);
    const double target = opt.get("loss");
    ChildResult hyb = runSelf({"_hybrid_any", "hybrid", path, style, outDir + "/" + name + "-hybrid.png", cap,
                               fmt("%.9g", target)});
    if (!hyb.ok()) { reportFailure(name + " hybrid", hyb); continue; }
    const std::string hybLoad = loadAvg().substr(0, 4);
    const Trace to = traceOf(opt), th = traceOf(hyb);
    // Optimize delivers its final loss when its job ends; hybrid at its first iteration at or
    // below that loss (stopped there), else not at all.
    const double oS = opt.get("job_s");
    const bool stopped = hyb.get("reached") > 0, hit = stopped || hyb.get("loss") <= target;
    const double hS = stopped ? th.t.back() : hit ? hyb.get("job_s") : NAN;
    std::printf("  %-9s %-8s %6.0f %9.4f %9.1f %9s %8.0f %9s\n", name.c_str(), "optimize", opt.get("iterations"), target,
                oS, "1", opt.maxRssMb, optLoad.c_str());
    std::printf("  %-9s %-8s %6.0f %9.4f %9.1f %9s %8.0f %9s\n", name.c_str(), "hybrid", hyb.get("iterations"),
                hyb.get("loss"), hyb.get("job_s"), hit ? fmt("%.3f", hS / oS).c_str() : "not hit", hyb.maxRssMb,
                hybLoad.c_str());
    std::printf("            final terms: optimize content %.4f style %.4f tv %.4f | hybrid content %.4f style %.4f tv %.4f\n",
                opt.get("content"), opt.get("style"), opt.get("tv"), hyb.get("content"), hyb.get("style"), hyb.get("tv"));
    std::printf("            after iteration 1: optimize content %.4f style %.4f tv %.4f | hybrid content %.4f style %.4f tv %.4f\n",
                opt.get("first_content"), opt.get("first_style"), opt.get("first_tv"), hyb.get("first_content"),
                hyb.get("first_style"), hyb.get("first_tv"));
    std::printf("            optimize: %s\n            hybrid: %s\n", opt.text["describe"].c_str(), hyb.text["describe"].c_str());
    std::printf("            loss over time (s: loss), optimize:");
    for (std::size_t i = 0; i < to.t.size(); i += 15) std::printf(" %.1f:%.3f", to.t[i], to.loss[i]);
    std::printf("\n            hybrid:");
    for (std::size_t i = 0; i < th.t.size(); i += 5) std::printf(" %.1f:%.3f", th.t[i], th.loss[i]);
    std::printf("\n");
    JsonLine("hybrid_any").add("picture", name).add("target_loss", target).add("optimize_s", oS)
        .add("optimize_iters", opt.get("iterations")).add("hybrid_s", hS).add("hybrid_iters", hyb.get("iterations"))
        .add("hybrid_loss", hyb.get("loss")).add("ratio", hS / oS).add("optimize_peak_rss_mb", opt.maxRssMb)
        .add("hybrid_peak_rss_mb", hyb.maxRssMb).add("load", loadAvg()).print();
  }
  std::printf("  (job s: from the start of the image job (weights, style encoding, painting, iterations) to\n"
              "   optimize's final loss; for hybrid to its first iteration at or below it. ratio = hybrid / optimize;\n"
              "   peak = the child's ru_maxrss; load = 1-minute load average when the child ended)\n");
}

}  // namespace

Benchmark hybridAnyBenchmark() {
  return {"hybrid-any",
          "any style image: --method hybrid (default arbitrary network's head start) vs optimize, time to optimize's "
          "final loss, 384 px",
          false,
          benchHybridAny,
          {{"_hybrid_any", childHybridAny}}};
}

}  // namespace flowstyle::bench
