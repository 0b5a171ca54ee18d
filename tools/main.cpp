// flowstyle command line: parses options, calls the libraries, turns exceptions into
// messages and exit codes. Nothing else.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "models/device.hpp"
#include "models/model_store.hpp"
#include "pipeline/jobs.hpp"
#include "pipeline/video_pipeline.hpp"
#include "stages/av_log.hpp"
#include "tools/options.hpp"
#include "tools/process_env.hpp"
#include "tools/progress.hpp"

#ifndef FLOWSTYLE_VERSION
#define FLOWSTYLE_VERSION "0.0.0"
#endif

namespace {

using namespace flowstyle;

std::atomic<bool> gCancel{false};
char** gArgv = nullptr;  // for the one re-execution in ensurePassiveOpenMpWait
std::atomic<int> gSignal{0};

extern "C" void onSignal(int sig) {
  gSignal.store(sig);
  gCancel.store(true);
}

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int cancelledExitCode() { return gSignal.load() == SIGTERM ? 143 : 130; }

int runVideoCommand(const std::vector<std::string>& args) {
  tools::VideoCommand cmd;
  if (!tools::parseVideo(args, cmd)) return 0;
  const pipeline::Config& c = cmd.config;
  if (c.method != pipeline::Method::Copy) {
    tools::ensurePassiveOpenMpWait(gArgv);
    models::configureTorchThreads(c.run.threads);
  }
  tools::ProgressPrinter printer(c.run.progress);
  std::int64_t currentFrame = 0;
  auto onIteration = [&](const models::OptimizeProgress& p) {
    if (gCancel.load()) throw pipeline::Cancelled();
    printer.iteration(p, currentFrame);
  };
  std::unique_ptr<pipeline::FrameStylizer> stylizer = pipeline::makeStylizer(c, onIteration);
  pipeline::JobStats stats = pipeline::runVideo(
      c, *stylizer,
      [&](const pipeline::Progress& p) {
        currentFrame = p.frame;
        printer.frame(p);
      },
      &gCancel);
  printer.finish();
  if (c.run.progress != pipeline::ProgressMode::Json) {
    std::fprintf(stderr, "%s: %lld frames at %dx%d in %s (%.2f fps; stylize %.1f s, flow %.1f s)\n",
                 c.writer.path.c_str(), static_cast<long long>(stats.framesWritten), stats.outputWidth,
                 stats.outputHeight, tools::formatDuration(stats.seconds).c_str(),
                 stats.seconds > 0 ? stats.framesWritten / stats.seconds : 0.0, stats.stylizeSeconds,
                 stats.flowSeconds);
    const std::string network = stylizer->describe();
    if (!network.empty()) std::fprintf(stderr, "%s\n", network.c_str());
  }
  return 0;
}

int runImageCommand(const std::vector<std::string>& args) {
  tools::ImageCommand cmd;
  if (!tools::parseImage(args, cmd)) return 0;
  tools::ensurePassiveOpenMpWait(gArgv);
  models::configureTorchThreads(cmd.config.run.threads);
  tools::ProgressPrinter printer(pipeline::ProgressMode::Auto);
  auto onIteration = [&](const models::OptimizeProgress& p) {
    if (gCancel.load()) throw pipeline::Cancelled();
    printer.iteration(p, 0);
  };
  pipeline::ImageStats stats = pipeline::runImage(cmd.config, cmd.content, cmd.output, onIteration);
  printer.finish();
  if (stats.iterations > 0) {
    std::fprintf(stderr, "%s: %dx%d, %d iterations, %.1f s, loss %.4g (content %.3g, style %.3g, tv %.3g)\n",
                 cmd.output.c_str(), stats.width, stats.height, stats.iterations, stats.seconds,
                 stats.loss.total, stats.loss.content, stats.loss.style, stats.loss.tv);
  } else {
    std::fprintf(stderr, "%s: %dx%d, %.1f s\n", cmd.output.c_str(), stats.width, stats.height, stats.seconds);
  }
  if (!stats.network.empty()) std::fprintf(stderr, "%s\n", stats.network.c_str());
  return 0;
}

int runEvalCommand(const std::vector<std::string>& args) {
  tools::EvalCommand cmd;
  if (!tools::parseEval(args, cmd)) return 0;
  stages::WarpingErrorReport r = pipeline::runEval(cmd.original, cmd.stylized, cmd.flow);
  if (cmd.json) {
    std::printf("{\"original\":\"%s\",\"stylized\":\"%s\",\"flow\":\"%s\",\"pairs\":[", cmd.original.c_str(),
                cmd.stylized.c_str(), stages::toString(cmd.flow.method).c_str());
    for (std::size_t i = 0; i < r.pairs.size(); ++i) {
      const stages::PairError& p = r.pairs[i];
      std::printf("%s{\"index\":%lld,\"stylized\":%.6g,\"original\":%.6g,\"visible\":%.4f}", i ? "," : "",
                  static_cast<long long>(p.index), p.stylized, p.original, p.visibleFraction);
    }
    std::printf("],\"mean_stylized\":%.6g,\"mean_original\":%.6g}\n", r.meanStylized, r.meanOriginal);
  } else {
    std::printf("warping error (Lai et al. 2018), %zu frame pairs, flow %s:\n", r.pairs.size(),
                stages::toString(cmd.flow.method).c_str());
    std::printf("  stylized  %.6f\n  original  %.6f  (the floor)\n", r.meanStylized, r.meanOriginal);
    if (r.meanOriginal > 0) std::printf("  ratio     %.2f\n", r.meanStylized / r.meanOriginal);
  }
  return 0;
}

const char* kindName(models::ModelKind kind) {
  return kind == models::ModelKind::LossNetwork ? "loss-network" : "style-network";
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
    std::printf("%-34s %-14s %-14s %-11s %8s  %s\n", "NAME", "KIND", "ARCH", "PREPROCESS", "MB", "LAYERS / PATH");
    for (const models::ModelEntry& e : entries) {
      std::string layers;
      for (const std::string& l : e.layers) layers += (layers.empty() ? "" : ",") + l;
      std::printf("%-34s %-14s %-14s %-11s %8.1f  %s%s%s\n", e.name.c_str(), kindName(e.kind), e.arch.c_str(),
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
  gArgv = argv;
  std::vector<std::string> args(argv + 1, argv + argc);
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
    if (command == "video") return runVideoCommand(rest);
    if (command == "image") return runImageCommand(rest);
    if (command == "eval") return runEvalCommand(rest);
    if (command == "models") return runModelsCommand(rest);
    throw tools::UsageError("unknown command '" + command + "' (valid: video, image, eval, models; see --help)");
  } catch (const pipeline::Cancelled&) {
    std::fprintf(stderr, "\nflowstyle: interrupted; no output written\n");
    return cancelledExitCode();
  } catch (const tools::UsageError& e) {
    std::fprintf(stderr, "flowstyle %s: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    if (gCancel.load()) {
      std::fprintf(stderr, "\nflowstyle: interrupted; no output written\n");
      return cancelledExitCode();
    }
    std::fprintf(stderr, "\nflowstyle: error: %s\n", e.what());
    return 1;
  }
}
