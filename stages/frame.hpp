#pragma once
// Plain value types that cross stage boundaries. No libav, TBB or Torch types here.
#include <cstdint>
#include <map>
#include <string>

#include <opencv2/core.hpp>

namespace flowstyle::stages {

// A rational number as libav uses it (AVRational), without libav.
struct Rational {
  int num = 0;
  int den = 1;
  bool valid() const { return num != 0 && den != 0; }
  double toDouble() const { return den != 0 ? static_cast<double>(num) / den : 0.0; }
};

// One decoded video frame.
struct Frame {
  cv::Mat rgb;             // CV_8UC3, RGB order, continuous, owns its data
  std::int64_t index = 0;  // 0-based position in the selected output range (decode order)
  std::int64_t pts = 0;    // presentation timestamp in timeBase units (best-effort pts)
  std::int64_t duration = 0;  // in timeBase units; 0 when unknown
  Rational timeBase;
};

// Colour metadata carried from input to output (libav enum values as ints).
struct ColorInfo {
  int range = 0;      // AVColorRange
  int primaries = 2;  // AVColorPrimaries (2 = unspecified)
  int transfer = 2;   // AVColorTransferCharacteristic
  int space = 2;      // AVColorSpace
};

// What the decoder learned about the input's video stream.
struct VideoInfo {
  std::string path;
  int width = 0;   // coded picture size (before rotation)
  int height = 0;
  Rational timeBase;       // stream time base of the pts carried in Frame
  Rational avgFrameRate;   // for display/estimates only; never used to rewrite pts
  Rational sampleAspect;   // 0/1 when unknown
  double rotationDegrees = 0;  // display-matrix rotation, counter-clockwise, 0/90/180/270
  ColorInfo color;
  std::int64_t frameCountEstimate = -1;  // -1 when unknown
  std::int64_t startPts = 0;             // stream start time in timeBase
  std::int64_t durationPts = -1;         // stream duration in timeBase, -1 when unknown
  bool hasAudio = false;
  std::string codecName;
  std::map<std::string, std::string> tags;  // container-level metadata (e.g. a part's record)
};

}  // namespace flowstyle::stages
