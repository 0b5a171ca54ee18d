#pragma once
// Farm chunks: which frames a chunk stylizes and writes, and the record a part carries in
// its own container tags so that `join` can trust it (same source, same settings, which
// frames). Torch-free and TBB-free.
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "pipeline/config.hpp"
#include "stages/fingerprint.hpp"

namespace flowstyle::pipeline {

// Frames of a chunk, as source frame numbers. `--frames A-B --preroll K --overlap O`:
// stylizes max(0,A-K)..B, writes max(0,A-O)..B. last = -1: to the end of the clip.
struct ChunkSpan {
  std::int64_t stylizeFirst = 0;
  std::int64_t writeFirst = 0;
  std::int64_t last = -1;
  std::int64_t rangeFirst = 0;  // A as given
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

// The part record, one container tag per field (keys start with "flowstyle_").
struct PartRecord {
  int version = 1;
  stages::SourceFingerprint source;
  std::string settingsHash;
  std::string method;
  std::int64_t rangeFirst = 0;    // --frames A
  std::int64_t rangeLast = -1;    // --frames B as given (-1: to the end)
  int preroll = 0;
  int overlap = 0;
  std::int64_t firstFrame = 0;    // source frame number of the part's first frame
  int width = 0, height = 0;      // working size
  // A seam part (`join --blend restyle --seam-part`): the restyled fade of one seam, frames
  // firstFrame..rangeLast, made from the chunk parts that hold frames seamEarlier and
  // seamLater (first, last). Tag "flowstyle_seam" = "a-b,c-d"; absent on chunk parts.
  bool seam = false;
  std::pair<std::int64_t, std::int64_t> seamEarlier{0, 0}, seamLater{0, 0};
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

PartRecord partRecord(const Config& config, const JobIdentity& identity);
std::map<std::string, std::string> partTags(const PartRecord& record);
// Whether a file's tags carry a part record at all.
bool hasPartRecord(const std::map<std::string, std::string>& tags);
// Throws std::runtime_error naming `file` and the bad or missing field.
PartRecord parsePartRecord(const std::map<std::string, std::string>& tags, const std::string& file);

// Hash of every setting that changes the pixels of a frame (method, styles and weight
// files by content, loss weights, layers, iterations, seed, size, flow, precision...).
// Excludes the frame range, pre-roll/overlap, output, encoder, threads and progress.
// Reads the style images and weight files it names (throws naming a missing one).
std::string settingsHash(const Config& config, int workWidth, int workHeight);

}  // namespace flowstyle::pipeline
