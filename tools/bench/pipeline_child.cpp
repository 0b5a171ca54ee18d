// flowstyle-bench _pipeline: the "_pipeline" child that video, temporal and hybrid run: one optimize/hybrid job on chaplin
// with per-frame timings, losses and (warp=1) the warping error.
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>
#include <filesystem>
#include <map>
#include <memory>

#include "models/device.hpp"
#include "models/style_transfer.hpp"
#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/video_pipeline.hpp"
#include "stages/flow.hpp"
#include "stages/warping_error.hpp"

#include "tools/bench/harness.hpp"

namespace fs = std::filesystem;

namespace flowstyle::bench {
namespace {

// Wraps a stylizer: times each stylize() call, records content and output for the
// warping error, and optionally turns every frame into an independent one.
class RecordingStylizer final : public pipeline::FrameStylizer {
 public:
  RecordingStylizer(pipeline::FrameStylizer& first, pipeline::FrameStylizer* later, bool frameByFrame)
      : first_(first), later_(later), frameByFrame_(frameByFrame) {}
  std::vector<cv::Mat> prepareBatch(const std::vector<cv::Mat>& contents) override {
    return first_.prepareBatch(contents);
  }
  int batchSize() const override { return first_.batchSize(); }
  std::vector<int> temporalOffsets() const override {
    return frameByFrame_ ? std::vector<int>{} : first_.temporalOffsets();
  }
  pipeline::StylizeOutcome stylize(const pipeline::StylizeRequest& request) override {
    pipeline::StylizeRequest r = request;
    pipeline::FrameStylizer* target = &first_;
    if (frameByFrame_) {
      r.guides.clear();
      r.init = cv::Mat();
      if (request.index > 0 && later_) target = later_;
    }
    const auto t0 = Clock::now();
    pipeline::StylizeOutcome out = target->stylize(r);
    seconds.push_back(secondsSince(t0));
    iterations.push_back(out.iterations);
    losses.push_back(out.loss);
    contents.push_back(request.content.clone());
    cv::Mat out8;
    out.image.convertTo(out8, CV_8UC3, 255.0);
    outputs.push_back(out8);
    return out;
  }
  std::vector<double> seconds;
  std::vector<int> iterations;
  std::vector<models::LossTerms> losses;
  std::vector<cv::Mat> contents, outputs;

 private:
  pipeline::FrameStylizer& first_;
  pipeline::FrameStylizer* later_;
  bool frameByFrame_;
};

// Child: _pipeline key=value...
//   method=optimize|hybrid  frames=N  max_side=S  net=PATH  style=PATH  model=PATH
//   first=N  iters=N  frame_by_frame=0|1  warp=0|1
int childPipeline(const std::vector<std::string>& a) {
  std::map<std::string, std::string> kv;
  for (const std::string& s : a) {
    const auto eq = s.find('=');
    if (eq == std::string::npos) usage("_pipeline: expected key=value, got " + s);
    kv[s.substr(0, eq)] = s.substr(eq + 1);
  }
  auto get = [&](const std::string& k, const std::string& d) { return kv.count(k) ? kv[k] : d; };
  emit("threads", models::configureTorchThreads(gOpt.threads));
  pipeline::Config c;
  c.reader.path = get("input", chaplinPath());
  c.reader.selection.first = 0;
  c.reader.selection.last = std::stoi(get("frames", "3")) - 1;
  c.writer.path = gTmp + "/pipeline-" + std::to_string(getpid()) + ".mp4";
  c.writer.copyAudio = false;
  c.method = pipeline::parseMethod(get("method", "optimize"));
  pipeline::applyMethodDefaults(c, pipeline::JobKind::Video);
  c.size.maxSide = std::stoi(get("max_side", "320"));
  c.style.styles = {get("style", stylePath("starry_night.jpg"))};
  c.style.lossNet = get("net", vggPath());
  c.style.iterationsFirst = std::stoi(get("first", "150"));
  c.style.iterations = std::stoi(get("iters", "30"));
  c.style.optimize.precision = models::parsePrecision(get("precision", "float32"));
  if (kv.count("model")) c.fast.model = kv["model"];
  c.run.device = "cpu";
  c.run.threads = gOpt.threads;
  c.run.progress = pipeline::ProgressMode::None;
  pipeline::validate(c);
  const bool frameByFrame = get("frame_by_frame", "0") == "1";
  auto stylizer = pipeline::makeStylizer(c, {});
  std::unique_ptr<pipeline::FrameStylizer> later;
  if (frameByFrame) {
    // Frames after the first get the default run's later-frame budget, from the content.
    pipeline::Config c2 = c;
    c2.style.iterationsFirst = c.style.iterations;
    later = pipeline::makeStylizer(c2, {});
  }
  RecordingStylizer rec(*stylizer, later.get(), frameByFrame);
  pipeline::JobStats st = pipeline::runVideo(c, rec, {}, nullptr);
  const double n = static_cast<double>(st.framesWritten);
  emit("frames", n);
  emit("width", st.outputWidth);
  emit("height", st.outputHeight);
  emit("seconds", st.seconds);
  emit("stylize_s", st.stylizeSeconds);
  emit("flow_s", st.flowSeconds);
  emit("network_s", st.networkSeconds);
  emit("iterations", static_cast<double>(st.iterations));
  emit("efficiency", st.stylizeSeconds / st.seconds);
  emit("loss_total_mean", st.lossSum.total / n);
  emit("loss_style_mean", st.lossSum.style / n);
  emit("loss_content_mean", st.lossSum.content / n);
  emit("loss_temporal_mean", st.lossSum.temporal / n);
  if (!rec.seconds.empty()) {
    emit("first_frame_s", rec.seconds[0]);
    emit("first_frame_iters", rec.iterations[0]);
    double later_s = 0, laterIt = 0;
    for (std::size_t i = 1; i < rec.seconds.size(); ++i) {
      later_s += rec.seconds[i];
      laterIt += rec.iterations[i];
    }
    if (rec.seconds.size() > 1) {
      emit("later_frame_s", later_s / (rec.seconds.size() - 1));
      emit("later_frame_iters", laterIt / (rec.seconds.size() - 1));
    }
  }
  if (get("warp", "0") == "1") {
    stages::WarpingErrorMeter meter(stages::FlowConfig{});
    for (std::size_t i = 0; i < rec.contents.size(); ++i) meter.add(rec.contents[i], rec.outputs[i]);
    stages::WarpingErrorReport rep = meter.report();
    emit("warp_stylized", rep.meanStylized);
    emit("warp_original", rep.meanOriginal);
  }
  emit("vmhwm_mb", ownPeakRssMb());
  std::error_code ec;
  fs::remove(c.writer.path, ec);
  return 0;
}

}  // namespace

Benchmark pipelineChildBenchmark() {
  return {"", "", false, nullptr, {{"_pipeline", childPipeline}}};
}

}  // namespace flowstyle::bench
