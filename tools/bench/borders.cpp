// flowstyle-bench borders: how much of the coloured frame the ml5 networks paint along the
// picture's borders each reflect pad removes, and what the pad costs.
//
// For each style and pad (FastNetworkOptions::borderPad), at 640x360, float32:
//   flat  = a uniform grey frame (128): the largest channel difference of the mean of the
//           8-px border band from the mean of the interior (16 px or more from every edge),
//           0..255. A stationary texture gives ~0; the painted frame gives several units.
//   band  = a chaplin frame: mean |output - output with a 128-px pad| in the 8-px border
//           band, 0..255 (the 128-px pad stands in for "no border"); inner = the same in the
//           interior, the scale of what any pad changes elsewhere.
//   ms    = one network call at that pad (batch 1, median of 3).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "models/device.hpp"
#include "models/fast_network.hpp"

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

constexpr int kBand = 8;
const std::vector<int> kDefaultPads = {0, 16, 32, 48, 64};
constexpr int kReferencePad = 128;

cv::Mat bandMask(cv::Size size, int band) {
  cv::Mat m(size, CV_8U, cv::Scalar(255));
  m(cv::Rect(band, band, size.width - 2 * band, size.height - 2 * band)).setTo(0);
  return m;
}

double flatBorderDiff(const cv::Mat& out) {
  const cv::Mat band = bandMask(out.size(), kBand);
  cv::Mat inner(out.size(), CV_8U, cv::Scalar(0));
  inner(cv::Rect(2 * kBand, 2 * kBand, out.cols - 4 * kBand, out.rows - 4 * kBand)).setTo(255);
  const cv::Scalar a = cv::mean(out, band), b = cv::mean(out, inner);
  double worst = 0;
  for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(a[c] - b[c]));
  return worst;
}

void meanAbsDiff(const cv::Mat& a, const cv::Mat& b, double& band, double& inner) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Mat mask = bandMask(a.size(), kBand);
  const cv::Scalar sb = cv::mean(d, mask), si = cv::mean(d, ~mask);
  band = (sb[0] + sb[1] + sb[2]) / 3;
  inner = (si[0] + si[1] + si[2]) / 3;
}

// Child: _borders PADS STYLE...  (PADS comma-separated)
int childBorders(const std::vector<std::string>& args) {
  if (args.size() < 2) usage("_borders PADS STYLE...");
  const std::vector<int> kPads = parseInts(args[0], "_borders PADS");
  const std::vector<std::string> a(args.begin() + 1, args.end());
  emit("threads", models::configureTorchThreads(gOpt.threads));
  const cv::Size size(640, 360);
  cv::Mat natural;
  cv::resize(readFrames(chaplinPath(), 11, 0).back(), natural, size, 0, 0, cv::INTER_AREA);
  const cv::Mat flat(size, CV_8UC3, cv::Scalar(128, 128, 128));
  for (const std::string& style : a) {
    auto run = [&](int pad, const cv::Mat& img) {
      models::FastNetworkOptions o;
      o.borderPad = pad;
      models::FastStyleNetwork net(sharedPath("models/ml5/" + style), gOpt.device, o);
      return net({img}).front();
    };
    const cv::Mat reference = run(kReferencePad, natural);
    for (int pad : kPads) {
      const std::string key = style + "_" + std::to_string(pad);
      emit(key + "_flat", flatBorderDiff(run(pad, flat)));
      double band = 0, inner = 0;
      meanAbsDiff(run(pad, natural), reference, band, inner);
      emit(key + "_band", band);
      emit(key + "_inner", inner);
    }
  }
  // Cost of each pad, on one style (the network is the same for all).
  models::FastNetworkOptions o;
  for (int pad : kPads) {
    o.borderPad = pad;
    models::FastStyleNetwork net(sharedPath("models/ml5/" + a.front()), gOpt.device, o);
    net({natural});  // warm-up
    std::vector<double> s;
    for (int k = 0; k < 3; ++k) {
      const auto t0 = Clock::now();
      net({natural});
      s.push_back(secondsSince(t0));
    }
    emit("ms_" + std::to_string(pad), median(s) * 1000);
  }
  return 0;
}

const std::vector<std::string> kStyles = {"la_muse", "mathura", "matilde_perez", "matta", "rain_princess",
                                          "scream",  "udnie",   "wave",          "wreck"};

void benchBorders() {
  printHeader("borders: the frame painted along the borders by reflect pad, ml5 styles at 640x360, float32 (device " +
              gOpt.device + ")");
  const std::vector<int> kPads = gOpt.sizes.empty() ? kDefaultPads : gOpt.sizes;
  std::string pads;
  for (int p : kPads) pads += (pads.empty() ? "" : ",") + std::to_string(p);
  std::vector<std::string> args = {"_borders", pads};
  args.insert(args.end(), kStyles.begin(), kStyles.end());
  ChildResult r = runSelf(args);
  if (!r.ok()) {
    reportFailure("borders", r);
    return;
  }
  std::printf("  %-14s", "style / pad");
  for (int pad : kPads) std::printf(" %15d", pad);
  std::printf("\n");
  for (const std::string& style : kStyles) {
    std::printf("  %-14s", style.c_str());
    for (int pad : kPads) {
      const std::string key = style + "_" + std::to_string(pad);
      std::printf("  %5.1f %4.1f/%4.1f", r.get(key + "_flat"), r.get(key + "_band"), r.get(key + "_inner"));
    }
    std::printf("\n");
    for (int pad : kPads) {
      const std::string key = style + "_" + std::to_string(pad);
      JsonLine("borders").add("style", style).add("pad", pad).add("flat_band_diff", r.get(key + "_flat"))
          .add("natural_band_diff", r.get(key + "_band")).add("natural_inner_diff", r.get(key + "_inner"))
          .add("load", loadAvg()).print();
    }
  }
  std::printf("  %-14s", "ms / frame");
  for (int pad : kPads) std::printf(" %15.0f", r.get("ms_" + std::to_string(pad)));
  std::printf("\n");
  JsonLine line("borders_cost");
  for (int pad : kPads) line.add("ms_pad_" + std::to_string(pad), r.get("ms_" + std::to_string(pad)));
  line.add("load", loadAvg()).print();
  std::printf("  (each cell: flat band-vs-interior mean difference, then chaplin band / interior difference from a\n"
              "   %d-px pad, all 0..255; %d-px band; ms = one float32 call of la_muse with that pad, median of 3)\n",
              kReferencePad, kBand);
}

}  // namespace

Benchmark bordersBenchmark() {
  return {"borders", "reflect pad against the painted border frame, nine ml5 styles at 640x360 [--sizes PADS]", false, benchBorders,
          {{"_borders", childBorders}}};
}

}  // namespace flowstyle::bench
