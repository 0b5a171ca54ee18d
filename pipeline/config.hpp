#pragma once
// The typed configuration a command line fills. One sub-struct per stage; each stage
// constructor takes only its own part. Range checks live in validate(const Config&).
#include <cstdint>
#include <string>
#include <vector>

#include "models/precision.hpp"
#include "models/style_transfer.hpp"
#include "stages/flow.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"

namespace flowstyle::pipeline {

enum class Method { Copy, Optimize, Fast, Hybrid };
Method parseMethod(const std::string& name);  // copy | optimize | fast | hybrid
std::string toString(Method method);

enum class ProgressMode { Auto, Bar, Json, None };
ProgressMode parseProgressMode(const std::string& name);  // auto | bar | json | none

// Working resolution. Neither set: the input's size.
struct SizeConfig {
  int maxSide = 0;  // scale so the long side is at most this (never upscale)
  int width = 0;    // --size WxH: exact size
  int height = 0;
};

// Style inputs shared by optimize/hybrid (and the image command).
struct StyleConfig {
  std::vector<std::string> styles;  // style image paths
  std::vector<double> blend;        // one weight per style; empty = equal
  std::string lossNet = "vgg19";    // name or path (models::resolveModel)
  models::OptimizeConfig optimize;  // weights, layers, optimizer, seed, ...
  int iterationsFirst = 150;        // video: budget of frame 0
  int iterations = 30;              // video: budget of later frames (warm start)
  std::vector<int> longTerm = {1};  // video: earlier frames used by the temporal term
  std::string initPath;             // --init PATH: starting image of the first frame
};

// The arbitrary-style network `--method fast/hybrid --style S` uses when no --model is
// given (README "Any style image"; flowstyle-bench arbitrary).
inline constexpr const char* kDefaultArbitraryNetwork = "microast";

// --method fast's stabilization blend (FastConfig::temporalWeight) when --temporal-weight is
// not given: kNetworkTemporalWeight, which each stylizer resolves to its network's own
// (stabilizationWeight in pipeline/arbitrary_stylizer.hpp): kTemporalWeight for the ml5
// networks and microast, more for the arbitrary-style networks whose frames move more.
inline constexpr double kTemporalWeight = 0.8;
inline constexpr double kNetworkTemporalWeight = -1;

inline constexpr int kAutoTile = -1;
// --tile with --method optimize: a multiple of the loss network's deepest stride (VGG19: 16)
// and at least this (its halo is up to 96 px: models::optimizeTileGeometry).
inline constexpr int kOptimizeTileAlign = 16;
inline constexpr int kMinOptimizeTile = 128;

struct FastConfig {
  std::string model;           // style network name or path (--model); empty with --style:
                               // kDefaultArbitraryNetwork
  // Arbitrary-style networks (microast, magenta, wct16x, multistyle26). Their style images
  // are StyleConfig::styles mixed by StyleConfig::blend; --preserve-colors is
  // StyleConfig::optimize.preserveColors.
  double styleStrength = 1.0;   // --style-strength in [0,1]: 0 = the frame's own look
  int styleSize = 256;          // --style-size: the style image's long side in px (stroke scale)
  std::vector<int> styleIndex;  // --style-index N[,M..] (multistyle26), mixed by --style-blend
  int batch = 1;               // frames per network call
  double temporalWeight = kNetworkTemporalWeight;  // stabilization blend in [0,1]; 0 = off;
                                                  // kNetworkTemporalWeight: the network's own
  models::Precision precision = models::Precision::Auto;  // --precision
  int borderPad = -1;          // --border-pad: reflect pad in px; -1 = models::kAutoBorderPad, 0 = off
  // --tile: the tile side in px of the ml5 network (models::FastNetworkOptions::tile) or, with
  // --method optimize, of the loss network (models::OptimizeConfig::tile); kAutoTile:
  // whole frames when the job fits the memory budget, else the largest tile that fits
  // (checkMemory decides); 0 = never tile.
  int tile = kAutoTile;
};

struct RunConfig {
  int threads = 0;             // LibTorch intra-op threads; 0 = cores available
  std::string device = "auto";
  int maxInFlight = 6;         // frames between decode and encode
  ProgressMode progress = ProgressMode::Auto;
  std::uint64_t maxMemory = 0; // --max-memory: a limit of one's own in bytes; 0 = none
  bool force = false;          // --force: run even when the memory estimate does not fit
};

// Farm chunks and resumable runs (flowstyle video --preroll/--overlap/--resume).
struct ChunkConfig {
  int preroll = 0;      // frames before --frames A stylized to build the temporal state, not written
  int overlap = 0;      // frames before A that are written too (join blends them); <= preroll
  bool resume = false;  // keep resume state beside the output; continue from it when present
};

struct Config {
  stages::ReaderConfig reader;
  stages::WriterConfig writer;
  SizeConfig size;
  Method method = Method::Optimize;
  stages::FlowConfig flow;
  StyleConfig style;
  FastConfig fast;
  RunConfig run;
  ChunkConfig chunk;
};

enum class JobKind { Image, Video };

// A method's defaults, one place for the command line and for library callers that build
// a Config. Video: optimize and hybrid work at a long side of 384 px (the input's size
// otherwise); optimize spends 150 iterations on the first frame and 30 on each later one,
// hybrid (starting from the network's painting) 50 and 10. Image: a long side of 512 px for
// optimize and hybrid (fast: the input's size) and an iteration cap of 150 (hybrid 50).
struct MethodDefaults {
  int maxSide = 0;          // SizeConfig::maxSide; 0: the input's size
  int iterationsFirst = 0;  // video: StyleConfig::iterationsFirst; image: the optimizer's cap
  int iterations = 0;       // video: StyleConfig::iterations (image: unused)
};
MethodDefaults methodDefaults(Method method, JobKind kind);

// The working long side of `flowstyle preview` (any method).
inline constexpr int kPreviewMaxSide = 256;

// What the caller set itself, which applyMethodDefaults keeps.
struct GivenOptions {
  bool size = false;             // SizeConfig (a long side or an exact size)
  bool iterations = false;       // video: StyleConfig::iterations; image: OptimizeConfig::iterations
  bool iterationsFirst = false;  // video: StyleConfig::iterationsFirst
};

// Sets methodDefaults(config.method, kind) where `given` does not say the value is the
// caller's. Video: a given --iterations also keeps the first frame's budget as it is.
// Image: StyleConfig::iterationsFirst becomes the optimizer's cap (a still is a first frame).
void applyMethodDefaults(Config& config, JobKind kind, const GivenOptions& given = {});

// Throws std::invalid_argument naming the option and the allowed range.
void validate(const Config& config);

// The working size for an input of w x h under `size` (even values are not forced).
void workingSize(const SizeConfig& size, int w, int h, int& outW, int& outH);

}  // namespace flowstyle::pipeline
