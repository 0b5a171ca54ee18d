// flowstyle-bench: measures throughput, per-iteration cost, memory and temporal quality.
//
//   flowstyle-bench [--json] [--threads N] [--device D] [--shared DIR] [--keep | --work DIR] COMMAND [options]
//
// Commands: all (= the benchmarks marked inAll), then one per file in tools/bench/ (--help lists them).
// Synthetic clips are generated with the ffmpeg CLI into a temporary folder (removed at the
// end unless --keep). --work DIR uses DIR instead and keeps it; benchmarks whose inputs are
// slow to make (farm: the uninterrupted run and the chunk parts) reuse what DIR holds. Real inputs come from $FLOWSTYLE_SHARED (default <repo>/../shared),
// weights by explicit path (never the user cache). The harness (child processes, peak RSS,
// JSON lines) is tools/bench/harness.hpp.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "stages/av_log.hpp"
#include "tools/bench/harness.hpp"
#include "tools/process_env.hpp"

namespace fs = std::filesystem;

// ---------------------------------------------------------------- registry
// A benchmark is tools/bench/<name>.cpp defining `Benchmark <name>Benchmark()`; register it
// with one line here (in --help order) and add the file to tools/CMakeLists.txt.
#define FLOWSTYLE_BENCHMARKS(X) \
  X(copy)                       \
  X(style)                      \
  X(flow)                       \
  X(fast)                       \
  X(conv)                       \
  X(precision)                  \
  X(video)                      \
  X(temporal)                   \
  X(hybrid)                     \
  X(hybridAny)                  \
  X(borders)                    \
  X(pipelineChild)              \
  X(farm)                       \
  X(farmSlurm)                  \
  X(arbitrary)                  \
  X(tiles)                      \
  X(tilesOptimize)              \
  /* one line per benchmark, above this one */

namespace flowstyle::bench {
#define FLOWSTYLE_DECLARE_BENCHMARK(name) Benchmark name##Benchmark();
FLOWSTYLE_BENCHMARKS(FLOWSTYLE_DECLARE_BENCHMARK)
#undef FLOWSTYLE_DECLARE_BENCHMARK
}  // namespace flowstyle::bench

using namespace flowstyle::bench;

namespace {

std::string selfPath() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("/proc/self/exe: cannot resolve the benchmark's own path");
  return p.string();
}

}  // namespace

int main(int argc, char** argv) {
  // Same OpenMP wait policy as the flowstyle CLI, inherited by every child it measures.
  flowstyle::tools::ensurePassiveOpenMpWait(argv);
#define FLOWSTYLE_LIST_BENCHMARK(name) name##Benchmark(),
  setBenchmarks({FLOWSTYLE_BENCHMARKS(FLOWSTYLE_LIST_BENCHMARK)});
#undef FLOWSTYLE_LIST_BENCHMARK
  std::vector<std::string> args(argv + 1, argv + argc);
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= args.size()) usage(a + " needs a value");
      return args[++i];
    };
    if (a == "--json") gOpt.json = true;
    else if (a == "--keep") gOpt.keep = true;
    else if (a == "--work") gOpt.work = next(), gOpt.keep = true;
    else if (a == "--threads") gOpt.threads = parseInts(next(), "--threads").at(0);
    else if (a == "--shared") gOpt.shared = next();
    else if (a == "--device") gOpt.device = next();
    else if (a == "--sizes") gOpt.sizes = parseInts(next(), "--sizes");
    else if (a == "--nets") gOpt.nets = splitComma(next());
    else if (a == "--clips") gOpt.clips = splitComma(next());
    else if (a == "--prerolls") gOpt.prerolls = parseInts(next(), "--prerolls");
    else if (a == "--slurm" && gOpt.command == "farm") gOpt.command = "farm-slurm";  // farm --slurm
    else if (a == "--slurm") usage("--slurm goes after farm: flowstyle-bench farm --slurm");
    else if (a == "--iters") gOpt.iterations = parseInts(next(), "--iters").at(0);
    else if (a == "-h" || a == "--help") usage("");
    else if (gOpt.command.empty()) gOpt.command = a;
    else if (!a.empty() && a[0] == '_') usage("unexpected " + a);
    else if (gOpt.command[0] == '_') gOpt.args.push_back(a);
    else usage("unexpected argument '" + a + "'");
  }
  if (gOpt.command.empty()) usage("missing COMMAND");
  try {
    flowstyle::stages::setLibavLogLevel(flowstyle::stages::LibavLog::Errors);
    gSelf = selfPath();
    const bool child = gOpt.command[0] == '_';
    if (child) {
      gTmp = fs::temp_directory_path().string();
      if (const char* t = std::getenv("FLOWSTYLE_BENCH_TMP")) gTmp = t;
      for (const Benchmark& b : benchmarks()) {
        for (const auto& [name, run] : b.children) {
          if (name == gOpt.command) return run(gOpt.args);
        }
      }
      usage("unknown command " + gOpt.command);
    }
    if (!gOpt.work.empty()) {
      fs::create_directories(gOpt.work);
      gTmp = fs::absolute(gOpt.work).string();
    } else {
      std::string tmpl = (fs::temp_directory_path() / "flowstyle-bench-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) throw std::runtime_error(tmpl + ": cannot create a temporary folder");
      gTmp = tmpl;
    }
    setenv("FLOWSTYLE_BENCH_TMP", gTmp.c_str(), 1);
    installSignalHandlers();
    const std::string& cmd = gOpt.command;
    std::printf("flowstyle-bench %s: shared %s, %ld cores online, load %s\n", cmd.c_str(), sharedDir().c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), loadAvg().c_str());
    ChildResult floor = rssFloor();
    std::printf("rss floor (a forked child that only execs /bin/true): %.1f MB\n", floor.maxRssMb);
    JsonLine("rss_floor").add("peak_rss_mb", floor.maxRssMb).print();
    const auto t0 = Clock::now();
    bool known = false;
    for (const Benchmark& b : benchmarks()) {
      if (!b.run || b.name.empty()) continue;
      if (cmd == b.name || (cmd == "all" && b.inAll)) {
        b.run();
        known = true;
      }
    }
    if (!gOpt.keep) {
      std::error_code ec;
      fs::remove_all(gTmp, ec);
    } else {
      std::printf("kept %s\n", gTmp.c_str());
    }
    if (!known) usage("unknown command '" + cmd + "'");
    std::printf("\ndone in %.1f s (load %s)\n", secondsSince(t0), loadAvg().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flowstyle-bench: %s\n", e.what());
    if (!gTmp.empty() && gOpt.command[0] != '_' && !gOpt.keep) {
      std::error_code ec;
      fs::remove_all(gTmp, ec);
    }
    return 1;
  }
}
