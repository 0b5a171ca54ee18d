// flowstyle-bench flow: ms per frame pair (forward + backward flow + certainty) per flow method.
#include <cstdio>
#include <string>
#include <vector>
#include <algorithm>

#include "stages/flow.hpp"

#include "tools/bench/harness.hpp"

namespace flowstyle::bench {
namespace {

struct FlowCase {
  std::string id, name;
  stages::FlowMethod method;
  std::string preset;
};
const std::vector<FlowCase> kFlowCases = {{"dis_ultrafast", "dis ultrafast", stages::FlowMethod::Dis, "ultrafast"},
                                          {"dis_fast", "dis fast", stages::FlowMethod::Dis, "fast"},
                                          {"dis_medium", "dis medium", stages::FlowMethod::Dis, "medium"},
                                          {"farneback", "farneback", stages::FlowMethod::Farneback, "medium"},
                                          {"deepflow", "deepflow", stages::FlowMethod::DeepFlow, "medium"}};

// Child: _flow PAIRS — the pipeline's per-pair flow work, one estimator per method.
int childFlow(const std::vector<std::string>& a) {
  const int pairs = a.empty() ? 5 : std::stoi(a[0]);
  std::vector<cv::Mat> rgb = readFrames(chaplinPath(), pairs + 2, 0);
  std::vector<cv::Mat> gray;
  for (const cv::Mat& f : rgb) gray.push_back(stages::toGray(f));
  emit("width", gray[0].cols);
  emit("height", gray[0].rows);
  for (const FlowCase& c : kFlowCases) {
    stages::FlowConfig fc;
    fc.method = c.method;
    fc.disPreset = c.preset;
    stages::FlowEstimator est(fc);
    std::vector<double> ms;
    for (int i = 0; i <= pairs && i + 1 < static_cast<int>(gray.size()); ++i) {
      const cv::Mat& cur = gray[i + 1];
      const cv::Mat& earlier = gray[i];
      const auto t0 = Clock::now();
      cv::Mat fwd = est(cur, earlier);
      cv::Mat bwd = est(earlier, cur);
      cv::Mat cert = stages::certaintySoft(stages::certaintyHard(fwd, bwd));
      const double t = secondsSince(t0) * 1000;
      if (i > 0) ms.push_back(t);  // i == 0: warm-up
    }
    emit(c.id + "_median", median(ms));
    emit(c.id + "_min", *std::min_element(ms.begin(), ms.end()));
    emit(c.id + "_max", *std::max_element(ms.begin(), ms.end()));
    emit(c.id + "_pairs", static_cast<double>(ms.size()));
  }
  return 0;
}

void benchFlow() {
  printHeader("flow: ms per frame pair (forward + backward + soft certainty), chaplin");
  const int pairs = 5;
  ChildResult r = runSelf({"_flow", std::to_string(pairs)});
  if (!r.ok()) {
    reportFailure("flow", r);
    return;
  }
  const std::string dims = fmt("%.0f", r.get("width")) + "x" + fmt("%.0f", r.get("height"));
  std::printf("  %-14s %9s %9s %9s %7s   (%s, %d pairs after 1 warm-up pair; OpenCV threads default)\n", "method",
              "median ms", "min ms", "max ms", "pairs", dims.c_str(), pairs);
  for (const FlowCase& c : kFlowCases) {
    std::printf("  %-14s %9.1f %9.1f %9.1f %7.0f\n", c.name.c_str(), r.get(c.id + "_median"), r.get(c.id + "_min"),
                r.get(c.id + "_max"), r.get(c.id + "_pairs"));
    JsonLine("flow").add("method", c.name).add("size", dims).add("median_ms", r.get(c.id + "_median"))
        .add("min_ms", r.get(c.id + "_min")).add("max_ms", r.get(c.id + "_max"))
        .add("pairs", r.get(c.id + "_pairs")).add("load", loadAvg()).print();
  }
}

}  // namespace

Benchmark flowBenchmark() {
  return {"flow", "ms per frame pair (fwd + bwd + certainty) at 640x360 on chaplin", true, benchFlow, {{"_flow", childFlow}}};
}

}  // namespace flowstyle::bench
