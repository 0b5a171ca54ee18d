#pragma once
// What the pipeline's serial stylize node calls, one frame at a time, in order.
// Torch-free: images cross as cv::Mat.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "models/style_transfer.hpp"
#include "pipeline/config.hpp"

namespace flowstyle::pipeline {

struct StylizeRequest {
  std::int64_t index = 0;
  cv::Mat content;                            // CV_8UC3 RGB at the working size
  cv::Mat prepared;                           // optional: CV_8UC3 from prepareBatch(), else empty
  std::vector<models::TemporalGuide> guides;  // nearest first; empty for frame 0 / cuts
  cv::Mat init;  // CV_32FC3 RGB [0,1]: the nearest guide with uncertain pixels filled
                 // from the content; empty when there is no guide
};

struct StylizeOutcome {
  cv::Mat image;        // CV_32FC3 RGB in [0,1], the content's size
  int iterations = 0;   // optimizer iterations (0 for single-pass methods)
  models::LossTerms loss;
};

class FrameStylizer {
 public:
  virtual ~FrameStylizer() = default;
  // Optional batched pre-pass, run before stylize() on groups of consecutive frames in
  // order (the fast network). Returns one CV_8UC3 per input, or empty to skip.
  virtual std::vector<cv::Mat> prepareBatch([[maybe_unused]] const std::vector<cv::Mat>& contents) { return {}; }
  virtual int batchSize() const { return 1; }
  // Whether the stylize step needs flow to earlier frames; offsets of those frames.
  virtual std::vector<int> temporalOffsets() const { return {}; }
  virtual StylizeOutcome stylize(const StylizeRequest& request) = 0;
  // A line for the job summary, e.g. the network's number format; empty if nothing to say.
  virtual std::string describe() const { return {}; }
  // Choices settled while running the first frame, kept in resume state so that a resumed
  // run makes the same ones (key -> value, models::toString spelling):
  //   "precision"            the style network's number format (fast, hybrid)
  //   "tile"                 the style network's tile side, 0 = whole frames (fast)
  //   "optimizer_precision"  the optimizer's (optimize, hybrid; `auto` decides at the first
  //                          start, which on a resumed run would be another frame)
  virtual std::map<std::string, std::string> settledChoices() const { return {}; }
};

// Called with per-iteration progress of the current frame (may throw to cancel).
using IterationCallback = std::function<void(const models::OptimizeProgress&)>;

// Reads an image as CV_8UC3 RGB; errors name the file and `what` it was for.
cv::Mat loadRgbImage(const std::string& path, const std::string& what);
std::vector<cv::Mat> loadStyleImages(const std::vector<std::string>& paths);

// Builds the stylizer for config.method (copy, optimize, fast, hybrid). Loads weights
// and style images now, so every error surfaces before a frame is decoded.
std::unique_ptr<FrameStylizer> makeStylizer(const Config& config, IterationCallback onIteration);

// How many earlier stylized frames the stylizer of `config` reads (its largest temporal
// offset; 0 when frames are independent), without building it.
int temporalReach(const Config& config);

}  // namespace flowstyle::pipeline
