#include "stages/flow.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <opencv2/imgproc.hpp>
#include <opencv2/optflow.hpp>
#include <opencv2/video/tracking.hpp>

namespace flowstyle::stages {

namespace {

// Below this side DIS picks a negative pyramid depth; pad small frames up to it.
constexpr int kMinEstimatorSide = 64;

std::string sizeText(const cv::Mat& m) {
  return std::to_string(m.cols) + "x" + std::to_string(m.rows);
}

int disPresetId(const std::string& preset) {
  if (preset == "ultrafast") return cv::DISOpticalFlow::PRESET_ULTRAFAST;
  if (preset == "fast") return cv::DISOpticalFlow::PRESET_FAST;
  if (preset == "medium") return cv::DISOpticalFlow::PRESET_MEDIUM;
  throw std::runtime_error("flow: unknown DIS preset '" + preset +
                           "'; valid presets: ultrafast, fast, medium");
}

cv::Mat grayForFlow(const cv::Mat& image, const char* which) {
  if (image.type() != CV_8UC1 && image.type() != CV_8UC3) {
    throw std::runtime_error(std::string("flow: '") + which +
                             "' frame must be CV_8UC1 or CV_8UC3 RGB, got type " +
                             std::to_string(image.type()));
  }
  return toGray(image);
}

}  // namespace

FlowMethod parseFlowMethod(const std::string& name) {
  if (name == "dis") return FlowMethod::Dis;
  if (name == "deepflow") return FlowMethod::DeepFlow;
  if (name == "farneback") return FlowMethod::Farneback;
  throw std::runtime_error("flow: unknown flow method '" + name +
                           "'; valid methods: dis, deepflow, farneback");
}

std::string toString(FlowMethod method) {
  switch (method) {
    case FlowMethod::Dis: return "dis";
    case FlowMethod::DeepFlow: return "deepflow";
    case FlowMethod::Farneback: return "farneback";
  }
  return "unknown";
}

FlowEstimator::FlowEstimator(const FlowConfig& config) : config_(config) {
  switch (config_.method) {
    case FlowMethod::Dis:
      algorithm_ = cv::DISOpticalFlow::create(disPresetId(config_.disPreset));
      break;
    case FlowMethod::DeepFlow:
      algorithm_ = cv::optflow::createOptFlow_DeepFlow();
      break;
    case FlowMethod::Farneback:
      // numLevels, pyrScale, fastPyramids, winSize, numIters, polyN, polySigma, flags
      algorithm_ = cv::FarnebackOpticalFlow::create(4, 0.5, false, 15, 3, 5, 1.2, 0);
      break;
  }
  if (!algorithm_) throw std::runtime_error("flow: could not create the flow algorithm");
}

cv::Mat FlowEstimator::operator()(const cv::Mat& from, const cv::Mat& to) {
  if (from.empty() || to.empty()) throw std::runtime_error("flow: empty frame");
  if (from.size() != to.size()) {
    throw std::runtime_error("flow: frames differ in size (" + sizeText(from) + " vs " +
                             sizeText(to) + "); both must have the same size");
  }
  if (from.cols < 2 || from.rows < 2) {
    throw std::runtime_error("flow: frame " + sizeText(from) + " is too small (at least 2x2)");
  }
  cv::Mat a = grayForFlow(from, "from");
  cv::Mat b = grayForFlow(to, "to");

  const cv::Size full = a.size();
  cv::Size work = full;
  const int longSide = std::max(full.width, full.height);
  if (config_.maxSide > 0 && longSide > config_.maxSide) {
    const double s = static_cast<double>(config_.maxSide) / longSide;
    work = cv::Size(std::max(2, static_cast<int>(std::lround(full.width * s))),
                    std::max(2, static_cast<int>(std::lround(full.height * s))));
    cv::Mat as, bs;
    cv::resize(a, as, work, 0, 0, cv::INTER_AREA);
    cv::resize(b, bs, work, 0, 0, cv::INTER_AREA);
    a = as;
    b = bs;
  }

  // Pad tiny frames so every estimator has a valid pyramid; crop afterwards.
  const int padX = std::max(0, kMinEstimatorSide - work.width);
  const int padY = std::max(0, kMinEstimatorSide - work.height);
  if (padX > 0 || padY > 0) {
    cv::Mat ap, bp;
    cv::copyMakeBorder(a, ap, 0, padY, 0, padX, cv::BORDER_REPLICATE);
    cv::copyMakeBorder(b, bp, 0, padY, 0, padX, cv::BORDER_REPLICATE);
    a = ap;
    b = bp;
  }
  // DIS asserts continuous input.
  if (!a.isContinuous()) a = a.clone();
  if (!b.isContinuous()) b = b.clone();

  cv::Mat flow;
  algorithm_.staticCast<cv::DenseOpticalFlow>()->calc(a, b, flow);
  if (padX > 0 || padY > 0) flow = flow(cv::Rect(0, 0, work.width, work.height)).clone();

  if (work != full) {
    cv::Mat up;
    cv::resize(flow, up, full, 0, 0, cv::INTER_LINEAR);
    const float sx = static_cast<float>(full.width) / work.width;
    const float sy = static_cast<float>(full.height) / work.height;
    up.forEach<cv::Vec2f>([sx, sy](cv::Vec2f& v, const int*) {
      v[0] *= sx;
      v[1] *= sy;
    });
    flow = up;
  }
  return flow;
}

cv::Mat toGray(const cv::Mat& rgb) {
  if (rgb.type() == CV_8UC1) return rgb;
  if (rgb.type() != CV_8UC3) {
    throw std::runtime_error("toGray: expected CV_8UC3 RGB (or CV_8UC1), got type " +
                             std::to_string(rgb.type()));
  }
  cv::Mat gray;
  cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
  return gray;
}

cv::Mat excludeCovered(const cv::Mat& certainty, const cv::Mat& coveredSoFar) {
  if (certainty.type() != CV_32FC1) {
    throw std::runtime_error("excludeCovered: certainty must be CV_32FC1");
  }
  if (coveredSoFar.empty()) return certainty.clone();
  if (coveredSoFar.type() != CV_32FC1 || coveredSoFar.size() != certainty.size()) {
    throw std::runtime_error("excludeCovered: coveredSoFar must be CV_32FC1 of the certainty's size (" +
                             sizeText(certainty) + "), got " + sizeText(coveredSoFar));
  }
  cv::Mat out;
  cv::subtract(certainty, coveredSoFar, out);
  cv::max(out, 0.0, out);
  return out;
}

cv::Mat claimUncovered(const cv::Mat& certainty, cv::Mat& covered) {
  cv::Mat own = excludeCovered(certainty, covered);
  covered = covered.empty() ? own.clone() : cv::Mat(cv::min(covered + own, 1.0));
  return own;
}

cv::Mat warp(const cv::Mat& image, const cv::Mat& flow) {
  if (image.empty()) throw std::runtime_error("warp: empty image");
  if (flow.type() != CV_32FC2) throw std::runtime_error("warp: flow must be CV_32FC2");
  cv::Mat map(flow.size(), CV_32FC2);
  for (int y = 0; y < flow.rows; ++y) {
    const auto* f = flow.ptr<cv::Vec2f>(y);
    auto* m = map.ptr<cv::Vec2f>(y);
    for (int x = 0; x < flow.cols; ++x) {
      m[x] = cv::Vec2f(static_cast<float>(x) + f[x][0], static_cast<float>(y) + f[x][1]);
    }
  }
  cv::Mat out;
  cv::remap(image, out, map, cv::noArray(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return out;
}

cv::Mat certaintyHard(const cv::Mat& forward, const cv::Mat& backward) {
  if (forward.type() != CV_32FC2 || backward.type() != CV_32FC2) {
    throw std::runtime_error("certaintyHard: forward and backward must be CV_32FC2");
  }
  if (forward.empty() || backward.empty()) {
    throw std::runtime_error("certaintyHard: empty flow");
  }
  const cv::Mat bTilde = warp(backward, forward);
  const int w = forward.cols, h = forward.rows;
  // The frame is the image area [-0.5, W - 0.5] x [-0.5, H - 0.5] around the pixel centres.
  const float minXY = -0.5f;
  const float maxX = static_cast<float>(backward.cols) - 0.5f;
  const float maxY = static_cast<float>(backward.rows) - 0.5f;
  cv::Mat out(forward.size(), CV_32FC1);
  for (int y = 0; y < h; ++y) {
    const auto* f = forward.ptr<cv::Vec2f>(y);
    const auto* fUp = forward.ptr<cv::Vec2f>(std::max(y - 1, 0));
    const auto* fDown = forward.ptr<cv::Vec2f>(std::min(y + 1, h - 1));
    const auto* bt = bTilde.ptr<cv::Vec2f>(y);
    auto* o = out.ptr<float>(y);
    for (int x = 0; x < w; ++x) {
      const float u = f[x][0], v = f[x][1];
      const float px = static_cast<float>(x) + u, py = static_cast<float>(y) + v;
      if (!(px >= minXY && px <= maxX && py >= minXY && py <= maxY)) {  // also catches NaN
        o[x] = 0.f;
        continue;
      }
      const float bu = bt[x][0], bv = bt[x][1];
      const float su = u + bu, sv = v + bv;
      const float fNorm2 = u * u + v * v;
      if (su * su + sv * sv > 0.01f * (fNorm2 + bu * bu + bv * bv) + 0.5f) {
        o[x] = 0.f;
        continue;
      }
      const cv::Vec2f& left = f[std::max(x - 1, 0)];
      const cv::Vec2f& right = f[std::min(x + 1, w - 1)];
      const float ux = 0.5f * (right[0] - left[0]), vx = 0.5f * (right[1] - left[1]);
      const float uy = 0.5f * (fDown[x][0] - fUp[x][0]), vy = 0.5f * (fDown[x][1] - fUp[x][1]);
      if (ux * ux + uy * uy + vx * vx + vy * vy > 0.01f * fNorm2 + 0.002f) {
        o[x] = 0.f;
        continue;
      }
      o[x] = 1.f;
    }
  }
  return out;
}

cv::Mat certaintySoft(const cv::Mat& hard, double sigma) {
  if (hard.type() != CV_32FC1) throw std::runtime_error("certaintySoft: hard must be CV_32FC1");
  cv::Mat out;
  if (sigma <= 0) {
    out = hard.clone();
  } else {
    cv::GaussianBlur(hard, out, cv::Size(0, 0), sigma, sigma, cv::BORDER_REPLICATE);
  }
  cv::min(out, 1.0, out);
  cv::max(out, 0.0, out);
  return out;
}

}  // namespace flowstyle::stages
