#pragma once
// What identifies a video job's pixels (the source, the working size, every setting that
// changes pixels, the frames), and the frames a job with a pre-roll stylizes and writes.
// Resume state keys on it (any video job); the farm's part record carries it
// (pipeline/farm/part.hpp). Torch-free and TBB-free.
#include <cstdint>
#include <string>

#include "pipeline/config.hpp"
#include "pipeline/frame_range.hpp"
#include "stages/fingerprint.hpp"

namespace flowstyle::pipeline {

// Frames of a job, as source frame numbers. `--frames A-B --preroll K --overlap O`:
// stylizes max(0,A-K)..B, writes max(0,A-O)..B (B: to the end of the clip without one).
struct ChunkSpan {
  FrameRange frames;              // A-B as given (A at least 0)
  std::int64_t stylizeFirst = 0;  // max(0, A-K)
  std::int64_t writeFirst = 0;    // max(0, A-O)
  FrameRange stylized() const { return {stylizeFirst, frames.last}; }
  FrameRange written() const { return {writeFirst, frames.last}; }
};
ChunkSpan chunkSpan(const Config& config);

// What identifies a video job's pixels: the source, the working size, the settings and
// the frames. Computed before anything is decoded (reads the source's first packets and
// hashes the style images and weight files).
struct JobIdentity {
  stages::SourceFingerprint source;
  int width = 0, height = 0;  // working size
  std::string settingsHash;
  ChunkSpan span;
  std::string key() const;    // all of it as one string (resume state identity)
};
JobIdentity identifyJob(const Config& config);

// Hash of every setting that changes the pixels of a frame (method, styles and weight
// files by content, loss weights, layers, iterations, seed, size, flow, precision...).
// Excludes the frame range, pre-roll/overlap, output, encoder, threads and progress.
// Reads the style images and weight files it names (throws naming a missing one).
std::string settingsHash(const Config& config, int workWidth, int workHeight);

}  // namespace flowstyle::pipeline
