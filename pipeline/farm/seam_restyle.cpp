#include "pipeline/farm/seam_restyle.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "pipeline/flow_link.hpp"
#include "pipeline/image_ops.hpp"

namespace flowstyle::pipeline {

double landingHold(double weight, double hold) {
  if (hold <= 0) return 1;
  const double free = 1.0 - std::clamp(weight, 0.0, 1.0);
  if (free <= 0) return kMaxHold;
  return std::min(kMaxHold, std::pow(free, -hold));
}

models::TemporalGuide warpedGuide(stages::FlowEstimator& estimator, const cv::Mat& content,
                                  const cv::Mat& earlierContent, const cv::Mat& earlierStylized) {
  const FlowLink link = flowToEarlier(estimator, stages::toGray(content), stages::toGray(earlierContent));
  models::TemporalGuide guide;
  guide.certainty = link.certainty;
  guide.warped = stages::warp(earlierStylized, link.flow);
  return guide;
}

std::vector<cv::Mat> restyleSeam(FrameStylizer& stylizer, const SeamFrames& seam, const stages::FlowConfig& flow,
                                 std::vector<int> offsets,
                                 const std::function<void(std::int64_t, int, int)>& onFrame) {
  const std::int64_t last = seam.from + static_cast<std::int64_t>(seam.source.size()) - 1;
  const int width = static_cast<int>(last - seam.blendFirst + 1);
  if (seam.blendFirst < seam.from || width <= 0 || seam.earlier.size() != seam.source.size() ||
      seam.later.size() != static_cast<std::size_t>(width) || seam.weights.size() != static_cast<std::size_t>(width)) {
    throw std::logic_error("restyleSeam: the seam's frames do not line up");
  }
  if (offsets.empty()) offsets = {1};
  auto at = [&](const std::vector<cv::Mat>& v, std::int64_t n) -> const cv::Mat& {
    return v[static_cast<std::size_t>(n - seam.from)];
  };
  auto weightOf = [&](std::int64_t n) {
    return n < seam.blendFirst ? 0.0 : seam.weights[static_cast<std::size_t>(n - seam.blendFirst)];
  };
  // The joined frames so far (CV_32FC3 [0,1]): the earlier part's before the fade.
  std::map<std::int64_t, cv::Mat> joined;
  for (std::int64_t n = seam.from; n < seam.blendFirst; ++n) joined[n] = toFloat01(at(seam.earlier, n));

  stages::FlowEstimator estimator(flow);
  std::vector<cv::Mat> out;
  // The stylizer's batched pre-pass (hybrid's network), in its own batch size.
  std::vector<cv::Mat> prepared;
  const int batch = std::max(1, stylizer.batchSize());
  for (std::int64_t n = seam.blendFirst; n <= last; n += batch) {
    std::vector<cv::Mat> contents;
    for (std::int64_t m = n; m <= std::min<std::int64_t>(last, n + batch - 1); ++m) contents.push_back(at(seam.source, m));
    std::vector<cv::Mat> part = stylizer.prepareBatch(contents);
    if (part.size() != contents.size()) {
      prepared.clear();
      break;
    }
    prepared.insert(prepared.end(), part.begin(), part.end());
  }
  for (std::int64_t n = seam.blendFirst; n <= last; ++n) {
    const std::size_t i = static_cast<std::size_t>(n - seam.blendFirst);
    const double w = seam.weights[i];
    const cv::Mat later = toFloat01(seam.later[i]);
    if (w >= 1.0 - 1e-6) {
      // The fade has arrived: the later part's own frame, so that its chain goes on unbroken.
      joined[n] = later;
      out.push_back(seam.later[i].clone());
      if (onFrame) onFrame(n, static_cast<int>(i) + 1, width);
      continue;
    }
    StylizeRequest request;
    request.index = n;
    request.content = at(seam.source, n);
    if (i < prepared.size()) request.prepared = prepared[i];
    cv::Mat covered;
    for (int k : offsets) {
      auto it = joined.find(n - k);
      if (it == joined.end()) continue;
      models::TemporalGuide guide = warpedGuide(estimator, at(seam.source, n), at(seam.source, n - k), it->second);
      const cv::Mat certainty = guide.certainty;
      const double wk = weightOf(n - k);
      const double alpha = wk < 1.0 ? std::clamp((w - wk) / (1.0 - wk), 0.0, 1.0) : 1.0;
      const cv::Mat warped = guide.warped;
      cv::Mat moved = warped + (later - warped) * alpha;  // a new buffer: warped is not written over
      guide.warped = moved;
      if (request.init.empty()) {
        // Where the flow is uncertain, the cross-fade of the two parts' own frames.
        cv::Mat fade;
        cv::addWeighted(toFloat01(at(seam.earlier, n)), 1.0 - w, later, w, 0.0, fade);
        request.init = blendByWeight(fade, guide.warped, certainty);
      }
      guide.certainty = stages::claimUncovered(certainty, covered);
      request.guides.push_back(std::move(guide));
    }
    const double holdFactor = landingHold(w, seam.hold);
    for (models::TemporalGuide& g : request.guides) g.weight = holdFactor;
    if (request.guides.empty()) {
      // No earlier joined frame (the earlier part starts inside the fade): the cross-fade.
      cv::addWeighted(toFloat01(at(seam.earlier, n)), 1.0 - w, later, w, 0.0, request.init);
    }
    StylizeOutcome outcome = stylizer.stylize(request);
    if (outcome.image.empty() || outcome.image.size() != request.content.size() || outcome.image.type() != CV_32FC3) {
      throw std::logic_error("stylizer returned an image of the wrong size or type");
    }
    joined[n] = outcome.image;
    out.push_back(toByte(outcome.image));
    if (onFrame) onFrame(n, static_cast<int>(i) + 1, width);
  }
  return out;
}

}  // namespace flowstyle::pipeline
