#pragma once
// Small per-pixel helpers shared by the graph and the stylizers.
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace flowstyle::pipeline {

// A frame at the working size, as the prepare stage makes it: area averaging to shrink,
// bicubic to enlarge; the frame itself when it has that size already.
inline cv::Mat toWorkSize(const cv::Mat& rgb, cv::Size size) {
  if (rgb.size() == size) return rgb;
  cv::Mat resized;
  const bool shrink = size.area() < rgb.size().area();
  cv::resize(rgb, resized, size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  return resized;
}

// CV_8UC3 -> CV_32FC3 in [0, 1].
inline cv::Mat toFloat01(const cv::Mat& rgb8) {
  cv::Mat f;
  rgb8.convertTo(f, CV_32FC3, 1.0 / 255.0);
  return f;
}

// CV_32FC3 in [0, 1] -> CV_8UC3 (rounded, saturated).
inline cv::Mat toByte(const cv::Mat& rgb01) {
  cv::Mat b;
  rgb01.convertTo(b, CV_8UC3, 255.0);
  return b;
}

// a * (1 - w) + b * w per pixel; a, b: CV_32FC3, w: CV_32FC1 in [0, 1].
inline cv::Mat blendByWeight(const cv::Mat& a, const cv::Mat& b, const cv::Mat& w) {
  cv::Mat w3;
  cv::merge(std::vector<cv::Mat>{w, w, w}, w3);
  return a + (b - a).mul(w3);
}

}  // namespace flowstyle::pipeline
