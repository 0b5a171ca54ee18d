#pragma once
// Decoding (FFmpeg). Only stages/*.cpp include libav headers.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "stages/frame.hpp"

namespace flowstyle::stages {

// Which frames to deliver. All bounds inclusive; frame numbers are decode-order indices.
struct FrameSelection {
  std::int64_t first = 0;                  // --frames A-B: A
  std::int64_t last = -1;                  // B, -1 = to the end (clamped to the clip)
  std::optional<double> startSeconds;      // --start: first frame with pts >= start
  std::optional<double> durationSeconds;   // --duration: frames with pts < start + duration
};

struct ReaderConfig {
  std::string path;             // a file, or an image-sequence pattern such as frames/%05d.png
  FrameSelection selection;
};

// Reads a video stream as 8-bit RGB frames with their pts and time base.
// Throws std::runtime_error naming the file and the fault (missing, a directory,
// empty, not a media file, no video stream, truncated, too small (<2x2)...).
// Not thread-safe: one instance per serial node.
class VideoReader {
 public:
  explicit VideoReader(const ReaderConfig& config);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;
  // Number of frames that will be delivered for the selection, -1 when unknown.
  std::int64_t expectedFrames() const;
  // Next selected frame, or nullopt at the end. Frame.index counts delivered frames from 0.
  // A decoding error mid-stream throws (naming the file and the frame number).
  std::optional<Frame> next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowstyle::stages
