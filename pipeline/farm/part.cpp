#include "pipeline/farm/part.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <stdexcept>

#include "pipeline/video_job.hpp"

namespace flowstyle::pipeline {
namespace {

constexpr const char* kPrefix = "flowstyle_";

std::int64_t intField(const std::map<std::string, std::string>& tags, const std::string& key,
                      const std::string& file, std::int64_t lo, std::int64_t hi) {
  auto it = tags.find(kPrefix + key);
  if (it == tags.end()) throw std::runtime_error(file + ": part record has no '" + key + "' field");
  try {
    std::size_t used = 0;
    const long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < lo || v > hi) throw std::out_of_range(key);
    return v;
  } catch (const std::exception&) {
    throw std::runtime_error(file + ": part record field '" + key + "' = '" + it->second +
                             "' is not a whole number in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
}

std::string textField(const std::map<std::string, std::string>& tags, const std::string& key,
                      const std::string& file) {
  auto it = tags.find(kPrefix + key);
  if (it == tags.end()) throw std::runtime_error(file + ": part record has no '" + key + "' field");
  return it->second;
}

}  // namespace

bool makesPart(const Config& config) {
  const stages::FrameSelection& s = config.reader.selection;
  const bool chunk = s.first > 0 || s.last >= 0 || config.chunk.preroll > 0 || config.chunk.overlap > 0;
  return chunk && config.writer.path.find('%') == std::string::npos;
}

VideoJobResult runPartJob(const Config& config, const IterationCallback& onIteration,
                          const std::function<void(const Progress&)>& onProgress,
                          const std::atomic<bool>* cancel,
                          const std::function<void(const std::string&)>& note) {
  const JobIdentity identity = identifyJob(config);
  Config part = config;
  part.writer.tags = partTags(partRecord(config, identity));
  return runVideoJob(part, onIteration, onProgress, cancel, note, &identity);
}

PartRecord partRecord(const Config& config, const JobIdentity& identity) {
  PartRecord r;
  r.source = identity.source;
  r.settingsHash = identity.settingsHash;
  r.method = toString(config.method);
  r.range = identity.span.frames;
  r.preroll = config.chunk.preroll;
  r.overlap = config.chunk.overlap;
  r.firstFrame = identity.span.writeFirst;
  r.width = identity.width;
  r.height = identity.height;
  return r;
}

std::map<std::string, std::string> partTags(const PartRecord& r) {
  std::map<std::string, std::string> t;
  auto put = [&](const std::string& key, const std::string& value) { t[kPrefix + key] = value; };
  put("part", std::to_string(r.version));
  put("source_path", r.source.path);
  put("source_bytes", std::to_string(r.source.bytes));
  put("source_frames", std::to_string(r.source.frames));
  put("source_hash", r.source.hash);
  put("settings", r.settingsHash);
  put("method", r.method);
  put("range_first", std::to_string(r.range.first));
  put("range_last", std::to_string(r.range.last));
  put("preroll", std::to_string(r.preroll));
  put("overlap", std::to_string(r.overlap));
  put("first_frame", std::to_string(r.firstFrame));
  put("width", std::to_string(r.width));
  put("height", std::to_string(r.height));
  if (r.seam) {
    put("seam", toString(r.seamEarlier) + "," + toString(r.seamLater));
    auto number = [](double x) {
      char text[40];
      return std::string(text, std::to_chars(text, text + sizeof text, x).ptr);  // shortest exact form, no locale
    };
    put("restyle_hold", number(r.restyleHold));
    put("restyle_polish", number(r.restylePolish));
    put("restyle_lookahead", number(r.restyleLookahead));
  }
  return t;
}

namespace {

// Containers may change the case of tag names (Matroska stores them upper case).
std::map<std::string, std::string> lowerKeys(const std::map<std::string, std::string>& tags) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : tags) {
    std::string key = k;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    out[key] = v;
  }
  return out;
}

}  // namespace

bool hasPartRecord(const std::map<std::string, std::string>& tags) {
  return lowerKeys(tags).count(std::string(kPrefix) + "part") > 0;
}

PartRecord parsePartRecord(const std::map<std::string, std::string>& rawTags, const std::string& file) {
  const std::map<std::string, std::string> tags = lowerKeys(rawTags);
  if (!hasPartRecord(tags)) {
    throw std::runtime_error(file + ": not a flowstyle part (no part record in its metadata; parts are "
                             "written by 'flowstyle video --frames A-B --preroll K' to .mkv with --codec ffv1)");
  }
  constexpr std::int64_t kMax = std::int64_t{1} << 50;
  PartRecord r;
  r.version = static_cast<int>(intField(tags, "part", file, 1, 1000));
  if (r.version != 1) {
    throw std::runtime_error(file + ": part record version " + std::to_string(r.version) +
                             " is not supported (this flowstyle reads version 1)");
  }
  r.source.path = textField(tags, "source_path", file);
  r.source.bytes = intField(tags, "source_bytes", file, -1, kMax);
  r.source.frames = intField(tags, "source_frames", file, -1, kMax);
  r.source.hash = textField(tags, "source_hash", file);
  r.settingsHash = textField(tags, "settings", file);
  r.method = textField(tags, "method", file);
  r.range.first = intField(tags, "range_first", file, 0, kMax);
  r.range.last = intField(tags, "range_last", file, -1, kMax);
  r.preroll = static_cast<int>(intField(tags, "preroll", file, 0, 100000));
  r.overlap = static_cast<int>(intField(tags, "overlap", file, 0, 100000));
  r.firstFrame = intField(tags, "first_frame", file, 0, kMax);
  r.width = static_cast<int>(intField(tags, "width", file, 1, 1 << 16));
  r.height = static_cast<int>(intField(tags, "height", file, 1, 1 << 16));
  if (auto it = tags.find(std::string(kPrefix) + "seam"); it != tags.end()) {
    long long a = -1, b = -1, c = -1, d = -1;
    char tail = 0;
    if (std::sscanf(it->second.c_str(), "%lld-%lld,%lld-%lld%c", &a, &b, &c, &d, &tail) != 4 || a < 0 || b < a ||
        c <= a || d <= b || b > kMax || d > kMax) {
      throw std::runtime_error(file + ": part record field 'seam' = '" + it->second +
                               "' is not two rising frame ranges 'a-b,c-d'");
    }
    r.seam = true;
    r.seamEarlier = {a, b};
    r.seamLater = {c, d};
    // A setting of the restyle (0..8); absent: 0 (a seam part made before it existed).
    auto exponent = [&](const char* field, double& value) {
      const auto h = tags.find(std::string(kPrefix) + field);
      if (h == tags.end()) return;
      const std::string& text = h->second;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc() || end != text.data() + text.size() || !(value >= 0) || value > 8) {
        throw std::runtime_error(file + ": part record field '" + field + "' = '" + text + "' is not a number in 0..8");
      }
    };
    exponent("restyle_hold", r.restyleHold);
    exponent("restyle_polish", r.restylePolish);
    exponent("restyle_lookahead", r.restyleLookahead);
    if (r.firstFrame < c || r.range.last != b) {
      throw std::runtime_error(file + ": seam part record is inconsistent (frames from " +
                               std::to_string(r.firstFrame) + " to " + std::to_string(r.range.last) +
                               ", made from parts holding " + it->second + ")");
    }
  }
  if (r.source.hash.empty() || r.settingsHash.empty()) {
    throw std::runtime_error(file + ": part record has an empty source or settings hash");
  }
  if (!r.range.toEnd() && r.range.last < r.range.first) {
    throw std::runtime_error(file + ": part record range " + toString(r.range) + " is reversed");
  }
  if (r.firstFrame > r.range.first || r.overlap > r.preroll) {
    throw std::runtime_error(file + ": part record is inconsistent (first frame " + std::to_string(r.firstFrame) +
                             ", range from " + std::to_string(r.range.first) + ", overlap " +
                             std::to_string(r.overlap) + ", pre-roll " + std::to_string(r.preroll) + ")");
  }
  return r;
}

}  // namespace flowstyle::pipeline
