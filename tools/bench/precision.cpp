// flowstyle-bench precision: reduced number formats against float32 on the nine ml5 styles.
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>
#include <filesystem>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"

#include "tools/bench/harness.hpp"

namespace fs = std::filesystem;

namespace flowstyle::bench {
namespace {

const std::vector<std::string> kStyleNets = {"la_muse", "mathura", "matilde_perez", "matta", "rain_princess",
                                             "scream",  "udnie",   "wave",          "wreck"};

struct DiffStats {
  double rms = 0, mean = 0, max = 0, over2 = 0;  // over2: fraction of values differing by more than 2
};

DiffStats diffStats(const std::vector<cv::Mat>& a, const std::vector<cv::Mat>& b) {
  DiffStats s;
  double sq = 0, sum = 0, over = 0, n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    cv::Mat d;
    cv::absdiff(a[i], b[i], d);
    cv::Mat d64;
    d.reshape(1).convertTo(d64, CV_64F);
    sq += d64.dot(d64);
    sum += cv::sum(d64)[0];
    over += cv::countNonZero(d.reshape(1) > 2);
    n += static_cast<double>(d64.total());
    double mx = 0;
    cv::minMaxLoc(d64, nullptr, &mx);
    s.max = std::max(s.max, mx);
  }
  s.rms = std::sqrt(sq / n);
  s.mean = sum / n;
  s.over2 = over / n;
  return s;
}

// The float32 outputs through x264 (crf 18, yuv420p, the video default) and back: the
// error every video output carries anyway, for scale.
std::vector<cv::Mat> x264RoundTrip(const std::vector<cv::Mat>& frames) {
  const std::string path = gTmp + "/roundtrip-" + std::to_string(getpid()) + ".mp4";
  stages::VideoInfo info;
  info.path = "(frames)";
  info.width = frames.front().cols;
  info.height = frames.front().rows;
  info.timeBase = {1, 25};
  info.avgFrameRate = {25, 1};
  stages::WriterConfig wc;
  wc.path = path;
  wc.copyAudio = false;
  {
    stages::VideoWriter writer(wc, info);
    for (std::size_t i = 0; i < frames.size(); ++i) {
      stages::Frame f;
      f.rgb = frames[i];
      f.index = static_cast<std::int64_t>(i);
      f.pts = static_cast<std::int64_t>(i);
      f.duration = 1;
      f.timeBase = info.timeBase;
      writer.write(f);
    }
    writer.finish();
  }
  std::vector<cv::Mat> back = readFrames(path, static_cast<int>(frames.size()), 0);
  std::error_code ec;
  fs::remove(path, ec);
  return back;
}

// Child: _precision FRAMES STYLE...
int childPrecision(const std::vector<std::string>& a) {
  if (a.size() < 2) usage("_precision FRAMES STYLE...");
  const int count = std::stoi(a[0]);
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const torch::Device device = models::resolveDevice(gOpt.device);
  std::vector<cv::Mat> frames;
  for (const cv::Mat& f : readFrames(chaplinPath(), count, 0)) {
    cv::Mat r;
    cv::resize(f, r, cv::Size(640, 360), 0, 0, cv::INTER_AREA);
    frames.push_back(r);
  }
  std::vector<std::pair<std::string, models::Precision>> formats = {{"bf16", models::Precision::BFloat16}};
  if (device.is_cuda()) formats.push_back({"f16", models::Precision::Float16});
  for (std::size_t s = 1; s < a.size(); ++s) {
    const std::string& style = a[s];
    models::FastNetworkOptions f32;
    models::FastStyleNetwork reference(sharedPath("models/ml5/" + style), gOpt.device, f32);
    const std::vector<cv::Mat> expected = reference(frames);
    for (const auto& [id, precision] : formats) {
      models::FastNetworkOptions o;
      o.precision = precision;
      models::FastStyleNetwork net(sharedPath("models/ml5/" + style), gOpt.device, o);
      const DiffStats d = diffStats(expected, net(frames));
      emit(style + "_" + id + "_rms", d.rms);
      emit(style + "_" + id + "_mean", d.mean);
      emit(style + "_" + id + "_max", d.max);
      emit(style + "_" + id + "_over2", d.over2);
    }
    const DiffStats x = diffStats(expected, x264RoundTrip(expected));
    emit(style + "_x264_rms", x.rms);
    emit(style + "_x264_max", x.max);
  }
  return 0;
}

void benchPrecision() {
  printHeader("precision: reduced formats vs float32, ml5 styles on 4 chaplin frames at 640x360 (device " +
              gOpt.device + ")");
  ChildResult r = runSelf([] {
    std::vector<std::string> args = {"_precision", "4"};
    args.insert(args.end(), kStyleNets.begin(), kStyleNets.end());
    return args;
  }());
  if (!r.ok()) {
    reportFailure("precision", r);
    return;
  }
  std::printf("  %-14s %9s %9s %9s %10s %9s %9s %12s\n", "style", "bf16 rms", "bf16 mean", "bf16 max", "bf16 >2",
              "f16 rms", "f16 max", "x264 rms");
  for (const std::string& style : kStyleNets) {
    auto cell = [&](const std::string& key, const char* f) {
      return r.values.count(style + "_" + key) ? fmt(f, r.get(style + "_" + key)) : std::string("-");
    };
    std::printf("  %-14s %9s %9s %9s %10s %9s %9s %12s\n", style.c_str(), cell("bf16_rms", "%.3f").c_str(),
                cell("bf16_mean", "%.3f").c_str(), cell("bf16_max", "%.0f").c_str(),
                cell("bf16_over2", "%.5f").c_str(), cell("f16_rms", "%.3f").c_str(), cell("f16_max", "%.0f").c_str(),
                cell("x264_rms", "%.3f").c_str());
    JsonLine line("precision");
    line.add("style", style).add("device", gOpt.device);
    for (const char* k : {"bf16_rms", "bf16_mean", "bf16_max", "bf16_over2", "f16_rms", "f16_mean", "f16_max",
                          "f16_over2", "x264_rms", "x264_max"}) {
      if (r.values.count(style + "_" + k)) line.add(k, r.get(style + "_" + k));
    }
    line.print();
  }
  std::printf("  (differences of the 8-bit outputs from float32's, on 0..255; >2 = fraction of values off by more\n"
              "   than 2; x264 rms = float32's output after x264 crf 18 yuv420p and back, for scale;\n"
              "   --precision auto keeps a reduced format when its rms on the first batch is <= 1.0)\n");
}

}  // namespace

Benchmark precisionBenchmark() {
  return {"precision", "bfloat16 (float16 on CUDA) vs float32 outputs, nine ml5 styles at 640x360", true, benchPrecision, {{"_precision", childPrecision}}};
}

}  // namespace flowstyle::bench
