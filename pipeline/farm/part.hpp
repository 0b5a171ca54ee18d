#pragma once
// Farm parts: the record a part carries in its own container tags so that `join` can
// trust it (same source, same settings, which frames), and the video job that writes one.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "pipeline/config.hpp"
#include "pipeline/frame_range.hpp"
#include "pipeline/job_identity.hpp"
#include "pipeline/video_job.hpp"
#include "stages/fingerprint.hpp"

namespace flowstyle::pipeline {

// The part record, one container tag per field (keys start with "flowstyle_").
struct PartRecord {
  int version = 1;
  stages::SourceFingerprint source;
  std::string settingsHash;
  std::string method;
  FrameRange range;               // --frames A-B as given (last -1: to the end)
  int preroll = 0;
  int overlap = 0;
  std::int64_t firstFrame = 0;    // source frame number of the part's first frame
  int width = 0, height = 0;      // working size
  // A seam part (`join --blend restyle --seam-part`): the restyled fade of one seam, frames
  // firstFrame..range.last, made from the chunk parts that hold frames seamEarlier and
  // seamLater. Tag "flowstyle_seam" = "a-b,c-d"; absent on chunk parts.
  bool seam = false;
  FrameRange seamEarlier{0, 0}, seamLater{0, 0};
  // A seam part's `join --restyle-hold` (tag "flowstyle_restyle_hold", written with "seam";
  // a seam part without it was made before the landing hold existed: 0).
  double restyleHold = 0;
  // ... and its `join --restyle-polish` (tag "flowstyle_restyle_polish"; absent: made before
  // the polish existed, 0).
  double restylePolish = 0;
  // ... and its polish's `join --restyle-lookahead` (tag "flowstyle_restyle_lookahead"; 0 when
  // it had no polish; absent: made before the look-ahead existed, 0).
  double restyleLookahead = 0;
};

// Whether a `flowstyle video` job writes a farm part: it has a frame range (--frames) or
// chunk options (--preroll, --overlap) and writes a container (not an image sequence).
bool makesPart(const Config& config);

// runVideoJob for a part: the job's identity is computed once, here (it reads the source's
// first packets and hashes the style images and weight files), and the output carries the
// part record in its tags.
VideoJobResult runPartJob(const Config& config, const IterationCallback& onIteration,
                          const std::function<void(const Progress&)>& onProgress,
                          const std::atomic<bool>* cancel,
                          const std::function<void(const std::string&)>& note);

PartRecord partRecord(const Config& config, const JobIdentity& identity);
std::map<std::string, std::string> partTags(const PartRecord& record);
// Whether a file's tags carry a part record at all.
bool hasPartRecord(const std::map<std::string, std::string>& tags);
// Throws std::runtime_error naming `file` and the bad or missing field.
PartRecord parsePartRecord(const std::map<std::string, std::string>& tags, const std::string& file);

}  // namespace flowstyle::pipeline
