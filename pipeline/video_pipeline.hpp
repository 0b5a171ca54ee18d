#pragma once
// The oneTBB flow graph that streams a video through the stages:
//
//   decode ─► limiter ─► prepare ─► sequencer ─► pair ─► flow ─► sequencer ─► batch ─► stylize ─► encode ─► limiter.decrement
//   serial    N frames   parallel   by index     serial  parallel by index     serial   serial     serial
//             in flight  resize                  window  fwd+bwd               (fast    (temporal
//                        + gray                  of      + certainty           net)     state)
//                                                earlier frames
//
// Only this folder knows TBB.
#include <atomic>
#include <cstdint>
#include <functional>

#include "pipeline/config.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/job_identity.hpp"
#include "pipeline/resume_state.hpp"

namespace flowstyle::pipeline {

struct Progress {
  std::int64_t frame = 0;    // frames written so far
  std::int64_t total = -1;   // expected, -1 unknown
  double fps = 0;
  double etaSeconds = -1;
  double elapsedSeconds = 0;
};

struct JobStats {
  std::int64_t framesDecoded = 0;
  std::int64_t framesWritten = 0;
  std::int64_t framesRestored = 0;  // taken from resume state instead of stylized
  double stateSeconds = 0;          // spent saving resume state
  double seconds = 0;          // wall time of the graph
  double stylizeSeconds = 0;   // time inside the stylize node (the bottleneck)
  double flowSeconds = 0;      // summed over flow tasks
  double networkSeconds = 0;   // summed over batch pre-pass calls
  std::int64_t iterations = 0; // optimizer iterations, all frames
  models::LossTerms lossSum;   // optimizer losses summed over frames (0 for single-pass methods)
  int outputWidth = 0;
  int outputHeight = 0;
};

// Thrown when the cancel flag was raised (SIGINT/SIGTERM). No output is left.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("cancelled") {}
};

// Runs the whole job; returns when the output is complete and renamed into place.
// Throws the first error of any node (after the graph has stopped); the output's
// temporary file is removed. `cancel` is polled between frames (and by the
// stylizer's iteration callback); when set, throws Cancelled.
// Chunks (config.chunk): stylizes from --frames A minus the pre-roll, writes from A minus
// the overlap (chunkSpan). The output carries config.writer.tags.
// `state`: frames it holds are taken from it, new ones saved to it; finished (removed)
// when the output is complete. `note` receives the writer's one-line remarks
// (stages::WriterNotes); none: they are dropped.
JobStats runVideo(const Config& config, FrameStylizer& stylizer,
                  const std::function<void(const Progress&)>& onProgress,
                  const std::atomic<bool>* cancel, ResumeState* state = nullptr,
                  const std::function<void(const std::string&)>& note = {});

}  // namespace flowstyle::pipeline
