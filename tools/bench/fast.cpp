// flowstyle-bench fast: the fast network alone (per number format and layout) against the whole pipeline.
#include <cstdio>
#include <string>
#include <vector>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/video_pipeline.hpp"

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

// The network variants `fast` times: number format x memory layout. float16 only on CUDA.
struct NetVariant {
  std::string id;
  models::Precision precision;
  models::Layout layout;
};

std::vector<NetVariant> netVariants(const torch::Device& device) {
  using models::Layout;
  std::vector<NetVariant> v = {{"f32", models::Precision::Float32, Layout::Nchw},
                               {"f32cl", models::Precision::Float32, Layout::ChannelsLast},
                               {"bf16", models::Precision::BFloat16, Layout::Nchw},
                               {"bf16cl", models::Precision::BFloat16, Layout::ChannelsLast}};
  if (device.is_cuda()) {
    v.push_back({"f16", models::Precision::Float16, Layout::Nchw});
    v.push_back({"f16cl", models::Precision::Float16, Layout::ChannelsLast});
  }
  return v;
}

// Child: _fast CLIP FRAMES_NET
int childFast(const std::vector<std::string>& a) {
  if (a.size() != 2) usage("_fast CLIP NETFRAMES");
  const std::string clip = a[0];
  const int netFrames = std::stoi(a[1]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const torch::Device device = models::resolveDevice(gOpt.device);
  emit("cuda", device.is_cuda() ? 1 : 0);
  const std::string model = sharedPath("models/ml5/wave");
  std::vector<cv::Mat> frames = readFrames(clip, netFrames, 0);
  while (static_cast<int>(frames.size()) < netFrames) frames.push_back(frames.back().clone());
  auto timeNet = [&](models::FastStyleNetwork& net, int batch) {
    net(std::vector<cv::Mat>(frames.begin(), frames.begin() + batch));  // warm-up (and Auto's check)
    const auto t0 = Clock::now();
    for (int i = 0; i + batch <= netFrames; i += batch) {
      net(std::vector<cv::Mat>(frames.begin() + i, frames.begin() + i + batch));
    }
    return (netFrames / batch * batch) / secondsSince(t0);
  };
  for (const NetVariant& v : netVariants(device)) {
    models::FastNetworkOptions o;
    o.precision = v.precision;
    o.layout = v.layout;
    models::FastStyleNetwork net(model, gOpt.device, o);
    emit("net_fps_" + v.id, timeNet(net, 1));
  }
  {
    models::FastNetworkOptions o;
    o.precision = models::Precision::Auto;
    models::FastStyleNetwork net(model, gOpt.device, o);
    emit("net_fps_auto_b1", timeNet(net, 1));
    emit("net_fps_auto_b4", timeNet(net, 4));
    emit("auto_bf16", net.precision().used == models::Precision::BFloat16 ? 1 : 0);
    emit("auto_f16", net.precision().used == models::Precision::Float16 ? 1 : 0);
    emit("auto_rms", net.precision().rmsDiff);
  }
  {
    // The same without the border pad (--border-pad 0): what the default pad costs.
    models::FastNetworkOptions o;
    o.precision = models::Precision::Auto;
    o.borderPad = 0;
    models::FastStyleNetwork net(model, gOpt.device, o);
    emit("net_fps_auto_b1_nopad", timeNet(net, 1));
  }
  pipeline::Config c;
  c.reader.path = clip;
  c.writer.path = gTmp + "/fast-out.mp4";
  c.method = pipeline::Method::Fast;
  pipeline::applyMethodDefaults(c, pipeline::JobKind::Video);
  c.fast.model = model;
  c.run.device = gOpt.device;
  c.run.threads = gOpt.threads;
  c.run.progress = pipeline::ProgressMode::None;
  pipeline::validate(c);
  auto stylizer = pipeline::makeStylizer(c, {});
  pipeline::JobStats st = pipeline::runVideo(c, *stylizer, {}, nullptr);
  emit("pipe_frames", static_cast<double>(st.framesWritten));
  emit("pipe_s", st.seconds);
  emit("pipe_fps", st.framesWritten / st.seconds);
  emit("pipe_network_s", st.networkSeconds);
  emit("pipe_stylize_s", st.stylizeSeconds);
  emit("pipe_flow_s", st.flowSeconds);
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

void benchFast() {
  printHeader("fast: ml5/wave network alone (frames/s by number format and layout) vs the whole pipeline "
              "(--precision auto, stabilization 0.8, batch 1, x264 medium), device " + gOpt.device);
  std::vector<int> heights = gOpt.sizes.empty() ? std::vector<int>{360, 720} : gOpt.sizes;
  std::printf("  %-9s %7s %7s %7s %7s %7s %7s %8s %8s %8s %8s %7s %8s %8s\n", "size", "f32", "f32-cl", "bf16",
              "bf16-cl", "f16", "f16-cl", "auto", "auto b4", "no pad", "pipe", "effic.", "peak MB", "auto is");
  for (int h : heights) {
    const int w = h * 16 / 9;
    const double clipSeconds = 24.0 / 25.0;
    const std::string clip = ffmpegClip("mandelbrot", w, h, clipSeconds, 25);
    const int netFrames = h <= 360 ? 8 : 4;
    ChildResult r = runSelf({"_fast", clip, std::to_string(netFrames)});
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    if (!r.ok()) {
      reportFailure("fast " + size, r);
      continue;
    }
    auto cell = [&](const std::string& key) {
      return r.values.count(key) ? fmt("%.2f", r.get(key)) : std::string("-");
    };
    const double autoB1 = r.get("net_fps_auto_b1"), autoB4 = r.get("net_fps_auto_b4"), pipe = r.get("pipe_fps");
    const double eff = pipe / autoB1;
    const std::string chosen = r.get("auto_f16") > 0 ? "float16" : r.get("auto_bf16") > 0 ? "bfloat16" : "float32";
    std::printf("  %-9s %7s %7s %7s %7s %7s %7s %8.2f %8.2f %8.2f %8.2f %7.2f %8.1f %8s\n", size.c_str(),
                cell("net_fps_f32").c_str(), cell("net_fps_f32cl").c_str(), cell("net_fps_bf16").c_str(),
                cell("net_fps_bf16cl").c_str(), cell("net_fps_f16").c_str(), cell("net_fps_f16cl").c_str(), autoB1,
                autoB4, r.get("net_fps_auto_b1_nopad"), pipe, eff, r.maxRssMb, chosen.c_str());
    JsonLine line("fast");
    line.add("size", size).add("device", gOpt.device).add("cuda", r.get("cuda"));
    for (const char* k : {"f32", "f32cl", "bf16", "bf16cl", "f16", "f16cl"}) {
      const std::string key = std::string("net_fps_") + k;
      if (r.values.count(key)) line.add(key, r.get(key));
    }
    line.add("net_fps_auto_batch1", autoB1).add("net_fps_auto_batch4", autoB4)
        .add("net_fps_auto_batch1_nopad", r.get("net_fps_auto_b1_nopad")).add("border_pad", models::borderPadFor(-1, w, h)).add("auto_precision", chosen)
        .add("auto_rms_vs_f32", r.get("auto_rms")).add("pipeline_fps", pipe)
        .add("efficiency", eff).add("pipeline_frames", r.get("pipe_frames")).add("pipeline_s", r.get("pipe_s"))
        .add("network_s", r.get("pipe_network_s")).add("flow_s", r.get("pipe_flow_s"))
        .add("peak_rss_mb", r.maxRssMb).add("cpu_s", r.cpuSeconds).add("wall_child_s", r.wall)
        .add("threads", r.get("threads")).add("load", loadAvg()).print();
  }
  std::printf("  (frames/s, batch 1 unless noted; -cl = channels-last; auto = --precision auto after its first-batch\n"
              "   check; effic. = pipeline fps / auto network fps; f16 columns only on CUDA; every column with the default\n"
              "   border pad except \"no pad\" = auto, batch 1, --border-pad 0)\n");
}

}  // namespace

Benchmark fastBenchmark() {
  return {"fast", "fast network alone (per number format) vs the whole pipeline [--sizes 360,720]", true, benchFast, {{"_fast", childFast}}};
}

}  // namespace flowstyle::bench
