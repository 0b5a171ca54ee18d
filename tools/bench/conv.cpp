// flowstyle-bench conv: what this CPU's convolutions can do at best, next to what the fast
// network gets. One 128->128 3x3 convolution on a 1x128x90x160 channels-last tensor (a
// residual-block convolution at 640x360) through oneDNN with its weight packed once
// (models::detail::PackedConv), float32 and bfloat16, on 1 and on --threads threads; then
// the whole fast network (default layout) on a 640x360 frame with the default border pad.
// Wall time and CPU time (getrusage) are both reported: on a shared machine the CPU-time
// rate (GFLOP per CPU-second) is the steadier figure of what one core does.
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/packed_conv.hpp"

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

double cpuSecondsNow() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// Floating-point operations (2 per multiply-add) of the ml5 fast network on an H x W input
// (after padding): conv1 9x9 3->32, conv2/conv3 3x3 stride 2, ten 3x3 128->128 at 1/4,
// the two stride-2 up-convolutions counted as transposed 3x3 convolutions, conv4 9x9 32->3.
double fastNetworkFlop(double h, double w) {
  const double px = h * w;
  return 2.0 * (81 * 3 * 32 * px + 9 * 32 * 64 * px / 4 + 9 * 64 * 128 * px / 16 +
                10 * 9 * 128 * 128 * px / 16 + 9 * 128 * 64 * px / 16 + 9 * 64 * 32 * px / 4 +
                81 * 32 * 3 * px);
}

// The network variants timed: the default (channels-last, packed weights), channels-last
// through LibTorch's conv2d (weights reordered every call) and NCHW (the layout before).
struct NetVariant {
  std::string id;
  bool bf16;
  models::Layout layout;
  bool packed;
  std::string label;
};

std::vector<NetVariant> netVariants() {
  using models::Layout;
  std::vector<NetVariant> v;
  for (bool bf16 : {false, true}) {
    const std::string t = bf16 ? "bf16" : "f32";
    v.push_back({t, bf16, Layout::ChannelsLast, true, t + " channels-last, packed (default)"});
    v.push_back({t + "_unpacked", bf16, Layout::ChannelsLast, false, t + " channels-last, LibTorch conv2d"});
    v.push_back({t + "_nchw", bf16, Layout::Nchw, false, t + " NCHW (before)"});
  }
  return v;
}

// Child: _conv CALLS
int childConv(const std::vector<std::string>& a) {
  if (a.size() != 1) usage("_conv CALLS");
  const int calls = std::stoi(a[0]);
  if (!models::detail::PackedConv::available()) {
    std::fprintf(stderr, "this build has no oneDNN (libdnnl-dev): nothing to measure\n");
    return 1;
  }
  const int threads = models::configureTorchThreads(gOpt.threads);
  emit("threads", threads);
  c10::InferenceMode guard;
  const std::int64_t c = 128, h = 90, w = 160;
  const double flop = 2.0 * h * w * c * c * 9;
  for (int t : {1, threads}) {
    at::set_num_threads(t);
    for (auto type : {torch::kFloat, torch::kBFloat16}) {
      const std::string id = std::string(type == torch::kFloat ? "f32" : "bf16") + "_t" + std::to_string(t);
      torch::manual_seed(1);
      auto x = torch::randn({1, c, h, w}).to(type).contiguous(at::MemoryFormat::ChannelsLast);
      models::detail::PackedConv conv(torch::randn({c, c, 3, 3}) / 30, type);
      const models::detail::ConvGeometry same{1, 1, 1, 1, 1};
      for (int i = 0; i < 3; ++i) conv(x, same);  // primitive, packed weight, caches
      const auto t0 = Clock::now();
      const double c0 = cpuSecondsNow();
      for (int i = 0; i < calls; ++i) conv(x, same);
      const double wall = secondsSince(t0), cpu = cpuSecondsNow() - c0;
      emit("conv_gflops_wall_" + id, calls * flop / wall / 1e9);
      emit("conv_gflops_cpu_" + id, calls * flop / cpu / 1e9);
    }
  }
  at::set_num_threads(threads);
  // The network on 640x360 padded by the default border (48) and to a multiple of 4.
  const int pad = models::borderPadFor(-1, 640, 360);
  const std::int64_t nh = (360 + 2 * pad + 3) / 4 * 4, nw = (640 + 2 * pad + 3) / 4 * 4;
  emit("net_h", static_cast<double>(nh));
  emit("net_w", static_cast<double>(nw));
  const double netFlop = fastNetworkFlop(static_cast<double>(nh), static_cast<double>(nw));
  emit("net_gflop", netFlop / 1e9);
  emit("net_gflop_nopad", fastNetworkFlop(360, 640) / 1e9);
  auto input = (torch::rand({1, 3, nh, nw}) * 255).round();
  for (const NetVariant& v : netVariants()) {
    models::FastNetworkOptions o;
    o.precision = v.bf16 ? models::Precision::BFloat16 : models::Precision::Float32;
    o.layout = v.layout;
    o.packedWeights = v.packed;
    models::FastStyleNetwork net(sharedPath("models/ml5/wave"), "cpu", o);
    net.forward(input);
    const int frames = 4;
    const auto t0 = Clock::now();
    const double c0 = cpuSecondsNow();
    for (int i = 0; i < frames; ++i) net.forward(input);
    const double wall = secondsSince(t0) / frames, cpu = (cpuSecondsNow() - c0) / frames;
    emit("net_s_wall_" + v.id, wall);
    emit("net_s_cpu_" + v.id, cpu);
  }
  return 0;
}

void benchConv() {
  printHeader("conv: the CPU's convolution ceiling (one 128->128 3x3 channels-last conv at 90x160, oneDNN, "
              "weight packed once) vs the fast network (wave, default layout, 640x360 + border pad)");
  ChildResult r = runSelf({"_conv", "100"});
  if (!r.ok()) {
    reportFailure("conv", r);
    return;
  }
  const int t = static_cast<int>(r.get("threads"));
  std::printf("  %-22s %12s %12s\n", "GFLOP/s", "wall", "per CPU-s");
  JsonLine line("conv");
  for (const char* type : {"f32", "bf16"}) {
    for (int n : {1, t}) {
      const std::string id = std::string(type) + "_t" + std::to_string(n);
      std::printf("  %-22s %12.0f %12.0f\n", (std::string("conv ") + type + ", " + std::to_string(n) + " thread(s)").c_str(),
                  r.get("conv_gflops_wall_" + id), r.get("conv_gflops_cpu_" + id));
      line.add("conv_gflops_wall_" + id, r.get("conv_gflops_wall_" + id))
          .add("conv_gflops_cpu_" + id, r.get("conv_gflops_cpu_" + id));
    }
  }
  const double gflop = r.get("net_gflop");
  std::printf("  network at %.0fx%.0f (640x360 + border pad), %.1f GFLOP per frame:\n", r.get("net_w"), r.get("net_h"),
              gflop);
  std::printf("  %-40s %9s %9s %10s %10s\n", "", "s wall", "fps", "CPU-s", "GFLOP/CPU-s");
  for (const NetVariant& v : netVariants()) {
    const double wall = r.get("net_s_wall_" + v.id), cpu = r.get("net_s_cpu_" + v.id);
    std::printf("  %-40s %9.3f %9.2f %10.3f %10.0f\n", v.label.c_str(), wall, 1 / wall, cpu, gflop / cpu);
    line.add("net_s_wall_" + v.id, wall).add("net_s_cpu_" + v.id, cpu);
  }
  std::printf("  (%.1f GFLOP per frame without the border pad; 15 frames/s needs %.0f GFLOP/s with the pad, %.0f without)\n",
              r.get("net_gflop_nopad"), 15 * gflop, 15 * r.get("net_gflop_nopad"));
  line.add("net_gflop", gflop).add("net_gflop_nopad", r.get("net_gflop_nopad")).add("threads", t)
      .add("load", loadAvg()).print();
}

}  // namespace

Benchmark convBenchmark() {
  return {"conv", "the CPU's convolution ceiling vs the fast network's GFLOP/s (oneDNN, packed weights)", false,
          benchConv, {{"_conv", childConv}}};
}

}  // namespace flowstyle::bench
