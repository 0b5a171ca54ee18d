#pragma once
// Colour preservation (--preserve-colors), shared by the optimizer and the single-pass
// networks: the stylized picture's luma with the content's chroma.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace flowstyle::models {

// stylized: CV_32FC3 RGB in [0,1]; content: CV_8UC3 RGB of the same size. Returns
// CV_32FC3 RGB in [0,1]: Y of the stylized picture (YCrCb), Cr and Cb of the content.
inline cv::Mat keepContentColors(const cv::Mat& stylized, const cv::Mat& content) {
  CV_Assert(stylized.type() == CV_32FC3 && content.type() == CV_8UC3 && stylized.size() == content.size());
  cv::Mat contentF, yOut, yContent, out;
  content.convertTo(contentF, CV_32FC3, 1.0 / 255.0);
  cv::cvtColor(stylized, yOut, cv::COLOR_RGB2YCrCb);
  cv::cvtColor(contentF, yContent, cv::COLOR_RGB2YCrCb);
  cv::Mat chans[3], contentChans[3];
  cv::split(yOut, chans);
  cv::split(yContent, contentChans);
  chans[1] = contentChans[1];
  chans[2] = contentChans[2];
  cv::merge(chans, 3, yOut);
  cv::cvtColor(yOut, out, cv::COLOR_YCrCb2RGB);
  cv::min(cv::max(out, 0.0), 1.0, out);
  return out;
}

}  // namespace flowstyle::models
