#pragma once
// One whole `flowstyle video` job: identity, resume state, stylizer, graph. What the CLI,
// `batch`, `preview` and the benchmarks run.
#include <atomic>
#include <functional>
#include <string>

#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/job_identity.hpp"
#include "pipeline/video_pipeline.hpp"

namespace flowstyle::pipeline {

struct VideoJobResult {
  JobStats stats;
  std::string network;     // the stylizer's summary line (style network, number format)
  std::string stateFolder; // where resume state was kept; empty without --resume
};

// Builds the stylizer after the resume state is opened (a resumed run reuses the number
// format the first run settled on), then runs the graph. `note` receives one-line
// remarks (stale state removed, resuming from frame N). On an exception with
// config.chunk.resume set, the state stays for the next --resume. The job's identity
// (identifyJob) is needed only with --resume; `identity`: already computed, or null.
// The output's container tags are config.writer.tags (a farm part's record:
// pipeline/farm/part.hpp).
VideoJobResult runVideoJob(const Config& config, const IterationCallback& onIteration,
                           const std::function<void(const Progress&)>& onProgress,
                           const std::atomic<bool>* cancel,
                           const std::function<void(const std::string&)>& note,
                           const JobIdentity* identity = nullptr);

}  // namespace flowstyle::pipeline
