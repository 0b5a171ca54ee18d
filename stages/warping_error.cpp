#include "stages/warping_error.hpp"

#include <stdexcept>
#include <string>

namespace flowstyle::stages {

namespace {

std::string sizeText(const cv::Mat& m) {
  return std::to_string(m.cols) + "x" + std::to_string(m.rows);
}

cv::Mat toUnitFloat(const cv::Mat& rgb) {
  cv::Mat out;
  rgb.convertTo(out, CV_32FC3, 1.0 / 255.0);
  return out;
}

// sum V * |prev - warp(next, forward)|^2 over pixels and channels.
double weightedSquaredError(const cv::Mat& prev, const cv::Mat& next, const cv::Mat& forward,
                            const cv::Mat& visible) {
  const cv::Mat d = prev - warp(next, forward);
  return visibleDot(d, d, visible);
}

}  // namespace

double visibleDot(const cv::Mat& x, const cv::Mat& y, const cv::Mat& visible) {
  double sum = 0;
  for (int r = 0; r < x.rows; ++r) {
    const auto* a = x.ptr<cv::Vec3f>(r);
    const auto* b = y.ptr<cv::Vec3f>(r);
    const auto* v = visible.ptr<float>(r);
    for (int c = 0; c < x.cols; ++c) {
      if (v[c] != 0.f) sum += static_cast<double>(v[c]) * a[c].dot(b[c]);
    }
  }
  return sum;
}

WarpingErrorMeter::WarpingErrorMeter(const FlowConfig& flow) : flow_(flow) {}

void WarpingErrorMeter::add(const cv::Mat& original, const cv::Mat& stylized) {
  const std::string frame = "warping error: frame " + std::to_string(count_);
  if (original.type() != CV_8UC3 || stylized.type() != CV_8UC3) {
    throw std::runtime_error(frame + ": original and stylized must be CV_8UC3 RGB");
  }
  if (original.size() != stylized.size()) {
    throw std::runtime_error(frame + ": stylized frame is " + sizeText(stylized) +
                             " but the original is " + sizeText(original) +
                             "; both videos must have the same size (resize one first)");
  }
  if (!prevOriginal_.empty() && original.size() != prevOriginal_.size()) {
    throw std::runtime_error(frame + ": size changed from " + sizeText(prevOriginal_) + " to " +
                             sizeText(original) + "; every frame must have the same size");
  }
  cv::Mat gray = toGray(original);
  cv::Mat originalF = toUnitFloat(original);
  cv::Mat stylizedF = toUnitFloat(stylized);

  if (!prevOriginal_.empty()) {
    const cv::Mat forward = flow_(prevOriginalGray_, gray);
    const cv::Mat backward = flow_(gray, prevOriginalGray_);
    const cv::Mat visible = certaintyHard(forward, backward);
    const double sumV = cv::sum(visible)[0];
    PairError pair;
    pair.index = count_ - 1;
    if (sumV > 0) {
      pair.stylized = weightedSquaredError(prevStylized_, stylizedF, forward, visible) / (3 * sumV);
      pair.original = weightedSquaredError(prevOriginal_, originalF, forward, visible) / (3 * sumV);
      pair.visibleFraction = sumV / static_cast<double>(visible.total());
    }
    report_.pairs.push_back(pair);
  }
  prevOriginalGray_ = gray;
  prevOriginal_ = originalF;
  prevStylized_ = stylizedF;
  ++count_;
}

WarpingErrorReport WarpingErrorMeter::report() const {
  WarpingErrorReport out = report_;
  double sumS = 0, sumO = 0;
  int counted = 0;
  for (const PairError& p : out.pairs) {
    if (p.visibleFraction <= 0) continue;
    sumS += p.stylized;
    sumO += p.original;
    ++counted;
  }
  out.meanStylized = counted > 0 ? sumS / counted : 0;
  out.meanOriginal = counted > 0 ? sumO / counted : 0;
  return out;
}

}  // namespace flowstyle::stages
