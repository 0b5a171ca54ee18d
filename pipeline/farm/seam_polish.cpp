#include "pipeline/farm/seam_polish.hpp"

#include <algorithm>
#include <stdexcept>

#include "pipeline/farm/seam_restyle.hpp"
#include "pipeline/image_ops.hpp"

namespace flowstyle::pipeline {

double polishAnchor(double weight, double polish) { return landingHold(weight, polish) - 1.0; }

std::vector<bool> repeatedFrames(const std::vector<cv::Mat>& source, std::size_t width) {
  std::vector<double> change;
  for (std::size_t i = 0; i < width && i + 1 < source.size(); ++i) {
    const cv::Mat& a = source[i];
    const cv::Mat& b = source[i + 1];
    change.push_back(cv::norm(a, b, cv::NORM_L2SQR) / (255.0 * 255.0 * static_cast<double>(a.total() * a.channels())));
  }
  std::vector<double> sorted = change;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
  std::vector<bool> repeated(width, false);
  for (std::size_t i = 0; i < change.size(); ++i) repeated[i] = change[i] < kRepeatShare * median;
  return repeated;
}

std::vector<cv::Mat> polishSeam(FrameStylizer& stylizer, const PolishFrames& frames, const stages::FlowConfig& flow,
                                const std::function<void(int, bool)>& onFrame) {
  const std::size_t width = frames.fade.size();
  if (frames.source.size() != width + 2 || frames.weights.size() != width || frames.handoff.size() != width ||
      (frames.lookahead > 0 && frames.after.empty())) {
    throw std::logic_error("polishSeam: the fade's frames do not line up");
  }
  stages::FlowEstimator estimator(flow);
  std::vector<cv::Mat> out(frames.fade.begin(), frames.fade.end());
  cv::Mat previous = frames.before.empty() ? cv::Mat() : toFloat01(frames.before);  // CV_32FC3, polished
  const std::vector<bool> repeated = repeatedFrames(frames.source, width);
  for (std::size_t i = 0; i < width; ++i) {
    if (frames.handoff[i] >= 1.0) {
      // The later part's own frame: its chain goes on unbroken from here.
      previous = toFloat01(out[i]);
      if (onFrame) onFrame(static_cast<int>(i), false);
      continue;
    }
    if (repeated[i] && !previous.empty()) {
      // A repeated source frame: the polished frame before it, as an uninterrupted run paints
      // it, plus what the handoff changed on the pair (nothing where it kept v steady).
      const cv::Mat& joinedBefore = i == 0 ? frames.before : frames.fade[i - 1];
      cv::Mat change = toFloat01(frames.fade[i]) - toFloat01(joinedBefore);
      previous = previous + change;
      out[i] = toByte(previous);
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
      if (frames.lookahead > 0) {
        // The look-ahead: the next joined frame (the later part's own after the fade), moved back.
        const cv::Mat& next = i + 1 < width ? frames.fade[i + 1] : frames.after;
        models::TemporalGuide ahead = warpedGuide(estimator, request.content, frames.source[i + 2], toFloat01(next));
        ahead.weight = frames.lookahead * anchor;
        request.guides.push_back(std::move(ahead));
      }
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
