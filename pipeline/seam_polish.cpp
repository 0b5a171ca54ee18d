#include "pipeline/seam_polish.hpp"

#include <stdexcept>

#include "pipeline/image_ops.hpp"
#include "pipeline/seam_restyle.hpp"

namespace flowstyle::pipeline {

double polishAnchor(double weight, double polish) { return landingHold(weight, polish) - 1.0; }

std::vector<cv::Mat> polishSeam(FrameStylizer& stylizer, const PolishFrames& frames, const stages::FlowConfig& flow,
                                const std::function<void(int, bool)>& onFrame) {
  const std::size_t width = frames.fade.size();
  if (frames.source.size() != width + 1 || frames.weights.size() != width || frames.handoff.size() != width) {
    throw std::logic_error("polishSeam: the fade's frames do not line up");
  }
  stages::FlowEstimator estimator(flow);
  std::vector<cv::Mat> out(frames.fade.begin(), frames.fade.end());
  cv::Mat previous = frames.before.empty() ? cv::Mat() : toFloat01(frames.before);  // CV_32FC3, polished
  for (std::size_t i = 0; i < width; ++i) {
    if (frames.handoff[i] >= 1.0) {
      // The later part's own frame: its chain goes on unbroken from here.
      previous = toFloat01(out[i]);
      if (onFrame) onFrame(static_cast<int>(i), false);
      continue;
    }
    StylizeRequest request;
    request.index = static_cast<std::int64_t>(i);
    request.content = frames.source[i + 1];
    request.init = toFloat01(frames.fade[i]);
    if (!previous.empty()) request.guides.push_back(warpedGuide(estimator, request.content, frames.source[i], previous));
    const double anchor = polishAnchor(frames.weights[i], frames.polish);
    if (anchor > 0) {
      models::TemporalGuide guide;
      guide.warped = request.init;
      guide.certainty = cv::Mat(request.content.size(), CV_32FC1, cv::Scalar(1.0f));
      guide.weight = anchor;
      request.guides.push_back(std::move(guide));
    }
    if (request.guides.empty()) {
      // Nothing before the fade and no anchor yet (a fade at the clip's first frame): a frame
      // with no temporal term would be painted anew, with the first frame's budget.
      previous = request.init;
      if (onFrame) onFrame(static_cast<int>(i), false);
      continue;
    }
    StylizeOutcome outcome = stylizer.stylize(request);
    if (outcome.image.empty() || outcome.image.size() != request.content.size() || outcome.image.type() != CV_32FC3) {
      throw std::logic_error("stylizer returned an image of the wrong size or type");
    }
    previous = outcome.image;
    out[i] = toByte(outcome.image);
    if (onFrame) onFrame(static_cast<int>(i), true);
  }
  return out;
}

}  // namespace flowstyle::pipeline
