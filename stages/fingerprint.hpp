#pragma once
// Identities of media files that do not depend on where they are mounted: what a farm
// part records about its source, and what `join` checks. FFmpeg is used only inside.
#include <cstdint>
#include <string>

namespace flowstyle::stages {

struct SourceFingerprint {
  std::string path;          // as given (informational: nodes may mount it elsewhere)
  std::int64_t bytes = -1;   // file size; for an image-sequence pattern, the first file's
  std::int64_t frames = -1;  // the stream's frame count estimate, -1 unknown
  std::string hash;          // FNV-1a over the video stream's parameters and first packets
  int width = 0, height = 0; // coded size of the video stream
};

// Reads the container header and the first video packets (cheap: no decoding).
// Throws std::runtime_error naming the file when it is not a readable video.
SourceFingerprint fingerprintSource(const std::string& path);

// Number of video packets of `path` (= frames for intra-only codecs such as FFV1 and PNG),
// counted by demuxing only. Throws naming the file when it cannot be read.
std::int64_t countVideoPackets(const std::string& path);

}  // namespace flowstyle::stages
