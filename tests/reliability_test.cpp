// Reliability: the memory estimate and limits, one-line errors, what killed runs leave.
// CLI tests run the built executable under a real limit (RLIMIT_AS via `ulimit -v`).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>
#include <tuple>

#include <gtest/gtest.h>

#include "pipeline/arbitrary_stylizer.hpp"
#include "pipeline/memory.hpp"
#include "stages/sequence_pattern.hpp"
#include "stages/temp_files.hpp"
#include "tests/cli_support.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"
#include "tests/test_support.hpp"
#include "tools/errors.hpp"

namespace fs = std::filesystem;
using flowstyle::test::CommandResult;
using flowstyle::test::scratchDir;
using flowstyle::test::sharedPath;
namespace pl = flowstyle::pipeline;

namespace {

constexpr std::uint64_t kGiB = 1024ull * 1024 * 1024;
constexpr std::uint64_t kMiB = 1024ull * 1024;

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new flowstyle::test::cli::CliModelsEnvironment("reliability"));

// AddressSanitizer reserves ~14 TiB of address space for its shadow at start-up, so an
// instrumented flowstyle cannot start under `ulimit -v` at all ("ReserveShadowMemoryRange
// failed ... Perhaps you're using ulimit -v", measured with 2.5 and 15 GiB). The tests that
// need RLIMIT_AS skip in the sanitized suite (tools/test-sanitized.sh); the plain suite runs them.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif
#define SKIP_UNDER_ASAN_RLIMIT_AS()                                                                  \
  if (kAddressSanitizer) GTEST_SKIP() << "AddressSanitizer cannot start under ulimit -v (its shadow " \
                                         "memory); this test runs in the unsanitized suite"

// flowstyle ARGS, under `ulimit -v` (KiB) when limitBytes > 0.
CommandResult cli(const std::vector<std::string>& args, const fs::path& scratch, std::uint64_t limitBytes = 0) {
  std::string cmd = limitBytes > 0 ? "ulimit -v " + std::to_string(limitBytes / 1024) + " && exec " : "exec ";
  cmd += flowstyle::test::shellQuote(FLOWSTYLE_CLI);
  for (const std::string& a : args) cmd += " " + flowstyle::test::shellQuote(a);
  return flowstyle::test::run({"sh", "-c", cmd}, scratch);
}

// The address space the CLI needs to start (its libraries mapped): the smallest `ulimit -v`, to
// 32 MiB, under which `flowstyle --version` runs. Debian's LibTorch 1.13 build maps ~0.45 GiB;
// the torch wheel's 2.x build ~2.8 GiB (libtorch_cuda, cuBLAS, cuDNN ... are mapped even without a
// GPU), so a fixed limit that leaves 2 GiB of work to one build does not let the other start.
std::uint64_t startupAddressSpace(const fs::path& scratch) {
  static std::uint64_t bytes = [&] {
    std::uint64_t lo = 64 * kMiB, hi = 16 * kGiB;  // lo fails, hi runs
    const std::string exe = flowstyle::test::shellQuote(FLOWSTYLE_CLI);
    auto runs = [&](std::uint64_t limit) {
      return flowstyle::test::run({"sh", "-c", "ulimit -v " + std::to_string(limit / 1024) + " && exec " + exe +
                                                   " --version"},
                                  scratch)
                 .exitCode == 0;
    };
    if (!runs(hi)) ADD_FAILURE() << "flowstyle --version does not run under ulimit -v of 16 GiB";
    while (hi - lo > 32 * kMiB) {
      const std::uint64_t mid = (lo + hi) / 2;
      (runs(mid) ? hi : lo) = mid;
    }
    return hi;
  }();
  return bytes;
}

// A `ulimit -v` that leaves `work` bytes of address space to the job beyond what starting takes.
std::uint64_t limitWithWork(std::uint64_t work, const fs::path& scratch) {
  return startupAddressSpace(scratch) + work;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The one line an error leaves: exactly one non-empty stderr line, no library residue.
void expectOneErrorLine(const CommandResult& r, const std::string& mustContain) {
  const std::vector<std::string> ls = lines(r.err);
  ASSERT_EQ(ls.size(), 1u) << r.err;
  EXPECT_EQ(ls[0].rfind("flowstyle: error: ", 0), 0u) << ls[0];
  EXPECT_NE(ls[0].find(mustContain), std::string::npos) << ls[0];
  for (const char* residue : {"frame #", "[enforce fail", "Exception raised from", "OpenCV(", ".cpp:"}) {
    EXPECT_EQ(ls[0].find(residue), std::string::npos) << residue << " in: " << ls[0];
  }
}

void expectNothingLeft(const fs::path& dir, const std::string& name) {
  EXPECT_FALSE(fs::exists(dir / name)) << name;
  for (const std::string& f : flowstyle::test::listDir(dir)) {
    EXPECT_EQ(f.find("flowstyle-tmp"), std::string::npos) << "left behind: " << f;
  }
}

int suggestedMaxSide(const std::string& message) {
  std::smatch m;
  static const std::regex kSide(R"(--max-side ([0-9]+) fits)");
  return std::regex_search(message, m, kSide) ? std::stoi(m[1].str()) : -1;
}

pl::Config imageConfig(const std::string& lossNet, int side) {
  pl::Config c;
  c.method = pl::Method::Optimize;
  c.style.styles = {sharedPath("media/styles/starry_night.jpg")};
  c.style.lossNet = lossNet;
  c.size.maxSide = side;
  c.fast.tile = 0;  // whole pictures (the tiled ones: OptimizeTilesWhenThePictureDoesNotFit)
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The estimate and the limits

TEST(Reliability_Memory, ParsesSizes) {
  EXPECT_EQ(pl::parseMemorySize("512M"), 512 * kMiB);
  EXPECT_EQ(pl::parseMemorySize("8G"), 8 * kGiB);
  EXPECT_EQ(pl::parseMemorySize("1.5g"), 3 * kGiB / 2);
  EXPECT_EQ(pl::parseMemorySize("300MiB"), 300 * kMiB);
  EXPECT_EQ(pl::parseMemorySize("2GB"), 2000000000ull);
  EXPECT_EQ(pl::parseMemorySize("4096"), 4096u);
  for (const char* bad : {"", "G", "-1G", "0", "12Q", "1e30T", "nanG", "8 G"}) {
    EXPECT_THROW(pl::parseMemorySize(bad), std::invalid_argument) << bad;
  }
}

TEST(Reliability_Memory, EstimateFollowsWhatDecidesThePeak) {
  const auto host = [](const pl::Config& c, pl::JobKind kind = pl::JobKind::Image) {
    return pl::estimateMemory(c, kind, 4000, 3000).host;
  };
  const pl::Config vgg512 = imageConfig("vgg19", 512);
  const pl::Config vgg1024 = imageConfig("vgg19", 1024);
  const pl::Config squeeze1024 = imageConfig("squeezenet", 1024);
  // Activations scale with the working pixels: 4x the pixels, more than 2.5x the growth.
  const double base = static_cast<double>(host(imageConfig("vgg19", 64)));
  EXPECT_GT((host(vgg1024) - base) / (host(vgg512) - base), 3.0);
  EXPECT_LT(host(squeeze1024), host(vgg1024) / 2);
  // Shallower layers need less of the network.
  pl::Config shallow = vgg1024;
  shallow.style.optimize.styleLayers = {"relu1_1", "relu2_1"};
  shallow.style.optimize.contentLayer = "relu2_2";
  EXPECT_LT(host(shallow), host(vgg1024) * 0.8);
  // Fast network: 16-bit below float32, a batch of 4 above 1.
  pl::Config fast;
  fast.method = pl::Method::Fast;
  fast.fast.model = "wave";
  fast.fast.precision = flowstyle::models::Precision::Float32;
  fast.run.device = "cpu";
  pl::Config bf16 = fast;
  bf16.fast.precision = flowstyle::models::Precision::BFloat16;
  pl::Config batch4 = fast;
  batch4.fast.batch = 4;
  EXPECT_LT(host(bf16), host(fast));
  EXPECT_GT(host(batch4), host(fast));
  // Video: frames in flight add, the encoder adds.
  pl::Config video = fast;
  pl::Config fewer = fast;
  fewer.run.maxInFlight = 1;
  EXPECT_GT(host(video, pl::JobKind::Video), host(fewer, pl::JobKind::Video));
  EXPECT_GT(host(video, pl::JobKind::Video), host(fast, pl::JobKind::Image));
  // The estimate says what it is made of and for which size.
  const pl::MemoryEstimate e = pl::estimateMemory(vgg1024, pl::JobKind::Image, 4000, 3000);
  EXPECT_EQ(e.width, 1024);
  EXPECT_EQ(e.height, 768);
  EXPECT_NE(e.describe().find("loss network pass"), std::string::npos) << e.describe();
}

TEST(Reliability_Memory, ReadsCgroupLimits) {
  const fs::path root = scratchDir();
  auto write = [&](const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  };
  write(root / "proc/self/status", "VmRSS:\t  102400 kB\nVmSize:\t 1048576 kB\n");
  write(root / "proc/meminfo", "MemTotal: 100000000 kB\nMemAvailable: 50000000 kB\n");
  pl::MemorySources src;
  src.proc = (root / "proc").string();
  src.cgroupRoot = (root / "cg").string();
  src.useRlimit = false;

  // cgroup v2: the job's group has 4 GiB, its parent 2 GiB (the tighter one wins); the
  // group holds 600 MiB of which 100 MiB are ours and 100 MiB reclaimable cache.
  write(root / "proc/self/cgroup", "0::/jobs/job1\n");
  write(root / "cg/jobs/job1/memory.max", std::to_string(4 * kGiB) + "\n");
  write(root / "cg/jobs/job1/memory.current", std::to_string(600 * kMiB) + "\n");
  write(root / "cg/jobs/job1/memory.stat", "anon 1\ninactive_file " + std::to_string(100 * kMiB) + "\n");
  write(root / "cg/jobs/memory.max", std::to_string(2 * kGiB) + "\n");
  write(root / "cg/jobs/memory.current", std::to_string(600 * kMiB) + "\n");
  write(root / "cg/memory.max", "max\n");
  pl::MemoryLimit l = pl::memoryLimit(0, src);
  EXPECT_EQ(l.bytes, 2 * kGiB - 500 * kMiB) << l.what;
  EXPECT_NE(l.what.find("cg/jobs/memory.max"), std::string::npos) << l.what;
  // --max-memory below it wins.
  l = pl::memoryLimit(512 * kMiB, src);
  EXPECT_EQ(l.bytes, 512 * kMiB);
  EXPECT_NE(l.what.find("--max-memory"), std::string::npos);

  // cgroup v1 ("N:memory:/path"), an unlimited value is no limit: MemAvailable + own RSS.
  write(root / "proc/self/cgroup", "4:memory:/slurm/uid_0/job_7\n1:cpu:/\n");
  write(root / "cg/memory/slurm/uid_0/job_7/memory.limit_in_bytes", "9223372036854771712\n");
  l = pl::memoryLimit(0, src);
  EXPECT_EQ(l.bytes, 50000000ull * 1024 + 100 * kMiB) << l.what;
  EXPECT_NE(l.what.find("MemAvailable"), std::string::npos);
  write(root / "cg/memory/slurm/uid_0/job_7/memory.limit_in_bytes", std::to_string(3 * kGiB) + "\n");
  write(root / "cg/memory/slurm/uid_0/job_7/memory.usage_in_bytes", std::to_string(100 * kMiB) + "\n");
  l = pl::memoryLimit(0, src);
  EXPECT_EQ(l.bytes, 3 * kGiB) << l.what;
  EXPECT_NE(l.what.find("memory.limit_in_bytes"), std::string::npos);
}

TEST(Reliability_Memory, RefusesWhatDoesNotFitAndSaysWhatDoes) {
  pl::Config c = imageConfig("vgg19", 0);  // the input's size: 4000x3000
  c.run.maxMemory = 2 * kGiB;
  pl::MemorySources src;
  const std::string msg = flowstyle::test::errorOf([&] {
    pl::checkMemory(c, pl::JobKind::Image, 4000, 3000, "big.jpg", src);
  });
  EXPECT_EQ(msg.rfind("big.jpg: this job needs about ", 0), 0u) << msg;
  EXPECT_NE(msg.find("at 4000x3000"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--max-memory 2.00 GiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--force"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  const int side = suggestedMaxSide(msg);
  ASSERT_GT(side, 100) << msg;
  // The suggestion is the largest size whose estimate leaves the margin free: it passes the
  // check, one step more eats into the margin, and a fifth more no longer fits at all.
  pl::Config fits = c;
  fits.size.maxSide = side;
  EXPECT_NO_THROW(pl::checkMemory(fits, pl::JobKind::Image, 4000, 3000, "big.jpg", src));
  const double margin = pl::kSuggestionShare * double(c.run.maxMemory);
  EXPECT_LE(double(pl::estimateMemory(fits, pl::JobKind::Image, 4000, 3000).host), margin);
  pl::Config step = c;
  step.size.maxSide = side + 8;
  EXPECT_GT(double(pl::estimateMemory(step, pl::JobKind::Image, 4000, 3000).host), margin);
  pl::Config over = c;
  over.size.maxSide = side * 6 / 5;
  EXPECT_THROW(pl::checkMemory(over, pl::JobKind::Image, 4000, 3000, "big.jpg", src), pl::MemoryError);
  // --force: no check.
  c.run.force = true;
  EXPECT_NO_THROW(pl::checkMemory(c, pl::JobKind::Image, 4000, 3000, "big.jpg", src));
}

namespace {

// A 4K job (c, tile automatic) that does not fit whole under c.run.maxMemory: the memory
// check tiles it, the largest automatic side that fits (the next larger would not leave the
// margin free), the summary names it, and a given --tile 512 is estimated as tiled, at well
// under half the whole frame's need.
void expectLargestTileThatFits(const pl::Config& c, const std::string& haloText) {
  pl::MemorySources src;
  pl::Config whole = c;
  whole.fast.tile = 0;
  const std::uint64_t wholeNeed = pl::estimateMemory(whole, pl::JobKind::Image, 3840, 2160).host;
  EXPECT_GT(wholeNeed, c.run.maxMemory);
  EXPECT_THROW(pl::checkMemory(whole, pl::JobKind::Image, 3840, 2160, "4k.png", src), pl::MemoryError);

  const pl::MemoryEstimate e = pl::checkMemory(c, pl::JobKind::Image, 3840, 2160, "4k.png", src);
  EXPECT_GT(e.fastTile, 0);
  EXPECT_LE(e.host, c.run.maxMemory) << e.describe();
  EXPECT_NE(e.tiling.find("tiles of " + std::to_string(e.fastTile) + " px, halo " + haloText), std::string::npos)
      << e.tiling;
  const auto& sides = pl::autoTileSides();
  const auto at = std::find(sides.begin(), sides.end(), e.fastTile);
  EXPECT_NE(at, sides.end());
  if (at != sides.end() && at != sides.begin()) {
    pl::Config larger = c;
    larger.fast.tile = *(at - 1);
    EXPECT_GT(double(pl::estimateMemory(larger, pl::JobKind::Image, 3840, 2160).host),
              pl::kSuggestionShare * double(c.run.maxMemory));
  }
  pl::Config given = c;
  given.fast.tile = 512;
  const pl::MemoryEstimate t = pl::estimateMemory(given, pl::JobKind::Image, 3840, 2160);
  EXPECT_EQ(t.fastTile, 512);
  EXPECT_LT(t.host, wholeNeed / 2);
}

}  // namespace

// A 4K fast job that does not fit whole under 2 GiB runs in tiles (the largest that fits),
// a given --tile is estimated as tiled, and a budget too small for the smallest tile is
// refused naming --tile and what the smallest needs.
TEST(Reliability_Memory, FastNetworkTilesWhenTheWholeFrameDoesNotFit) {
  pl::Config c;
  c.method = pl::Method::Fast;
  c.fast.model = sharedPath("models/ml5/wave");
  c.fast.precision = flowstyle::models::Precision::Float32;
  c.run.maxMemory = 2 * kGiB;
  pl::MemorySources src;
  expectLargestTileThatFits(c, "16");

  c.run.maxMemory = 500 * kMiB;
  const std::string msg = flowstyle::test::errorOf([&] {
    pl::checkMemory(c, pl::JobKind::Image, 3840, 2160, "4k.png", src);
  });
  EXPECT_NE(msg.find("even the smallest tile (--tile 64) needs about"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  // The size it names runs in tiles within the limit.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(msg, m, std::regex(R"(--max-side ([0-9]+) fits)"))) << msg;
  pl::Config smaller = c;
  smaller.size.maxSide = std::stoi(m[1].str());
  const pl::MemoryEstimate fits = pl::checkMemory(smaller, pl::JobKind::Image, 3840, 2160, "4k.png", src);
  EXPECT_LE(fits.host, c.run.maxMemory) << fits.describe();
  // --force runs it anyway, in the least memory: the smallest tile.
  c.run.force = true;
  EXPECT_EQ(pl::checkMemory(c, pl::JobKind::Image, 3840, 2160, "4k.png", src).fastTile, 64);
}

// Issue 24: a 4K job with any arbitrary-style network (--method fast --style S, or
// --style-index N) that does not fit whole under 2 GiB runs in tiles, the largest that fit
// (estimate only, nothing runs).
TEST(Reliability_Memory, ArbitraryNetworksTileWhenTheWholeFrameDoesNotFit) {
  const fs::path models = fs::path(FLOWSTYLE_TEST_TMP) / "reliability-magenta";
  CommandResult installed;
  for (const char* folder : {"magenta", "wct16x", "multistyle26"}) {
    const CommandResult r = flowstyle::test::run({FLOWSTYLE_CLI, "models", "install",
                                                  sharedPath(std::string("models/arbitrary/") + folder), "--to",
                                                  models.string()},
                                                 fs::path(FLOWSTYLE_TEST_TMP));
    installed.err += r.err;
  }
  for (const auto& [arch, model, halo] :
       {std::tuple<std::string, std::string, std::string>{"microast", pl::kDefaultArbitraryNetwork, "23"},
        {"magenta", (models / "magenta.safetensors").string(), "8"},
        {"wct16x", (models / "wct16x.safetensors").string(), "80"},
        {"multistyle26", (models / "multistyle26.safetensors").string(), "8"}}) {
    SCOPED_TRACE(arch);
    pl::Config c;
    c.method = pl::Method::Fast;
    c.fast.model = model;
    if (arch == "multistyle26") c.fast.styleIndex = {3};
    else c.style.styles = {sharedPath("media/styles/starry_night.jpg")};
    c.run.maxMemory = 2 * kGiB;
    try {
      if (pl::arbitraryNetworkArch(c) != arch) {
        std::printf("%s is not installed (%s): skipped\n", arch.c_str(), installed.err.c_str());
        continue;
      }
    } catch (const std::runtime_error& e) {
      std::printf("%s: skipped\n", e.what());
      continue;
    }
    expectLargestTileThatFits(c, halo);
  }
}

// A 4K optimize job (31 GiB whole) under 8 GiB: the loss network sees tiles, the largest
// that fit; the optimizer's state stays whole. A given --tile is estimated as tiled, one
// below the smallest optimize tile is not tiled, and SqueezeNet (no tiles) stays whole.
TEST(Reliability_Memory, OptimizeTilesWhenThePictureDoesNotFit) {
  pl::Config c;
  c.method = pl::Method::Optimize;
  c.run.maxMemory = 8 * kGiB;
  pl::MemorySources src;
  pl::Config whole = c;
  whole.fast.tile = 0;
  const pl::MemoryEstimate all = pl::estimateMemory(whole, pl::JobKind::Image, 3840, 2160);
  EXPECT_GT(all.host, 16 * kGiB) << all.describe();
  EXPECT_THROW(pl::checkMemory(whole, pl::JobKind::Image, 3840, 2160, "4k.png", src), pl::MemoryError);

  const pl::MemoryEstimate e = pl::checkMemory(c, pl::JobKind::Image, 3840, 2160, "4k.png", src);
  std::printf("[ measured ] 4K optimize: whole %s; automatic %s\n", all.describe().c_str(), e.describe().c_str());
  EXPECT_GE(e.fastTile, pl::kMinOptimizeTile);
  EXPECT_LE(e.host, 8 * kGiB);
  EXPECT_NE(e.tiling.find("tiles of " + std::to_string(e.fastTile) + " px, halo 96"), std::string::npos) << e.tiling;

  pl::Config given = c;
  given.fast.tile = 1024;
  const pl::MemoryEstimate t = pl::estimateMemory(given, pl::JobKind::Image, 3840, 2160);
  EXPECT_EQ(t.fastTile, 1024);
  EXPECT_EQ(t.tiling, "4x3 tiles of 1024 px, halo 96");
  EXPECT_LT(t.host, all.host / 2);
  given.fast.tile = 64;  // below the smallest optimize tile: not tiled (the option parser refuses it)
  EXPECT_EQ(pl::estimateMemory(given, pl::JobKind::Image, 3840, 2160).fastTile, 0);
  given.fast.tile = 4096;  // larger than the picture: whole
  EXPECT_EQ(pl::estimateMemory(given, pl::JobKind::Image, 3840, 2160).fastTile, 0);
  pl::Config squeeze = c;
  squeeze.style.lossNet = "squeezenet";
  squeeze.fast.tile = 512;
  EXPECT_EQ(pl::estimateMemory(squeeze, pl::JobKind::Image, 3840, 2160).fastTile, 0);
}

// Hybrid: the network and the optimizer share the tile. At 4K under 8 GiB the check picks the
// largest side that fits both, names the optimizer's grid (its halo, 96, is the larger) and
// estimates the network's part tiled too.
TEST(Reliability_Memory, HybridTilesItsNetworkAndItsOptimizerAlike) {
  pl::Config c;
  c.method = pl::Method::Hybrid;
  c.fast.model = sharedPath("models/ml5/wave");
  c.run.maxMemory = 8 * kGiB;
  expectLargestTileThatFits(c, "96");
  pl::Config given = c;
  given.fast.tile = 1024;
  const pl::MemoryEstimate t = pl::estimateMemory(given, pl::JobKind::Image, 3840, 2160);
  EXPECT_EQ(t.tiling, "4x3 tiles of 1024 px, halo 96");
  // The network's tiled parts (its input, then the larger of the whole residual blocks and a
  // tile), not its whole-frame pass.
  EXPECT_NE(t.describe().find("style network input"), std::string::npos) << t.describe();
  EXPECT_EQ(t.describe().find("style network pass"), std::string::npos) << t.describe();
  given.fast.tile = 64;  // below the optimizer's smallest tile: neither tiles
  EXPECT_EQ(pl::estimateMemory(given, pl::JobKind::Image, 3840, 2160).fastTile, 0);
}

// ---------------------------------------------------------------------------------------
// Under a real limit, through the CLI

TEST(Reliability_Cli, JobThatCannotFitStopsBeforeLoadingAndTheSuggestionRuns) {
  SKIP_UNDER_ASAN_RLIMIT_AS();
  const fs::path dir = scratchDir();
  // ulimit -v: 2 GiB besides starting (2.5 GiB in all for Debian's LibTorch 1.13 build).
  const std::uint64_t limit = limitWithWork(2 * kGiB, dir);
  const auto t0 = std::chrono::steady_clock::now();
  CommandResult r = cli({"image", sharedPath("media/stills/tubingen.jpg"), "--style",
                         sharedPath("media/styles/starry_night.jpg"), "--loss-net", "squeezenet", "--size",
                         "6000x4500", "--iterations", "1", "--threads", "2", "-o", (dir / "out.png").string()},
                        dir, limit);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exitCode, 1) << r.err;
  expectOneErrorLine(r, "tubingen.jpg: this job needs about ");
  EXPECT_NE(r.err.find("RLIMIT_AS"), std::string::npos) << r.err;
  EXPECT_LT(seconds, 30) << "the check comes before the weights load and the work starts";
  expectNothingLeft(dir, "out.png");
  // --size was given (it wins over --max-side): the suggestion is a --size of its shape.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, std::regex(R"(--size ([0-9]+)x([0-9]+) fits)"))) << r.err;
  const int w = std::stoi(m[1].str()), h = std::stoi(m[2].str());
  EXPECT_GT(w, 400);
  EXPECT_NEAR(double(w) / h, 6000.0 / 4500, 0.01);

  // The size it suggests runs under the same limit.
  r = cli({"image", sharedPath("media/stills/tubingen.jpg"), "--style", sharedPath("media/styles/starry_night.jpg"),
           "--loss-net", "squeezenet", "--size", m[1].str() + "x" + m[2].str(), "--iterations", "1",
           "--threads", "2", "-o", (dir / "out.png").string()},
          dir, limit);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

TEST(Reliability_Cli, MaxMemoryAndForce) {
  const fs::path dir = scratchDir();
  const std::string in = sharedPath("media/clips/chaplin.mp4");
  CommandResult r = cli({"video", in, "--method", "fast", "--model", "wave", "--frames", "0-1", "--max-memory",
                         "200M", "-o", (dir / "out.mp4").string()},
                        dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  expectOneErrorLine(r, "chaplin.mp4: this job needs about ");
  EXPECT_NE(r.err.find("--max-memory 200 MiB"), std::string::npos) << r.err;
  expectNothingLeft(dir, "out.mp4");
  r = cli({"video", in, "--method", "fast", "--model", "wave", "--frames", "0-1", "--max-memory", "200M", "--force",
           "--max-side", "160", "-o", (dir / "out.mp4").string()},
          dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "out.mp4"));
  r = cli({"video", in, "--method", "copy", "--max-memory", "12Q", "-o", (dir / "x.mp4").string()}, dir);
  EXPECT_EQ(r.exitCode, 2) << r.err;
  EXPECT_NE(r.err.find("--max-memory: '12Q'"), std::string::npos) << r.err;
  // batch: a clip that does not fit is a failed clip, named, and the batch goes on.
  fs::create_directories(dir / "clips");
  fs::copy_file(in, dir / "clips/a.mp4");
  r = cli({"batch", (dir / "clips").string(), "--method", "fast", "--model", "wave", "--frames", "0-1",
           "--max-memory", "200M", "-o", (dir / "styled").string()},
          dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("a.mp4: this job needs about"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 failed"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------------------------------
// One-line errors for each kind of library failure the CLI meets

TEST(Reliability_Errors, AllocationFailureIsOneLine) {
  SKIP_UNDER_ASAN_RLIMIT_AS();
  const fs::path dir = scratchDir();
  const std::vector<std::string> args = {
      "image", sharedPath("media/stills/tubingen.jpg"), "--style", sharedPath("media/styles/starry_night.jpg"),
      "--loss-net", "squeezenet", "--size", "8000x6000", "--iterations", "1", "--threads", "2", "--force",
      "-o", (dir / "out.png").string()};
  const std::uint64_t limit = limitWithWork(2 * kGiB, dir);
  CommandResult r = cli(args, dir, limit);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  expectOneErrorLine(r, "tubingen.jpg: out of memory");
  EXPECT_NE(r.err.find("--max-side"), std::string::npos) << r.err;
  expectNothingLeft(dir, "out.png");
  // --verbose adds the library's own text.
  std::vector<std::string> verbose = args;
  verbose.push_back("--verbose");
  r = cli(verbose, dir, limit);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("the library's full text"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("allocate"), std::string::npos) << r.err;
}

TEST(Reliability_Errors, MalformedWeightShapeIsOneLine) {
  const fs::path dir = scratchDir();
  // wave.safetensors with conv1.weight's shape rotated: same bytes, wrong layout.
  std::string bytes = flowstyle::test::readFile(fs::path(FLOWSTYLE_TEST_TMP) / "reliability-models/wave.safetensors");
  ASSERT_GT(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  std::string header = bytes.substr(8, n);
  const std::string from = "\"shape\":[32,3,9,9]", to = "\"shape\":[32,9,9,3]";
  const auto at = header.find(from);
  ASSERT_NE(at, std::string::npos) << header.substr(0, 300);
  header.replace(at, from.size(), to);
  std::ofstream(dir / "bad.safetensors", std::ios::binary) << bytes.substr(0, 8) << header << bytes.substr(8 + n);
  CommandResult r = cli({"image", sharedPath("media/stills/tubingen.jpg"), "--method", "fast", "--model",
                         (dir / "bad.safetensors").string(), "--max-side", "64", "-o", (dir / "out.png").string()},
                        dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  expectOneErrorLine(r, "bad.safetensors");
  EXPECT_NE(r.err.find("[32,9,9,3]"), std::string::npos) << r.err;
  expectNothingLeft(dir, "out.png");
}

TEST(Reliability_Errors, CodecOpenFailureIsOneLine) {
  const fs::path dir = scratchDir();
  // x264's baseline profile cannot take 4:4:4: avcodec_open2 fails with x264's reason.
  CommandResult r = cli({"video", sharedPath("media/clips/chaplin.mp4"), "--method", "copy", "--frames", "0-2",
                         "--pix-fmt", "yuv444p", "--codec-opt", "profile=baseline", "-o", (dir / "out.mp4").string()},
                        dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  const std::vector<std::string> ls = lines(r.err);
  ASSERT_FALSE(ls.empty());
  const std::string& last = ls.back();
  EXPECT_EQ(last.rfind("flowstyle: error: ", 0), 0u) << r.err;
  EXPECT_NE(last.find("out.mp4"), std::string::npos) << last;
  EXPECT_NE(last.find("avcodec_open2"), std::string::npos) << last;
  EXPECT_NE(last.find("libx264: Error setting profile baseline"), std::string::npos) << last;
  expectNothingLeft(dir, "out.mp4");
}

TEST(Reliability_Errors, LibraryTextBecomesOneLine) {
  using flowstyle::tools::oneLine;
  EXPECT_EQ(oneLine("[enforce fail at alloc_cpu.cpp:75] data. DefaultCPUAllocator: can't allocate memory: you "
                    "tried to allocate 6912000000 bytes. Error code 12 (Cannot allocate memory)\nframe #0: "
                    "c10::ThrowEnforceNotMet(char const*, int, char const*) + 0x1\nframe #1: x"),
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 6912000000 bytes. Error code 12 "
            "(Cannot allocate memory)");
  EXPECT_EQ(oneLine("OpenCV(4.6.0) /usr/src/opencv/modules/imgproc/src/resize.cpp:4052: error: (-215:Assertion "
                    "failed) !ssize.empty() in function 'resize'\n"),
            "OpenCV Assertion failed: !ssize.empty() in function 'resize'");
  EXPECT_EQ(oneLine("shape mismatch\nException raised from check at x.cpp:1 (most recent call first):\nframe #0"),
            "shape mismatch");
  EXPECT_EQ(oneLine("first\n  second"), "first; second");
}

// ---------------------------------------------------------------------------------------
// Temporaries left by killed runs

TEST(Reliability_Litter, NamesOfTemporaries) {
  using flowstyle::stages::temporaryOwnerPid;
  EXPECT_EQ(temporaryOwnerPid(".out.mp4.flowstyle-tmp-1234-0.mp4"), 1234);
  EXPECT_EQ(temporaryOwnerPid(".out_05d.png.flowstyle-tmp-77-3"), 77);        // a sequence's folder
  EXPECT_EQ(temporaryOwnerPid(".still.flowstyle-tmp-4242.png"), 4242);        // a still
  EXPECT_EQ(temporaryOwnerPid(".out.mp4.flowstyle-state"), -1);
  EXPECT_EQ(temporaryOwnerPid(".flowstyle-lock"), -1);
  EXPECT_EQ(temporaryOwnerPid("out.mp4.flowstyle-tmp-1-0.mp4"), -1);          // not hidden: not ours
  EXPECT_EQ(temporaryOwnerPid(".a.flowstyle-tmp-x-0.mp4"), -1);
}

TEST(Reliability_Litter, KilledRunsTemporaryIsRemovedByTheNextRun) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "in.mp4";
  flowstyle::test::makeClip(in, "testsrc2=size=640x360:rate=25", 20, {"-c:v", "libx264", "-preset", "ultrafast"});
  // A real kill: SIGKILL while the temporary exists.
  const fs::path out = dir / "out.mp4";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execl(FLOWSTYLE_CLI, FLOWSTYLE_CLI, "video", in.c_str(), "--method", "copy", "--preset", "veryslow", "-o",
            out.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string temporary;
  for (int i = 0; i < 3000 && temporary.empty(); ++i) {
    for (const std::string& f : flowstyle::test::listDir(dir)) {
      if (flowstyle::stages::temporaryOwnerPid(f) == child) temporary = f;
    }
    if (temporary.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_FALSE(temporary.empty()) << "the writer never created its temporary";
  ASSERT_TRUE(fs::exists(dir / temporary)) << temporary;
  ASSERT_FALSE(fs::exists(out));

  // What must stay: resume state, a batch lock, a temporary of a live process, and one whose
  // pid is gone here but that a run elsewhere holds locked (another host on a shared folder).
  fs::create_directories(dir / ".out.mp4.flowstyle-state/frames");
  std::ofstream(dir / ".out.mp4.flowstyle-state/frames/000000.png") << "x";
  std::ofstream(dir / ".flowstyle-lock") << "";
  const std::string live = ".b.mp4.flowstyle-tmp-" + std::to_string(::getpid()) + "-0.mp4";
  std::ofstream(dir / live) << "";
  const std::string locked = ".c.mp4.flowstyle-tmp-" + std::to_string(child) + "-1.mp4";
  std::ofstream(dir / locked) << "";
  flowstyle::stages::TemporaryLock hold((dir / locked).string());

  CommandResult r = cli({"video", in.string(), "--method", "copy", "--frames", "0-2", "-o",
                         (dir / "other.mp4").string()},
                        dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("note: removed " + (dir / temporary).string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pid " + std::to_string(child) + " is gone"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / temporary));
  EXPECT_TRUE(fs::exists(dir / ".out.mp4.flowstyle-state/frames/000000.png"));
  EXPECT_TRUE(fs::exists(dir / ".flowstyle-lock"));
  EXPECT_TRUE(fs::exists(dir / live));
  EXPECT_TRUE(fs::exists(dir / locked));
  EXPECT_TRUE(fs::exists(dir / "other.mp4"));
}

// ---------------------------------------------------------------------------------------
// Regressions found by fuzzing

// fuzz_sequence_pattern: FFmpeg's image2 demuxer leaked its I/O context for patterns with
// a conversion other than %d and an unknown extension ("%5s.g"); such patterns are now
// refused before FFmpeg sees them, by the reader and the writer.
TEST(Reliability_Fuzz, regression_image2_leak_bad_conversion) {
  using flowstyle::stages::sequencePatternProblem;
  for (const char* good : {"%d.png", "f_%05d.png", "a%%b%3d.jpg", "out/%08d.tif"}) {
    EXPECT_EQ(sequencePatternProblem(good), "") << good;
  }
  for (const char* bad : {"%5s.g", "%s.png", "%x.g", "%d_%d.png", "none%%.png", "%", "%05", "%5\x04sn.g"}) {
    EXPECT_NE(sequencePatternProblem(bad), "") << bad;
  }
  const fs::path dir = scratchDir();
  flowstyle::stages::ReaderConfig rc;
  rc.path = (dir / "%5s.g").string();
  const std::string msg = flowstyle::test::errorOf([&] { flowstyle::stages::VideoReader reader(rc); });
  EXPECT_NE(msg.find("'%5s' is not a frame number"), std::string::npos) << msg;
  flowstyle::stages::WriterConfig wc;
  wc.path = (dir / "%s.png").string();
  flowstyle::stages::VideoInfo info;
  info.width = 8;
  info.height = 6;
  info.timeBase = {1, 25};
  const std::string wmsg = flowstyle::test::errorOf([&] { flowstyle::stages::VideoWriter writer(wc, info); });
  EXPECT_NE(wmsg.find("'%s' is not a frame number"), std::string::npos) << wmsg;
  expectNothingLeft(dir, "%s.png");
}

// fuzz_farm_job_folder: `farm status` read jobs.txt's join index as a number and sized a
// vector to it: "join 99999999999999 2" ended in std::bad_alloc (reported as "out of
// memory (lower --max-side ...)"), an index past 2^64 in a segmentation fault. Every line
// is now checked, and a damaged jobs.txt is one line naming the file and the line.
TEST(Reliability_Fuzz, regression_farm_jobs_txt_join_index) {
  const fs::path dir = scratchDir();
  const fs::path job = dir / "job";
  CommandResult r = cli({"farm", "slurm", sharedPath("media/clips/chaplin.mp4"), "-o", (dir / "out.mp4").string(),
                         "--chunks", "2", "--method", "copy", "--job-dir", job.string(), "--dry-run"},
                        dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto status = [&](const std::string& jobsTxt) {
    std::ofstream(job / "jobs.txt", std::ios::trunc) << jobsTxt;
    // No squeue: the states come from the job folder's files.
    return flowstyle::test::run({"env", "PATH=/nonexistent", FLOWSTYLE_CLI, "farm", "status", job.string()}, dir);
  };
  for (const char* damaged : {"array 1\njoin 99999999999999 2\n", "array 1\njoin 9999999999999999999999 2\n",
                              "array 1\njoin -1 2\n", "array x\n", "join 0 5\n", "array 1\njoin 1 2\n"}) {
    r = status(damaged);
    EXPECT_EQ(r.exitCode, 1) << damaged << r.err;
    expectOneErrorLine(r, "jobs.txt");
    EXPECT_EQ(r.err.find("out of memory"), std::string::npos) << r.err;
  }
  // What writeJobIds writes still reads, also without a join id (a join never submitted).
  for (const char* good : {"array 4242\njoin 0 4243\n", "array 4242\n"}) {
    r = status(good);
    EXPECT_EQ(r.exitCode, 0) << good << r.err;
    EXPECT_NE(r.out.find("array job 4242"), std::string::npos) << r.out;
  }
}
