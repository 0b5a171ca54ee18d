#pragma once
// Progress reporting for the command line: a live bar on a terminal, JSON lines for
// farm managers, or nothing.
#include <cstdio>
#include <string>

#include "pipeline/config.hpp"
#include "pipeline/video_pipeline.hpp"

namespace flowstyle::tools {

class ProgressPrinter {
 public:
  // Auto: a bar when stderr is a terminal, otherwise quiet.
  explicit ProgressPrinter(pipeline::ProgressMode mode);
  void frame(const pipeline::Progress& p);
  // Per-iteration progress inside one frame or image (bar mode only).
  void iteration(const models::OptimizeProgress& p, std::int64_t frame);
  void finish();

 private:
  pipeline::ProgressMode mode_;
  std::int64_t lastFrame_ = 0;
  std::int64_t total_ = -1;
  std::string frameText_;
  bool dirty_ = false;
};

std::string formatDuration(double seconds);

}  // namespace flowstyle::tools
