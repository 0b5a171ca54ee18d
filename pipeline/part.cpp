#include "pipeline/part.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <vector>
#include <sstream>
#include <stdexcept>

#include "models/model_store.hpp"
#include "pipeline/arbitrary_stylizer.hpp"
#include "stages/hash.hpp"

namespace flowstyle::pipeline {
namespace {

constexpr const char* kPrefix = "flowstyle_";

std::string num(double v) {
  std::ostringstream ss;
  ss.precision(17);
  ss << v;
  return ss.str();
}

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

// A weight file, or an ml5 folder (every regular file in it, by name).
std::string hashModelPath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return stages::hashFile(path);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  stages::Fnv64 h;
  for (const fs::path& f : files) h.update(f.filename().string() + "=" + stages::hashFile(f.string()));
  return h.hex();
}

}  // namespace

ChunkSpan chunkSpan(const Config& config) {
  const stages::FrameSelection& s = config.reader.selection;
  ChunkSpan span;
  span.rangeFirst = std::max<std::int64_t>(0, s.first);
  span.last = s.last;
  span.stylizeFirst = std::max<std::int64_t>(0, span.rangeFirst - config.chunk.preroll);
  span.writeFirst = std::max<std::int64_t>(0, span.rangeFirst - config.chunk.overlap);
  return span;
}

std::string JobIdentity::key() const {
  return "source=" + source.hash + "/" + std::to_string(source.bytes) + " size=" + std::to_string(width) + "x" +
         std::to_string(height) + " settings=" + settingsHash + " frames=" + std::to_string(span.stylizeFirst) + ":" +
         std::to_string(span.writeFirst) + ":" + std::to_string(span.last);
}

JobIdentity identifyJob(const Config& config) {
  JobIdentity id;
  id.source = stages::fingerprintSource(config.reader.path);
  workingSize(config.size, id.source.width, id.source.height, id.width, id.height);
  id.settingsHash = settingsHash(config, id.width, id.height);
  id.span = chunkSpan(config);
  return id;
}

PartRecord partRecord(const Config& config, const JobIdentity& identity) {
  PartRecord r;
  r.source = identity.source;
  r.settingsHash = identity.settingsHash;
  r.method = toString(config.method);
  r.rangeFirst = identity.span.rangeFirst;
  r.rangeLast = identity.span.last;
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
  put("range_first", std::to_string(r.rangeFirst));
  put("range_last", std::to_string(r.rangeLast));
  put("preroll", std::to_string(r.preroll));
  put("overlap", std::to_string(r.overlap));
  put("first_frame", std::to_string(r.firstFrame));
  put("width", std::to_string(r.width));
  put("height", std::to_string(r.height));
  if (r.seam) {
    put("seam", std::to_string(r.seamEarlier.first) + "-" + std::to_string(r.seamEarlier.second) + "," +
                    std::to_string(r.seamLater.first) + "-" + std::to_string(r.seamLater.second));
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
  r.rangeFirst = intField(tags, "range_first", file, 0, kMax);
  r.rangeLast = intField(tags, "range_last", file, -1, kMax);
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
    if (r.firstFrame < c || r.rangeLast != b) {
      throw std::runtime_error(file + ": seam part record is inconsistent (frames from " +
                               std::to_string(r.firstFrame) + " to " + std::to_string(r.rangeLast) +
                               ", made from parts holding " + it->second + ")");
    }
  }
  if (r.source.hash.empty() || r.settingsHash.empty()) {
    throw std::runtime_error(file + ": part record has an empty source or settings hash");
  }
  if (r.rangeLast >= 0 && r.rangeLast < r.rangeFirst) {
    throw std::runtime_error(file + ": part record range " + std::to_string(r.rangeFirst) + "-" +
                             std::to_string(r.rangeLast) + " is reversed");
  }
  if (r.firstFrame > r.rangeFirst || r.overlap > r.preroll) {
    throw std::runtime_error(file + ": part record is inconsistent (first frame " + std::to_string(r.firstFrame) +
                             ", range from " + std::to_string(r.rangeFirst) + ", overlap " +
                             std::to_string(r.overlap) + ", pre-roll " + std::to_string(r.preroll) + ")");
  }
  return r;
}

std::string settingsHash(const Config& c, int workWidth, int workHeight) {
  stages::Fnv64 h;
  h.update("flowstyle-settings-1");
  h.update(toString(c.method));
  h.update(std::to_string(workWidth) + "x" + std::to_string(workHeight));
  const bool optimizes = c.method == Method::Optimize || c.method == Method::Hybrid;
  const bool network = c.method == Method::Fast || c.method == Method::Hybrid;
  const bool temporal = c.method != Method::Copy;
  if (temporal) {
    h.update(stages::toString(c.flow.method));
    h.update(c.flow.disPreset);
    h.update(std::to_string(c.flow.maxSide));
  }
  if (optimizes) {
    const models::OptimizeConfig& o = c.style.optimize;
    for (const std::string& s : c.style.styles) h.update(stages::hashFile(s));
    for (double w : c.style.blend) h.update(num(w));
    h.update(hashModelPath(models::resolveModel(c.style.lossNet, models::ModelKind::LossNetwork)));
    h.update(o.contentLayer);
    for (const std::string& l : o.styleLayers) h.update(l);
    for (double w : o.styleLayerWeights) h.update(num(w));
    for (double v : {o.contentWeight, o.styleWeight, o.tvWeight, o.temporalWeight, o.styleScale, o.learningRate,
                     o.tolerance}) {
      h.update(num(v));
    }
    h.update(std::to_string(static_cast<int>(o.optimizer)) + "/" + std::to_string(o.seed) + "/" +
             std::to_string(o.preserveColors) + "/" + std::to_string(o.scales) + "/" +
             std::to_string(static_cast<int>(o.init)));
    h.update(std::to_string(c.style.iterationsFirst) + "/" + std::to_string(c.style.iterations));
    for (int j : c.style.longTerm) h.update(std::to_string(j));
    if (!c.style.initPath.empty()) h.update(stages::hashFile(c.style.initPath));
  }
  if (network) {
    h.update(hashModelPath(models::resolveModel(c.fast.model, models::ModelKind::StyleNetwork)));
    h.update(models::toString(c.fast.precision));
    h.update(std::to_string(c.fast.batch));
    if (c.method == Method::Fast) h.update(num(c.fast.temporalWeight));
    if (usesArbitraryNetwork(c)) {  // the style is an input of its own (ml5 parts hash as before)
      h.update("arbitrary");
      if (c.method == Method::Fast) {  // hybrid hashed these with the optimizer's settings
        for (const std::string& s : c.style.styles) h.update(stages::hashFile(s));
        for (double w : c.style.blend) h.update(num(w));
        h.update(std::to_string(c.style.optimize.preserveColors));
      }
      h.update(num(c.fast.styleStrength) + "/" + std::to_string(c.fast.styleSize));
      for (int i : c.fast.styleIndex) h.update(std::to_string(i));
    }
  }
  return h.hex();
}

}  // namespace flowstyle::pipeline
