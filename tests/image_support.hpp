#pragma once
// Picture helpers for tests that compare network outputs with golden images.
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace flowstyle::test {

// An image file as CV_8UC3 RGB; empty when it cannot be read.
inline cv::Mat readRgb(const std::string& path) {
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR), rgb;
  if (bgr.empty()) return bgr;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// Largest and mean absolute difference over every channel of two same-sized images.
struct ImageDiff {
  double max = 0, mean = 0;
};
inline ImageDiff imageDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  ImageDiff r;
  cv::minMaxLoc(d.reshape(1), nullptr, &r.max);
  r.mean = cv::mean(d.reshape(1))[0];
  return r;
}

}  // namespace flowstyle::test
