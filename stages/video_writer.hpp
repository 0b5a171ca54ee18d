#pragma once
// Encoding and muxing (FFmpeg). Only stages/*.cpp include libav headers.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "stages/frame.hpp"

namespace flowstyle::stages {

struct WriterConfig {
  std::string path;               // output file, or an image-sequence pattern (out/%05d.png)
  std::string codec;              // empty: libx264 for containers, png for sequences
  int crf = 18;                   // for codecs that take crf (x264/x265/vpx)
  std::string preset = "medium";  // x264/x265 preset
  std::string pixFmt;             // empty: yuv420p for x264, codec default otherwise
  std::map<std::string, std::string> codecOptions;  // passed through; unknown keys are an error
  bool copyAudio = true;          // copy non-video streams from the source
  std::map<std::string, std::string> tags;  // container-level metadata to write (not for sequences)
};

// Writes frames (any size fixed at the first frame) with the pts they carry, so timing
// is exactly that of the input. Non-video streams of `source.path` are copied
// packet-for-packet, restricted to the span of the written frames, interleaved by time.
// Rotation, sample aspect ratio and colour metadata are copied from `source`.
// Output goes to a temporary name in the destination folder; finish() renames it.
// Destroying a writer without finish() removes the temporary file.
// The constructor already checks what can fail early: the codec name exists and is an
// encoder, the container is known, the destination folder exists and is writable.
// Odd sizes with 4:2:0 chroma: padded by one pixel (edge replicate) to even.
// One-line remarks of a writer, for its caller to show: "note: ..." (stale temporaries
// removed) and "warning: OUT: ..." (streams that could not be kept; the output is still
// written). Without one, they are dropped.
using WriterNotes = std::function<void(const std::string&)>;

class VideoWriter {
 public:
  VideoWriter(const WriterConfig& config, const VideoInfo& source, WriterNotes notes = {});
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // frame.rgb: CV_8UC3 RGB; every frame the same size. pts in frame.timeBase.
  void write(const Frame& frame);
  // Flush, copy the remaining audio, write the trailer, rename into place.
  void finish();
  std::int64_t framesWritten() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowstyle::stages
