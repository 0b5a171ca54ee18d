#pragma once
// How much memory a job will need at its peak, and how much this process may use.
// Checked before any weights are loaded or frames decoded, so a job that cannot fit
// stops at once with a message saying what would make it fit.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/config.hpp"

namespace flowstyle::pipeline {

// The peak of one job. `host` is the whole process's resident memory at the peak
// (libraries included), the figure ru_maxrss / `/usr/bin/time -v` report.
struct MemoryEstimate {
  std::uint64_t host = 0;
  std::uint64_t device = 0;       // on the GPU when the job runs there, else 0
  bool onGpu = false;
  int width = 0, height = 0;      // the working size it is for
  std::vector<std::pair<std::string, std::uint64_t>> parts;  // what it is made of
  int fastTile = 0;               // the tile side it is for (--tile: the ml5 network's, or the
                                  // loss network's with --method optimize); 0: whole frames
  std::string tiling;             // "4x3 tiles of 1024 px, halo 16"; empty: whole frames
  std::string limit;              // checkMemory: the limit it was compared with, and why
  std::string describe() const;   // "2.10 GiB at 1024x768 (base 155 MiB, ...)[; limit ...]"
};

// The model (fitted to measured peaks, README "Memory"): a fixed base for the process,
// the loss network's weights, its activations for one forward+backward pass (the sum of
// channels / downscale² over the layers up to the deepest one used, per working pixel),
// the optimizer's state (L-BFGS history), the style images, the fast network's
// activations by number format and batch, the frames in flight and the encoder.
// srcW x srcH: the input's size (the working size follows from config.size).
// Reads weight-file headers (never the weights); throws what resolveModel throws.
MemoryEstimate estimateMemory(const Config& config, JobKind kind, int srcW, int srcH);

// What checkMemory suggests (a smaller size, another option) is estimated to need at most
// this share of the limit: measured peaks run up to ~22 % above the estimate, and a
// suggestion must run when the user takes it.
inline constexpr double kSuggestionShare = 0.8;

// Where the files that tell the limits are (tests point them at a fake tree).
struct MemorySources {
  std::string proc = "/proc";             // self/cgroup, self/status, meminfo
  std::string cgroupRoot = "/sys/fs/cgroup";
  bool useRlimit = true;                  // RLIMIT_AS of this process
};

// The most this process may hold resident, and what sets it.
struct MemoryLimit {
  bool known = false;       // false: no limit could be found (bytes is then meaningless)
  std::uint64_t bytes = 0;  // may be 0: the address space is already used up
  std::string what;         // e.g. "RLIMIT_AS 16.0 GB (of which 1.1 GB mapped, not resident)"
};
// The tightest of --max-memory (maxMemory > 0), the cgroup's limit (v2 memory.max,
// v1 memory.limit_in_bytes, the nearest ancestor's included) less what the rest of
// the group holds, RLIMIT_AS less the address space mapped but not resident, and
// MemAvailable plus what this process already holds.
MemoryLimit memoryLimit(std::uint64_t maxMemory, const MemorySources& sources = {});
// The GPU's free memory for `device` ("cuda", "cuda:N"), 0 when unknown.
std::uint64_t gpuFreeMemory(const std::string& device);

// Estimates the job and compares it with the limit. Does nothing when it fits or when
// config.run.force is set. Otherwise throws MemoryError: one line with the estimate,
// the limit, the largest --max-side that fits and what else would help. `file` names
// the input in the message.
// An optimize job, or a fast or hybrid job whose network tiles, with --tile automatic (FastConfig::tile == kAutoTile)
// that does not fit whole gets the largest tile side whose estimate fits (within kSuggestionShare of the
// limit where one does, else within the limit): the returned estimate's fastTile, which
// the caller puts into its config (FastConfig::tile) before building the stylizer.
struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
MemoryEstimate checkMemory(const Config& config, JobKind kind, int srcW, int srcH, const std::string& file,
                           const MemorySources& sources = {});

// The same for a video job: reads the input's header (not its frames) for the size, and
// sets config.fast.tile to the estimate's fastTile when it was automatic.
MemoryEstimate checkVideoMemory(Config& config);

// The tile sides automatic tiling tries, largest first (px).
const std::vector<int>& autoTileSides();

// "512M", "8G", "1.5GB", "2048" (bytes), "300MiB". Throws std::invalid_argument.
std::uint64_t parseMemorySize(const std::string& text);
std::string formatBytes(std::uint64_t bytes);  // "1.53 GB" (10^9), "512 MB"

// The process's own figures from /proc/self/status: VmRSS, VmHWM, VmSize, VmPeak.
struct ProcessMemory {
  std::uint64_t rss = 0, peakRss = 0, size = 0, peakSize = 0;
};
ProcessMemory processMemory(const std::string& proc = "/proc");

}  // namespace flowstyle::pipeline
