#pragma once
// A run of source frames: frame numbers first..last, both inclusive, 0-based, as
// `--frames A-B` gives them. The frames of a job, a chunk, a part, a seam and a join are
// FrameRanges, and every message prints them one way, the way --frames takes them:
// "12-47" (also "12-12" for one frame), "12-" to the end of the clip.
#include <cstdint>
#include <string>

namespace flowstyle::pipeline {

struct FrameRange {
  static constexpr std::int64_t kToEnd = -1;  // `last` of a range that runs to the end of the clip
  std::int64_t first = 0;
  std::int64_t last = kToEnd;                 // any negative value: to the end

  bool toEnd() const { return last < 0; }
  // Frames in the range; 0 when last < first. A range to the end has no count here.
  std::int64_t count() const { return last >= first ? last - first + 1 : 0; }
  bool contains(std::int64_t frame) const { return frame >= first && (toEnd() || frame <= last); }

  friend bool operator==(const FrameRange& a, const FrameRange& b) { return a.first == b.first && a.last == b.last; }
  friend bool operator!=(const FrameRange& a, const FrameRange& b) { return !(a == b); }
};

inline std::string toString(const FrameRange& r) {
  return std::to_string(r.first) + "-" + (r.toEnd() ? std::string() : std::to_string(r.last));
}

}  // namespace flowstyle::pipeline
