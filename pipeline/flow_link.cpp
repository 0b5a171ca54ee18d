#include "pipeline/flow_link.hpp"

namespace flowstyle::pipeline {

FlowLink flowToEarlier(stages::FlowEstimator& estimator, const cv::Mat& gray, const cv::Mat& earlierGray) {
  FlowLink link;
  link.flow = estimator(gray, earlierGray);
  const cv::Mat backward = estimator(earlierGray, gray);
  link.certainty = stages::certaintySoft(stages::certaintyHard(link.flow, backward));
  return link;
}

}  // namespace flowstyle::pipeline
