#pragma once
// The still-image and evaluation jobs (no graph needed).
#include <functional>
#include <string>

#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "stages/warping_error.hpp"

namespace flowstyle::pipeline {

struct ImageStats {
  int width = 0, height = 0;
  int iterations = 0;
  double seconds = 0;
  models::LossTerms loss;
  std::string network;  // fast/hybrid: the style network and its number format
  std::string memory;   // the memory estimate the job was checked with (MemoryEstimate::describe)
};

// content -> output (PNG/JPEG/BMP/TIFF by extension). config.size sets the working
// size; config.method is optimize, fast or hybrid. Writes to a temporary name in the
// output folder and renames when complete. Errors name the file. Before the weights
// load, the job's memory estimate is checked against the limit (checkMemory). `note`
// receives one-line remarks (stale temporaries removed from the output folder).
ImageStats runImage(const Config& config, const std::string& content, const std::string& output,
                    const IterationCallback& onIteration, const std::function<void(const std::string&)>& note = {});

// Temporal warping error of `stylized` against the flow of `original` (stages/warping_error.hpp).
// Both are read whole, frame by frame; sizes and frame counts must match.
stages::WarpingErrorReport runEval(const std::string& original, const std::string& stylized,
                                   const stages::FlowConfig& flow);

// Frame `index` of `original`'s selection (resized to the stylized frame's size) next to
// frame `index` of the whole `stylized` video, as one image (original left), written
// atomically to `output` (PNG/JPEG/... by extension). For `flowstyle preview`. `note`: as runImage's.
void writeSideBySide(const stages::ReaderConfig& original, const std::string& stylized, std::int64_t index,
                     const std::string& output, const std::function<void(const std::string&)>& note = {});

// Checks that `path`'s extension is an image format OpenCV writes; throws otherwise.
void checkImageOutputPath(const std::string& path);

}  // namespace flowstyle::pipeline
