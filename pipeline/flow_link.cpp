#include "pipeline/flow_link.hpp"

namespace flowstyle::pipeline {

FlowLink flowToEarlier(stages::FlowEstimator& estimator, const cv::Mat& gray, const cv::Mat& earlierGray) {
  FlowLink link;
  link.flow = estimator(gray, earlierGray);
  const cv::Mat backward = estimator(earlierGray, gray);
  link.certainty = stages::certaintySoft(stages::certaintyHard(link.flow, backward));
  return link;
}

bool isShotChange(const FlowLink& link) {
  return !link.certainty.empty() && cv::mean(link.certainty)[0] < kShotChangeCertainty;
}

}  // namespace flowstyle::pipeline
