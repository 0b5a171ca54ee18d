#include "pipeline/video_job.hpp"

#include <algorithm>

#include "pipeline/resume_state.hpp"

namespace flowstyle::pipeline {

VideoJobResult runVideoJob(const Config& config, const IterationCallback& onIteration,
                           const std::function<void(const Progress&)>& onProgress,
                           const std::atomic<bool>* cancel,
                           const std::function<void(const std::string&)>& note, const JobIdentity* identity) {
  const bool network = config.method == Method::Fast || config.method == Method::Hybrid;
  const ChunkSpan span = chunkSpan(config);
  const std::string job = config.reader.path + " -> " + config.writer.path + ", --method " + toString(config.method) +
                          ", frames " + toString(span.stylized());
  // Only resume state needs the identity (it hashes the style images and weight files).
  std::string key;
  if (config.chunk.resume) key = identity != nullptr ? identity->key() : identifyJob(config).key();
  std::unique_ptr<ResumeState> state =
      ResumeState::open(config.writer.path, key, job, config.chunk.resume, temporalReach(config),
                        network ? std::max(1, config.fast.batch) : 1, note);
  Config effective = config;
  if (state != nullptr) {
    const std::string netFormat = state->value("precision");
    if (!netFormat.empty()) effective.fast.precision = models::parsePrecision(netFormat);
    const std::string tile = state->value("tile");
    if (!tile.empty()) {
      try {
        effective.fast.tile = std::stoi(tile);
      } catch (const std::logic_error&) {
        // not a number (an edited state file): the job's own choice stands
      }
    }
    const std::string optFormat = state->value("optimizer_precision");
    if (!optFormat.empty()) effective.style.optimize.precision = models::parsePrecision(optFormat);
  }
  std::unique_ptr<FrameStylizer> stylizer = makeStylizer(effective, onIteration);
  VideoJobResult result;
  if (state != nullptr) result.stateFolder = state->folder();
  result.stats = runVideo(effective, *stylizer, onProgress, cancel, state.get(), note);
  result.network = stylizer->describe();
  return result;
}

}  // namespace flowstyle::pipeline
