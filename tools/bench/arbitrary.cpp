// flowstyle-bench arbitrary: the arbitrary-style networks (any style image, one pass) —
// their speed against the ml5 fast network and against their authors' own way of running
// the same weights (PyTorch eager, onnxruntime), the whole pipeline against its network,
// and how steady their video is with and without stabilization.
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/arbitrary_network.hpp"
#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/model_store.hpp"
#include "pipeline/arbitrary_stylizer.hpp"
#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/jobs.hpp"
#include "pipeline/video_pipeline.hpp"
#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kNetworks = {"microast", "magenta", "wct16x"};
constexpr int kStyleSize = 256;  // the CLI's --style-size default

// The network's weights imported from the shared folder once per run (as `models install`).
std::string modelsDir() { return gTmp + "/arbitrary-models"; }
std::string installed(const std::string& net) {
  const fs::path file = fs::path(modelsDir()) / (net + ".safetensors");
  if (!fs::exists(file)) {
    fs::create_directories(modelsDir());
    models::installModels({sharedPath("models/arbitrary/" + net)}, modelsDir());
  }
  return file.string();
}

std::vector<cv::Mat> framesAt(int w, int h, int count) {
  std::vector<cv::Mat> frames = readFrames(chaplinPath(), count, 0);
  for (cv::Mat& f : frames) cv::resize(f, f, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return frames;
}

// Child: _arbitrary NET W H FRAMES — the network alone (NET = an arbitrary network or "wave",
// the ml5 network with --precision auto), style encoded once, batch 1.
int childNetwork(const std::vector<std::string>& a) {
  if (a.size() != 4) usage("_arbitrary NET W H FRAMES");
  const std::string net = a[0];
  const int w = std::stoi(a[1]), h = std::stoi(a[2]), count = std::stoi(a[3]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const std::vector<cv::Mat> frames = framesAt(w, h, count);
  std::function<cv::Mat(const cv::Mat&)> run;
  std::unique_ptr<models::FastStyleNetwork> wave;
  std::unique_ptr<models::ArbitraryStyleNetwork> network;
  models::StyleCode code;
  if (net == "wave") {
    models::FastNetworkOptions o;
    o.precision = models::Precision::Auto;
    wave = std::make_unique<models::FastStyleNetwork>(sharedPath("models/ml5/wave"), gOpt.device, o);
    run = [&](const cv::Mat& f) { return (*wave)({f}).front(); };
  } else {
    network = models::loadArbitraryNetwork(installed(net), gOpt.device);
    const auto t0 = Clock::now();
    code = network->encodeStyle(pipeline::loadStyleForNetwork(stylePath("starry_night.jpg"), kStyleSize));
    emit("encode_s", secondsSince(t0));
    run = [&](const cv::Mat& f) { return (*network)({f}, code, 1.0).front(); };
  }
  const auto tw = Clock::now();
  run(frames.front());  // warm-up (and --precision auto's check)
  emit("first_s", secondsSince(tw));
  const auto t0 = Clock::now();
  for (const cv::Mat& f : frames) run(f);
  const double s = secondsSince(t0);
  emit("net_fps", count / s);
  emit("s_per_frame", s / count);
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

// Child: _arbitrary_pipe NET CLIP — `flowstyle video CLIP --model NET --style starry` in-process
// (stabilized, batch 1, x264), the pipeline's frames/s.
int childPipeline(const std::vector<std::string>& a) {
  if (a.size() != 2) usage("_arbitrary_pipe NET CLIP");
  pipeline::Config c;
  c.reader.path = a[1];
  c.writer.path = gTmp + "/arbitrary-pipe.mp4";
  c.method = pipeline::Method::Fast;
  pipeline::applyMethodDefaults(c, pipeline::JobKind::Video);
  c.fast.model = installed(a[0]);
  c.style.styles = {stylePath("starry_night.jpg")};
  c.run.device = gOpt.device;
  c.run.threads = gOpt.threads;
  c.run.progress = pipeline::ProgressMode::None;
  pipeline::validate(c);
  auto stylizer = pipeline::makeStylizer(c, {});
  const pipeline::JobStats st = pipeline::runVideo(c, *stylizer, {}, nullptr);
  emit("pipe_frames", static_cast<double>(st.framesWritten));
  emit("pipe_fps", st.framesWritten / st.seconds);
  emit("pipe_network_s", st.networkSeconds);
  emit("pipe_flow_s", st.flowSeconds);
  emit("vmhwm_mb", ownPeakRssMb());
  return 0;
}

// Child: _arbitrary_eval ORIGINAL STYLIZED — the mean warping error (flowstyle eval's).
int childEval(const std::vector<std::string>& a) {
  if (a.size() != 2) usage("_arbitrary_eval ORIGINAL STYLIZED");
  const stages::WarpingErrorReport r = pipeline::runEval(a[0], a[1], stages::FlowConfig{});
  emit("mean_stylized", r.meanStylized);
  emit("mean_original", r.meanOriginal);
  return 0;
}

// The bench-only Python of the peers: $FLOWSTYLE_BENCH_PYTHON, else .venv-bench/ of the
// checkout (tools/bench/peers/setup.sh makes it). Empty when there is none.
std::string peerPython() {
  if (const char* p = std::getenv("FLOWSTYLE_BENCH_PYTHON"); p && *p) return p;
  const fs::path venv = fs::path(FLOWSTYLE_SOURCE_DIR) / ".venv-bench/bin/python";
  return fs::exists(venv) ? venv.string() : std::string();
}

std::string peerScript(const std::string& name) {
  return (fs::path(FLOWSTYLE_SOURCE_DIR) / "tools/bench/peers" / name).string();
}

void speedTable() {
  const int w = 640, h = 360, frames = 8;
  printHeader("arbitrary: networks alone at 640x360 (chaplin frames, style starry_night at 256 px, batch 1), "
              "device " + gOpt.device + ", load " + loadAvg());
  std::printf("  %-12s %8s %8s %8s %9s\n", "network", "fps", "s/frame", "encode s", "peak MB");
  double waveFps = 0;
  std::map<std::string, double> fps;
  for (const std::string& net : {std::string("wave")}) {
    ChildResult r = runSelf({"_arbitrary", net, std::to_string(w), std::to_string(h), std::to_string(frames)});
    if (!r.ok()) { reportFailure("wave", r); continue; }
    waveFps = r.get("net_fps");
    std::printf("  %-12s %8.2f %8.3f %8s %9.0f   (ml5, --precision auto)\n", "wave", waveFps, r.get("s_per_frame"),
                "-", r.maxRssMb);
  }
  for (const std::string& net : kNetworks) {
    const int n = net == "wct16x" ? 2 : frames;
    ChildResult r = runSelf({"_arbitrary", net, std::to_string(w), std::to_string(h), std::to_string(n)});
    if (!r.ok()) { reportFailure(net, r); continue; }
    fps[net] = r.get("net_fps");
    std::printf("  %-12s %8.2f %8.3f %8.3f %9.0f\n", net.c_str(), fps[net], r.get("s_per_frame"), r.get("encode_s"),
                r.maxRssMb);
    JsonLine("arbitrary").add("network", net).add("size", "640x360").add("net_fps", fps[net])
        .add("encode_s", r.get("encode_s")).add("peak_rss_mb", r.maxRssMb).add("wave_fps", waveFps)
        .add("load", loadAvg()).print();
  }
  // The whole pipeline on chaplin at 640x360 (48 frames) against the network alone.
  const std::string clip48 = gTmp + "/chaplin48.mp4";
  if (!fs::exists(clip48)) {
    runChild({"/usr/bin/env", "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", chaplinPath(), "-frames:v", "48",
              "-an", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", clip48});
  }
  ChildResult p = runSelf({"_arbitrary_pipe", "microast", clip48});
  if (p.ok()) {
    std::printf("  pipeline, microast, chaplin 640x360, 48 frames: %.2f fps = %.2f x the network (peak %.0f MB)\n",
                p.get("pipe_fps"), p.get("pipe_fps") / fps["microast"], p.maxRssMb);
    JsonLine("arbitrary").add("pipeline", "microast").add("pipe_fps", p.get("pipe_fps"))
        .add("efficiency", p.get("pipe_fps") / fps["microast"]).add("peak_rss_mb", p.maxRssMb).print();
  } else {
    reportFailure("pipeline microast", p);
  }
  // WCT on a 768x480 still (style encoding included: a still pays it once).
  ChildResult still = runSelf({"_arbitrary", "wct16x", "768", "480", "1"});
  if (still.ok()) {
    std::printf("  wct16x, one 768x480 still: %.2f s (+ %.2f s encoding the style; peak %.0f MB)\n",
                still.get("s_per_frame"), still.get("encode_s"), still.maxRssMb);
  }

  // Peers: the same weights as their authors run them.
  const std::string py = peerPython();
  if (py.empty()) {
    std::printf("  peers: skipped (no bench Python: run tools/bench/peers/setup.sh or set FLOWSTYLE_BENCH_PYTHON)\n");
    return;
  }
  const std::string threads = std::to_string(gOpt.threads > 0 ? gOpt.threads : 2);
  ChildResult eager = runChild({py, peerScript("microast_eager.py"), sharedPath("models/arbitrary/microast"),
                                chaplinFramePng(), stylePath("starry_night.jpg"), "640", "360", "4", threads});
  if (eager.ok()) {
    std::printf("  microast in PyTorch %s eager, 640x360: %.2f fps; flowstyle / eager = %.1fx\n",
                eager.text["torch_version"].c_str(), eager.get("fps"), fps["microast"] / eager.get("fps"));
    JsonLine("arbitrary").add("peer", "pytorch_eager_microast").add("peer_fps", eager.get("fps"))
        .add("ratio", fps["microast"] / eager.get("fps")).print();
  } else {
    reportFailure("microast PyTorch eager", eager);
  }
  ChildResult ort = runChild({py, peerScript("magenta_ort.py"), sharedPath("models/arbitrary/magenta/arbitrary_predict.onnx"),
                              sharedPath("models/arbitrary/magenta/arbitrary_transform.onnx"), chaplinFramePng(),
                              stylePath("starry_night.jpg"), "8", threads});
  ChildResult own = runSelf({"_arbitrary", "magenta", "384", "384", "8"});
  if (ort.ok() && own.ok()) {
    std::printf("  magenta at 384x384: onnxruntime %.2f fps, flowstyle %.2f fps; flowstyle / onnxruntime = %.1fx\n",
                ort.get("fps"), own.get("net_fps"), own.get("net_fps") / ort.get("fps"));
    JsonLine("arbitrary").add("peer", "onnxruntime_magenta").add("peer_fps", ort.get("fps"))
        .add("flowstyle_fps", own.get("net_fps")).add("ratio", own.get("net_fps") / ort.get("fps")).print();
  } else {
    reportFailure("magenta onnxruntime", ort.ok() ? own : ort);
  }
}

// Steadiness: 48 frames at 384 px, stabilized (the default) and not, warping error against
// the input's own (flowstyle eval) and mean style loss (VGG19, every 4th frame).
void steadyTable() {
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  const std::string models = modelsDir() + ":" + sharedDir() + "/models";
  ::setenv("FLOWSTYLE_MODELS", models.c_str(), 1);
  for (const std::string& net : kNetworks) installed(net);
  printHeader("arbitrary: steadiness, frames 0-47 at 384 px, style starry_night (wave: its own style), load " +
              loadAvg());
  std::printf("  %-8s %-10s %11s %11s %8s %11s %11s\n", "clip", "network", "stabilized", "unstab.", "ratio",
              "style stab.", "style raw");
  const std::string threads = std::to_string(gOpt.threads);
  for (const std::string& clipName : {std::string("chaplin"), std::string("example")}) {
    const std::string clip = sharedPath("media/clips/" + clipName + ".mp4");
    const std::string orig = gTmp + "/" + clipName + "-384.mkv";
    runChild({cli, "video", clip, "--frames", "0-47", "--max-side", "384", "--method", "copy", "--codec", "ffv1",
              "--progress", "none", "-o", orig});
    auto stylize = [&](const std::string& net, bool stable) {
      const std::string out = gTmp + "/" + clipName + "-" + net + (stable ? "-stab" : "-raw") + ".mkv";
      std::vector<std::string> argv = {cli, "video", clip, "--frames", "0-47", "--max-side", "384", "--codec", "ffv1",
                                       "--progress", "none", "--threads", threads, "--model", net, "-o", out};
      if (net != "wave") argv.insert(argv.end(), {"--style", stylePath("starry_night.jpg")});
      if (!stable) argv.insert(argv.end(), {"--temporal-weight", "0"});
      ChildResult r = runChild(argv);
      if (!r.ok()) reportFailure(net, r);
      return out;
    };
    for (const std::string& net : {std::string("microast"), std::string("magenta"), std::string("wct16x"),
                                   std::string("wave")}) {
      double err[2], style[2];
      for (int stable = 1; stable >= 0; --stable) {
        const std::string out = stylize(net, stable != 0);
        ChildResult e = runSelf({"_arbitrary_eval", orig, out});
        err[stable] = e.get("mean_stylized");
        ChildResult l = runSelf({"_farm_loss", "original=" + orig, "video=" + out,
                                 "style=" + (net == "wave" ? std::string("frames") : stylePath("starry_night.jpg")),
                                 "target=" + out, "every=4"});
        style[stable] = l.get("style_loss");
      }
      std::printf("  %-8s %-10s %11.6f %11.6f %8.3f %11.4f %11.4f\n", clipName.c_str(), net.c_str(), err[1], err[0],
                  err[1] / err[0], style[1], style[0]);
      JsonLine("arbitrary_steady").add("clip", clipName).add("network", net).add("warp_stabilized", err[1])
          .add("warp_unstabilized", err[0]).add("style_stabilized", style[1]).add("style_unstabilized", style[0])
          .print();
    }
  }
  std::printf("  (warping error as flowstyle eval; ratio = stabilized / unstabilized; style = mean normalized VGG19\n"
              "   style loss against starry_night, for wave against its own frames)\n");
}

void benchArbitrary() {
  speedTable();
  steadyTable();
}

}  // namespace

Benchmark arbitraryBenchmark() {
  return {"arbitrary",
          "any style image, one pass: microast/magenta/wct16x alone, pipeline, peers (PyTorch eager, onnxruntime), "
          "steadiness",
          false,
          benchArbitrary,
          {{"_arbitrary", childNetwork}, {"_arbitrary_pipe", childPipeline}, {"_arbitrary_eval", childEval}}};
}

}  // namespace flowstyle::bench
