// flowstyle command line: parses options, calls the libraries, turns exceptions into
// messages and exit codes. Nothing else.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <csignal>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "models/device.hpp"
#include "models/model_store.hpp"
#include "pipeline/batch.hpp"
#include "pipeline/farm/part.hpp"
#include "pipeline/jobs.hpp"
#include "pipeline/memory.hpp"
#include "pipeline/video_job.hpp"
#include "pipeline/video_pipeline.hpp"
#include "stages/av_log.hpp"
#include "tools/errors.hpp"
#include "tools/farm.hpp"
#include "tools/json_output.hpp"
#include "tools/options.hpp"
#include "tools/process_env.hpp"
#include "tools/progress.hpp"

#ifndef FLOWSTYLE_VERSION
#define FLOWSTYLE_VERSION "0.0.0"
#endif

namespace {

using namespace flowstyle;

// What the signal handler sets (the one state it must reach): SIGINT or SIGTERM asks the
// running job to stop.
struct Interrupt {
  std::atomic<bool> requested{false};  // the libraries' `cancel` flag
  std::atomic<int> signal{0};          // which signal (the exit code says)
};
Interrupt gInterrupt;

// What a command runs with, made by main and passed down.
struct RunContext {
  char** argv = nullptr;        // for the one re-execution in ensurePassiveOpenMpWait
  bool verbose = false;         // --verbose: the memory estimate, and a library's full error text
  std::string errorContext;     // the file the command works on, named in library errors
  const Interrupt* interrupt = nullptr;

  const std::atomic<bool>* cancel() const { return &interrupt->requested; }
  bool cancelled() const { return interrupt->requested.load(); }
  int cancelledExitCode() const { return interrupt->signal.load() == SIGTERM ? 143 : 130; }
};

// --verbose: the job's memory estimate next to the peak it reached (ru_maxrss).
void printMemory(const RunContext& ctx, const std::string& estimate) {
  if (!ctx.verbose || estimate.empty()) return;
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  const pipeline::ProcessMemory self = pipeline::processMemory();
  std::fprintf(stderr, "memory: estimated %s; peak resident %s so far (ru_maxrss), peak address space %s\n",
               estimate.c_str(), pipeline::formatBytes(static_cast<std::uint64_t>(ru.ru_maxrss) * 1024).c_str(),
               pipeline::formatBytes(self.peakSize).c_str());
}

// The libraries' one-line remarks (stale temporaries removed, resuming, writer warnings).
void printNote(const std::string& text) { std::fprintf(stderr, "flowstyle: %s\n", text.c_str()); }

extern "C" void onSignal(int sig) {
  gInterrupt.signal.store(sig);
  gInterrupt.requested.store(true);
}

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// One video job with its progress display; returns the stats and the stylizer's note.
pipeline::JobStats runOneVideo(RunContext& ctx, const pipeline::Config& given, std::string& note) {
  ctx.errorContext = given.reader.path;
  // Before any weights are loaded or frames decoded: does the job fit? (It settles an
  // automatic --tile.)
  pipeline::Config c = given;
  const pipeline::MemoryEstimate memory = pipeline::checkVideoMemory(c);
  tools::ProgressPrinter printer(c.run.progress);
  std::int64_t currentFrame = 0;
  auto onIteration = [&](const models::OptimizeProgress& p) {
    if (ctx.cancelled()) throw pipeline::Cancelled();
    printer.iteration(p, currentFrame);
  };
  try {
    auto onProgress = [&](const pipeline::Progress& p) {
      currentFrame = p.frame;
      printer.frame(p);
    };
    // A frame range or chunk options make a farm part (its record in the output's tags).
    pipeline::VideoJobResult r = pipeline::makesPart(c)
                                     ? pipeline::runPartJob(c, onIteration, onProgress, ctx.cancel(), printNote)
                                     : pipeline::runVideoJob(c, onIteration, onProgress, ctx.cancel(), printNote);
    printer.finish();
    note = r.network;
    printMemory(ctx, memory.describe());
    if (r.stats.framesRestored > 0) {
      note += std::string(note.empty() ? "" : "\n") + "resumed: " + std::to_string(r.stats.framesRestored) +
              " frames taken from the resume state";
    }
    return r.stats;
  } catch (...) {
    printer.finish();
    std::error_code ec;
    const std::string folder = pipeline::ResumeState::folderFor(c.writer.path);
    if (c.chunk.resume && std::filesystem::exists(folder, ec)) {
      std::fprintf(stderr, "\nflowstyle: resume state kept in %s: run the same command with --resume to continue\n",
                   folder.c_str());
    }
    throw;
  }
}

// Before any side effect of a command: ensurePassiveOpenMpWait may run the process again.
void prepareTorch(const RunContext& ctx, const pipeline::Config& c) {
  if (c.method != pipeline::Method::Copy) {
    tools::ensurePassiveOpenMpWait(ctx.argv);
    models::configureTorchThreads(c.run.threads);
  }
}

void printVideoSummary(const pipeline::Config& c, const pipeline::JobStats& stats, const std::string& note) {
  std::fprintf(stderr, "%s: %lld frames at %dx%d in %s (%.2f fps; stylize %.1f s, flow %.1f s)\n",
               c.writer.path.c_str(), static_cast<long long>(stats.framesWritten), stats.outputWidth,
               stats.outputHeight, tools::formatDuration(stats.seconds).c_str(),
               stats.seconds > 0 ? stats.framesWritten / stats.seconds : 0.0, stats.stylizeSeconds,
               stats.flowSeconds);
  if (!note.empty()) std::fprintf(stderr, "%s\n", note.c_str());
  const std::int64_t saved = stats.framesDecoded - stats.framesRestored;
  if (stats.stateSeconds > 0 && saved > 0) {
    std::fprintf(stderr, "resume state: %.1f ms per frame to keep\n", 1000 * stats.stateSeconds / saved);
  }
}

int runVideoCommand(RunContext& ctx, const std::vector<std::string>& args) {
  tools::VideoCommand cmd;
  if (!tools::parseVideo(args, cmd)) return 0;
  const pipeline::Config& c = cmd.config;
  prepareTorch(ctx, c);
  std::string note;
  pipeline::JobStats stats = runOneVideo(ctx, c, note);
  if (c.run.progress != pipeline::ProgressMode::Json) printVideoSummary(c, stats, note);
  return 0;
}

// flowstyle preview: a short low-resolution segment and a side-by-side picture.
int runPreviewCommand(RunContext& ctx, const std::vector<std::string>& args) {
  tools::PreviewCommand cmd;
  if (!tools::parsePreview(args, cmd)) return 0;
  const pipeline::Config& c = cmd.video.config;
  pipeline::checkImageOutputPath(cmd.picture);  // before the job, not after it
  prepareTorch(ctx, c);
  std::string note;
  const pipeline::JobStats stats = runOneVideo(ctx, c, note);
  const std::int64_t middle = stats.framesWritten / 2;
  pipeline::writeSideBySide(c.reader, c.writer.path, middle, cmd.picture, printNote);
  if (c.run.progress != pipeline::ProgressMode::Json) {
    printVideoSummary(c, stats, note);
    std::fprintf(stderr, "%s: frame %lld of the segment, original | stylized\n", cmd.picture.c_str(),
                 static_cast<long long>(middle));
  }
  return 0;
}

// flowstyle batch: every clip of a folder with the same options. A failing clip is
// reported and the next one runs; an interrupt stops the batch (finished clips stay).
int runBatchCommand(RunContext& ctx, const std::vector<std::string>& args) {
  tools::BatchCommand cmd;
  if (!tools::parseBatch(args, cmd)) return 0;
  const pipeline::Config& base = cmd.video.config;
  prepareTorch(ctx, base);  // may run the process again: before the output folder is made
  const std::vector<pipeline::BatchItem> plan =
      pipeline::planBatch(cmd.inputDir, cmd.outputDir, cmd.ext, cmd.overwrite);
  std::error_code ec;
  std::filesystem::create_directories(cmd.outputDir, ec);
  if (ec) throw std::runtime_error(cmd.outputDir + ": cannot create the output folder: " + ec.message());
  const bool json = base.run.progress == pipeline::ProgressMode::Json;

  struct Outcome {
    std::string status = "not started";  // done | skipped | failed | interrupted | not started
    std::string detail;
    std::int64_t frames = 0;
    double seconds = 0;
  };
  std::vector<Outcome> outcomes(plan.size());
  auto report = [&](std::size_t i) {
    const Outcome& o = outcomes[i];
    if (json) {
      const tools::Json line = {{"clip", plan[i].input},
                                {"output", plan[i].output},
                                {"status", o.status},
                                {"frames", o.frames},
                                {"seconds", tools::printedAs("%.3f", o.seconds)},
                                {"detail", o.detail}};
      std::printf("%s\n", tools::jsonLine(line).c_str());
      std::fflush(stdout);
    } else if (o.status != "done") {
      std::fprintf(stderr, "  %s: %s\n", o.status.c_str(), o.detail.c_str());
    }
  };
  bool interrupted = false;
  for (std::size_t i = 0; i < plan.size() && !interrupted; ++i) {
    const pipeline::BatchItem& item = plan[i];
    Outcome& o = outcomes[i];
    if (!json) std::fprintf(stderr, "[%zu/%zu] %s -> %s\n", i + 1, plan.size(), item.input.c_str(), item.output.c_str());
    if (item.action == pipeline::BatchItem::Action::Reject) {
      o.status = "failed";
      o.detail = item.reason;
    } else if (item.action == pipeline::BatchItem::Action::SkipDone ||
               (!cmd.overwrite && std::filesystem::exists(item.output, ec))) {  // another node finished it
      o.status = "skipped";
      o.detail = item.output + " exists (--overwrite to redo it)";
    } else {
      pipeline::Config c = base;
      c.reader.path = item.input;
      c.writer.path = item.output;
      try {
        // One process per clip, whatever the node: the clip's lock (pipeline/batch.hpp).
        std::string holder;
        const std::unique_ptr<pipeline::ClipLock> lock = pipeline::ClipLock::acquire(item.output, &holder);
        if (!lock || (!cmd.overwrite && std::filesystem::exists(item.output, ec))) {
          o.status = "skipped";
          o.detail = lock ? item.output + " exists (--overwrite to redo it)"
                          : item.output + ": another batch process works on it (lock " +
                                pipeline::clipLockPath(item.output) + " held by " + holder + ")";
          report(i);
          continue;
        }
        std::string note;
        const pipeline::JobStats stats = runOneVideo(ctx, c, note);
        o.status = "done";
        o.frames = stats.framesWritten;
        o.seconds = stats.seconds;
        if (!json) printVideoSummary(c, stats, note);
      } catch (const pipeline::Cancelled&) {
        o.status = "interrupted";
        o.detail = "no output written";
        interrupted = true;
      } catch (const std::exception& e) {
        if (ctx.cancelled()) {
          o.status = "interrupted";
          o.detail = "no output written";
          interrupted = true;
        } else {
          o.status = "failed";
          o.detail = tools::errorLine(std::current_exception(), item.input);
        }
      }
    }
    report(i);
  }

  int done = 0, skipped = 0, failed = 0, notStarted = 0;
  for (const Outcome& o : outcomes) {
    done += o.status == "done";
    skipped += o.status == "skipped";
    failed += o.status == "failed";
    notStarted += o.status == "not started";
  }
  if (json) {
    const tools::Json summary = {{"batch",
                                  {{"clips", plan.size()},
                                   {"done", done},
                                   {"skipped", skipped},
                                   {"failed", failed},
                                   {"interrupted", interrupted},
                                   {"not_started", notStarted}}}};
    std::printf("%s\n", tools::jsonLine(summary).c_str());
  } else {
    std::fprintf(stderr, "\nbatch %s: %zu clips: %d done, %d skipped, %d failed%s\n", cmd.inputDir.c_str(),
                 plan.size(), done, skipped, failed,
                 interrupted ? (", interrupted (" + std::to_string(notStarted) + " not started)").c_str() : "");
    for (std::size_t i = 0; i < plan.size(); ++i) {
      const Outcome& o = outcomes[i];
      if (o.status != "failed") continue;
      if (o.detail.find(plan[i].input) != std::string::npos) {  // the message names the clip already
        std::fprintf(stderr, "  failed: %s\n", o.detail.c_str());
      } else {
        std::fprintf(stderr, "  failed: %s: %s\n", plan[i].input.c_str(), o.detail.c_str());
      }
    }
  }
  if (interrupted) {
    std::fprintf(stderr, "flowstyle: interrupted; finished clips are kept, the clip in progress left no output\n");
    return ctx.cancelledExitCode();
  }
  return failed > 0 ? 1 : 0;
}

int runImageCommand(RunContext& ctx, const std::vector<std::string>& args) {
  tools::ImageCommand cmd;
  if (!tools::parseImage(args, cmd)) return 0;
  tools::ensurePassiveOpenMpWait(ctx.argv);
  ctx.errorContext = cmd.content;
  models::configureTorchThreads(cmd.config.run.threads);
  tools::ProgressPrinter printer(pipeline::ProgressMode::Auto);
  auto onIteration = [&](const models::OptimizeProgress& p) {
    if (ctx.cancelled()) throw pipeline::Cancelled();
    printer.iteration(p, 0);
  };
  pipeline::ImageStats stats = pipeline::runImage(cmd.config, cmd.content, cmd.output, onIteration, printNote);
  printer.finish();
  if (stats.iterations > 0) {
    std::fprintf(stderr, "%s: %dx%d, %d iterations, %.1f s, loss %.4g (content %.3g, style %.3g, tv %.3g)\n",
                 cmd.output.c_str(), stats.width, stats.height, stats.iterations, stats.seconds,
                 stats.loss.total, stats.loss.content, stats.loss.style, stats.loss.tv);
  } else {
    std::fprintf(stderr, "%s: %dx%d, %.1f s\n", cmd.output.c_str(), stats.width, stats.height, stats.seconds);
  }
  if (!stats.network.empty()) std::fprintf(stderr, "%s\n", stats.network.c_str());
  printMemory(ctx, stats.memory);
  return 0;
}

// Per-seam numbers of `flowstyle eval --seams`: each seam's pair against the video's median
// pair and, with --reference, against the same pair of an uninterrupted run.
struct SeamRow {
  std::int64_t frame = 0;
  double stylized = 0, reference = -1;
};

double medianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// `flowstyle eval --json`: one object, numbers with the digits the text output has always had
// (6 significant, ratios and the visible fraction 4 decimals).
tools::Json evalJson(const tools::EvalCommand& cmd, const stages::WarpingErrorReport& r,
                     const std::optional<stages::WarpingErrorReport>& ref, double median,
                     const std::vector<SeamRow>& seams) {
  using tools::printedAs;
  tools::Json pairs = tools::Json::array();
  for (std::size_t i = 0; i < r.pairs.size(); ++i) {
    const stages::PairError& p = r.pairs[i];
    tools::Json pair = {{"index", p.index},
                        {"stylized", printedAs("%.6g", p.stylized)},
                        {"original", printedAs("%.6g", p.original)},
                        {"visible", printedAs("%.4f", p.visibleFraction)}};
    if (ref) pair["reference"] = printedAs("%.6g", ref->pairs[i].stylized);
    pairs.push_back(std::move(pair));
  }
  tools::Json out = {{"original", cmd.original},
                     {"stylized", cmd.stylized},
                     {"flow", stages::toString(cmd.flow.method)},
                     {"pairs", std::move(pairs)},
                     {"mean_stylized", printedAs("%.6g", r.meanStylized)},
                     {"mean_original", printedAs("%.6g", r.meanOriginal)},
                     {"median_stylized", printedAs("%.6g", median)}};
  if (ref) {
    out["mean_reference"] = printedAs("%.6g", ref->meanStylized);
    out["mean_ratio"] = printedAs("%.4f", ratio(r.meanStylized, ref->meanStylized));
  }
  if (!cmd.seams.empty()) {
    tools::Json rows = tools::Json::array();
    for (const SeamRow& s : seams) {
      tools::Json row = {{"frame", s.frame},
                         {"stylized", printedAs("%.6g", s.stylized)},
                         {"median_ratio", printedAs("%.4f", ratio(s.stylized, median))}};
      if (ref) {
        row["reference"] = printedAs("%.6g", s.reference);
        row["ratio"] = printedAs("%.4f", ratio(s.stylized, s.reference));
      }
      rows.push_back(std::move(row));
    }
    out["seams"] = std::move(rows);
  }
  return out;
}

int runEvalCommand(const std::vector<std::string>& args) {
  tools::EvalCommand cmd;
  if (!tools::parseEval(args, cmd)) return 0;
  stages::WarpingErrorReport r = pipeline::runEval(cmd.original, cmd.stylized, cmd.flow);
  std::optional<stages::WarpingErrorReport> ref;
  if (!cmd.reference.empty()) {
    ref = pipeline::runEval(cmd.original, cmd.reference, cmd.flow);
    if (ref->pairs.size() != r.pairs.size()) {
      throw std::runtime_error(cmd.reference + ": has " + std::to_string(ref->pairs.size() + 1) + " frames, " +
                               cmd.stylized + " has " + std::to_string(r.pairs.size() + 1));
    }
  }
  std::vector<double> all;
  for (const stages::PairError& p : r.pairs) all.push_back(p.stylized);
  const double median = medianOf(all);
  std::vector<SeamRow> seams;
  for (std::int64_t f : cmd.seams) {
    if (f > static_cast<std::int64_t>(r.pairs.size())) {
      throw tools::UsageError("--seams: frame " + std::to_string(f) + " is past the last pair of " + cmd.stylized +
                              " (" + std::to_string(r.pairs.size() + 1) + " frames)");
    }
    SeamRow row;
    row.frame = f;
    row.stylized = r.pairs[static_cast<std::size_t>(f - 1)].stylized;
    if (ref) row.reference = ref->pairs[static_cast<std::size_t>(f - 1)].stylized;
    seams.push_back(row);
  }
  if (cmd.json) {
    std::printf("%s\n", tools::jsonLine(evalJson(cmd, r, ref, median, seams)).c_str());
  } else {
    std::printf("warping error (Lai et al. 2018), %zu frame pairs, flow %s:\n", r.pairs.size(),
                stages::toString(cmd.flow.method).c_str());
    std::printf("  stylized  %.6f\n  original  %.6f  (the floor)\n", r.meanStylized, r.meanOriginal);
    if (r.meanOriginal > 0) std::printf("  ratio     %.2f\n", r.meanStylized / r.meanOriginal);
    if (ref) {
      std::printf("  reference %.6f  (%s; stylized / reference %.3f)\n", ref->meanStylized, cmd.reference.c_str(),
                  ratio(r.meanStylized, ref->meanStylized));
    }
    if (!seams.empty()) {
      std::printf("seam pairs (frame-1 -> frame), median pair %.6f:\n", median);
      for (const SeamRow& s : seams) {
        std::printf("  frame %6lld  %.6f  (x%.2f the median", static_cast<long long>(s.frame), s.stylized,
                    ratio(s.stylized, median));
        if (ref) std::printf("; reference %.6f, ratio %.3f", s.reference, ratio(s.stylized, s.reference));
        std::printf(")\n");
      }
    }
  }
  return 0;
}

// flowstyle join: farm parts -> one video.
int runJoinCommand(RunContext& ctx, const std::vector<std::string>& args) {
  tools::JoinCommand cmd;
  if (!tools::parseJoin(args, cmd)) return 0;
  const bool json = cmd.progress == pipeline::ProgressMode::Json;
  if (cmd.config.restyle) {
    prepareTorch(ctx, *cmd.config.restyle);
    if (!json && cmd.progress != pipeline::ProgressMode::None) {
      cmd.config.onRestyleFrame = [](const std::string& line) { std::fprintf(stderr, "join: %s\n", line.c_str()); };
    }
  }
  // Remarks (the blend --blend auto chose, the writer's warnings) go to stderr in every mode, as `video`'s do.
  cmd.config.note = [](const std::string& line) { std::fprintf(stderr, "join: %s\n", line.c_str()); };
  tools::ProgressPrinter printer(cmd.progress);
  const auto start = std::chrono::steady_clock::now();
  const pipeline::JoinStats stats = pipeline::runJoin(
      cmd.config,
      [&](std::int64_t done, std::int64_t total) {
        pipeline::Progress p;
        p.frame = done;
        p.total = total;
        p.elapsedSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        p.fps = p.elapsedSeconds > 0 ? done / p.elapsedSeconds : 0;
        p.etaSeconds = p.fps > 0 ? (total - done) / p.fps : -1;
        printer.frame(p);
      },
      ctx.cancel());
  printer.finish();
  if (!json) {
    std::string seams;
    for (std::int64_t f : stats.plan.seams) seams += (seams.empty() ? "" : ",") + std::to_string(f);
    if (cmd.config.seamPart) {
      const std::int64_t last = stats.plan.parts[0].frames.last;
      std::fprintf(stderr, "%s: seam part of the seam at frame %s, %lld restyled frames (%s), in %s\n",
                   cmd.config.writer.path.c_str(), seams.c_str(), static_cast<long long>(stats.frames),
                   toString(pipeline::FrameRange{last - stats.frames + 1, last}).c_str(),
                   tools::formatDuration(stats.seconds).c_str());
    } else {
      std::fprintf(stderr, "%s: %lld frames (%s) from %zu parts, %lld blended, in %s%s%s\n",
                   cmd.config.writer.path.c_str(), static_cast<long long>(stats.frames),
                   toString(stats.plan.frames).c_str(),
                   stats.plan.parts.size(), static_cast<long long>(stats.blended),
                   tools::formatDuration(stats.seconds).c_str(), seams.empty() ? "" : "; seams at frames ",
                   seams.c_str());
    }
    for (const pipeline::SeamReport& r : stats.seams) {
      if (!r.measured) continue;
      if (r.jump == 0) {
        std::fprintf(stderr, "  seam at frame %lld: the parts agree on all %d frames of the fade (one chain): taken as they are\n",
                     static_cast<long long>(r.frame), r.width);
        continue;
      }
      std::fprintf(stderr,
                   "  seam at frame %lld: the parts differ by %.1fx their own frame-to-frame error (correlation "
                   "%.2f); fade over %d frames, expected worst pair %.2fx (a linear ramp: %.2fx)%s\n",
                   static_cast<long long>(r.frame), r.jump, r.rho, r.width, r.expected, r.expectedLinear,
                   r.expected > 1.25 ? "; a longer --overlap (and --preroll) would hide it better" : "");
      if (r.settleWithout > 0) {
        std::string steady;
        if (r.settleSteady > 0) {
          char buf[160];
          std::snprintf(buf, sizeof buf, "; %.2fx before the fade was kept steady on %d pair%s where rounding showed",
                        r.settleFirst, r.settleSteady, r.settleSteady == 1 ? "" : "s");
          steady = buf;
        }
        std::fprintf(stderr,
                     "  seam at frame %lld: restyled, then faded onto the later part's own frames: worst pair %.2fx "
                     "(cut over without that fade: %.2fx%s)\n",
                     static_cast<long long>(r.frame), r.settleExpected, r.settleWithout, steady.c_str());
      }
      if (r.polished > 0) {
        std::fprintf(stderr, "  seam at frame %lld: %d fade frame%s painted again from the joined frame%s (--restyle-polish)\n",
                     static_cast<long long>(r.frame), r.polished, r.polished == 1 ? "" : "s", r.polished == 1 ? "" : "s");
      }
    }
  }
  return 0;
}

const char* kindName(models::ModelKind kind) {
  switch (kind) {
    case models::ModelKind::LossNetwork: return "loss-network";
    case models::ModelKind::StyleNetwork: return "style-network";
    case models::ModelKind::ArbitraryNetwork: return "arbitrary-network";
  }
  return "model";
}

int runModelsCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "Usage: flowstyle models list\n       flowstyle models install PATH... [--to DIR]\n\n"
                 "Weights are looked up in: --loss-net/--model PATH, then $FLOWSTYLE_MODELS\n"
                 "(':'-separated folders), then " << models::userCacheDir() << "\n";
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "list") {
    std::vector<std::string> problems;
    std::vector<models::ModelEntry> entries = models::listModels(&problems);
    for (const std::string& p : problems) std::fprintf(stderr, "warning: skipped %s\n", p.c_str());
    if (entries.empty()) {
      std::printf("no weights installed (looked in:");
      for (const std::string& d : models::modelSearchDirs()) std::printf(" %s", d.c_str());
      std::printf(")\ninstall with: flowstyle models install PATH...\n");
      return 0;
    }
    std::printf("%-34s %-17s %-14s %-11s %8s  %s\n", "NAME", "KIND", "ARCH", "PREPROCESS", "MB", "LAYERS / PATH");
    for (const models::ModelEntry& e : entries) {
      std::string layers;
      for (const std::string& l : e.layers) layers += (layers.empty() ? "" : ",") + l;
      std::printf("%-34s %-17s %-14s %-11s %8.1f  %s%s%s\n", e.name.c_str(), kindName(e.kind), e.arch.c_str(),
                  e.preprocess.c_str(), e.bytes / 1e6, layers.c_str(), layers.empty() ? "" : "  ", e.path.c_str());
    }
    return 0;
  }
  if (args[0] == "install") {
    std::vector<std::string> paths;
    std::string dest;
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (args[i] == "--to" && i + 1 < args.size()) dest = args[++i];
      else paths.push_back(args[i]);
    }
    if (paths.empty()) throw tools::UsageError("models install: give at least one PATH");
    for (const models::ModelEntry& e : models::installModels(paths, dest)) {
      std::printf("installed %s (%s, %s) -> %s\n", e.name.c_str(), kindName(e.kind), e.arch.c_str(), e.path.c_str());
    }
    return 0;
  }
  throw tools::UsageError("models: unknown action '" + args[0] + "' (valid: list, install)");
}

}  // namespace

int main(int argc, char** argv) {
  RunContext ctx;
  ctx.argv = argv;
  ctx.interrupt = &gInterrupt;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--verbose") ctx.verbose = true;  // any command, any position
    else args.emplace_back(argv[i]);
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    tools::printMainHelp();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::printf("flowstyle %s\n", FLOWSTYLE_VERSION);
    return 0;
  }
  installSignalHandlers();
  stages::setLibavLogLevel(stages::LibavLog::Errors);
  const std::string command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (command == "video") return runVideoCommand(ctx, rest);
    if (command == "batch") return runBatchCommand(ctx, rest);
    if (command == "preview") return runPreviewCommand(ctx, rest);
    if (command == "image") return runImageCommand(ctx, rest);
    if (command == "eval") return runEvalCommand(rest);
    if (command == "join") return runJoinCommand(ctx, rest);
    if (command == "models") return runModelsCommand(rest);
    if (command == "farm") return tools::runFarmCommand(rest);
    throw tools::UsageError("unknown command '" + command + "' (valid: video, batch, preview, join, image, eval, models, farm; see --help)");
  } catch (const pipeline::Cancelled&) {
    std::fprintf(stderr, "\nflowstyle: interrupted; no output written\n");
    return ctx.cancelledExitCode();
  } catch (const tools::UsageError& e) {
    std::fprintf(stderr, "flowstyle %s: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    if (ctx.cancelled()) {
      std::fprintf(stderr, "\nflowstyle: interrupted; no output written\n");
      return ctx.cancelledExitCode();
    }
    std::fprintf(stderr, "\nflowstyle: error: %s\n", tools::errorLine(std::current_exception(), ctx.errorContext).c_str());
    const std::string details = ctx.verbose ? tools::errorDetails(std::current_exception()) : "";
    if (!details.empty()) std::fprintf(stderr, "the library's full text (--verbose):\n%s\n", details.c_str());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "\nflowstyle: error: %s\n", tools::errorLine(std::current_exception(), ctx.errorContext).c_str());
    return 1;
  }
}
