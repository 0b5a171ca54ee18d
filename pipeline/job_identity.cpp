#include "pipeline/job_identity.hpp"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <vector>

#include "models/model_store.hpp"
#include "pipeline/arbitrary_stylizer.hpp"
#include "stages/hash.hpp"

namespace flowstyle::pipeline {
namespace {

std::string num(double v) {
  std::ostringstream ss;
  ss.precision(17);
  ss << v;
  return ss.str();
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
  span.frames = {std::max<std::int64_t>(0, s.first), s.last};
  span.stylizeFirst = std::max<std::int64_t>(0, span.frames.first - config.chunk.preroll);
  span.writeFirst = std::max<std::int64_t>(0, span.frames.first - config.chunk.overlap);
  return span;
}

std::string JobIdentity::key() const {
  return "source=" + source.hash + "/" + std::to_string(source.bytes) + " size=" + std::to_string(width) + "x" +
         std::to_string(height) + " settings=" + settingsHash + " frames=" + std::to_string(span.stylizeFirst) + ":" +
         std::to_string(span.writeFirst) + ":" + std::to_string(span.frames.last);
}

JobIdentity identifyJob(const Config& config) {
  JobIdentity id;
  id.source = stages::fingerprintSource(config.reader.path);
  workingSize(config.size, id.source.width, id.source.height, id.width, id.height);
  id.settingsHash = settingsHash(config, id.width, id.height);
  id.span = chunkSpan(config);
  return id;
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
