#include "tools/options.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>

#include <boost/program_options.hpp>

#include "models/tiling.hpp"
#include "pipeline/arbitrary_stylizer.hpp"
#include "pipeline/memory.hpp"

namespace flowstyle::tools {
namespace po = boost::program_options;

namespace {

std::vector<double> parseDoubleList(const std::string& text, const std::string& option) {
  std::vector<double> values;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      std::size_t used = 0;
      values.push_back(std::stod(part, &used));
      if (used != part.size()) throw std::invalid_argument(part);
    } catch (const std::exception&) {
      throw UsageError("--" + option + ": '" + part + "' is not a number (expected e.g. 0.7,0.3)");
    }
  }
  return values;
}

std::vector<int> parseIntList(const std::string& text, const std::string& option) {
  std::vector<int> values;
  for (double v : parseDoubleList(text, option)) {
    // Range first: converting a double outside int's range is undefined behaviour.
    if (!(v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max()))
      throw UsageError("--" + option + ": '" + std::to_string(v) + "' is out of range");
    if (v != static_cast<int>(v)) throw UsageError("--" + option + ": expected whole numbers, e.g. 1,10,20");
    values.push_back(static_cast<int>(v));
  }
  return values;
}

std::vector<std::string> splitNames(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (!part.empty()) names.push_back(part);
  }
  return names;
}

// Runs `fn`; a value error it throws becomes a usage error (exit code 2).
template <typename Fn>
void asUsageError(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError&) {
    throw;
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
}

// A Boost.Program_options error as a usage error. Never calls what() on an error that names
// an option: Boost 1.74 substitutes "%canonical_option%"-style placeholders into that text
// until none is left, which never ends when the user's argument contains one.
UsageError usageErrorOf(const po::error& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return UsageError(std::string(e.what()) + " (see --help)");
  std::string name = named->get_option_name();
  if (name.empty()) name = "(unnamed)";
  const std::string q = "'" + name + "'";
  std::string what = "option " + q + " is not valid here";  // Boost's wordings, without its substitution
  if (dynamic_cast<const po::unknown_option*>(&e)) what = "unrecognised option " + q;
  else if (dynamic_cast<const po::invalid_option_value*>(&e)) what = "the argument for option " + q + " is invalid";
  else if (dynamic_cast<const po::multiple_occurrences*>(&e)) what = "option " + q + " cannot be specified more than once";
  else if (dynamic_cast<const po::required_option*>(&e)) what = "the option " + q + " is required but missing";
  else if (dynamic_cast<const po::invalid_command_line_syntax*>(&e)) what = "option " + q + ": a value is missing or not expected";
  return UsageError(what + " (see --help)");
}

// Encoder options of every command that writes a video (video, batch, preview, join).
void addEncoderOptions(po::options_description& d, stages::WriterConfig& w, std::vector<std::string>& codecOpts,
                       bool& noAudio) {
  d.add_options()
    ("codec", po::value(&w.codec), "video codec (default libx264; ffv1 lossless; png for sequences)")
    ("crf", po::value(&w.crf)->default_value(18), "quality for x264/x265/vpx (lower is better)")
    ("preset", po::value(&w.preset)->default_value("medium"), "x264/x265 preset")
    ("pix-fmt", po::value(&w.pixFmt), "output pixel format (default yuv420p for H.264)")
    ("codec-opt", po::value(&codecOpts)->composing(), "encoder option KEY=VALUE (repeatable)")
    ("no-audio", po::bool_switch(&noAudio), "do not copy audio and other streams");
}

void applyEncoderValues(stages::WriterConfig& w, const std::vector<std::string>& codecOpts, bool noAudio) {
  for (const std::string& kv : codecOpts) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw UsageError("--codec-opt: expected KEY=VALUE, got '" + kv + "'");
    w.codecOptions[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  w.copyAudio = !noAudio;
}

// Options every stylizing command shares (the style core).
struct StyleOptionValues {
  std::string blend, init = "content", optimizer = "lbfgs", styleLayers;
  std::string method;
};

po::options_description styleOptions(pipeline::Config& c, StyleOptionValues& v, bool video) {
  models::OptimizeConfig& o = c.style.optimize;
  const pipeline::MethodDefaults videoDefaults = pipeline::methodDefaults(pipeline::Method::Optimize, pipeline::JobKind::Video);
  const pipeline::MethodDefaults imageDefaults = pipeline::methodDefaults(pipeline::Method::Optimize, pipeline::JobKind::Image);
  po::options_description d("Style (optimize / hybrid)");
  d.add_options()
    ("style", po::value(&c.style.styles)->composing(), "style image (repeat for several styles)")
    ("style-blend", po::value(&v.blend), "blend weights of the styles, e.g. 0.7,0.3 (default: equal)")
    ("style-scale", po::value(&o.styleScale)->default_value(1.0), "style image size relative to the content")
    ("content-weight", po::value(&o.contentWeight)->default_value(1.0), "weight of the content loss")
    ("style-weight", po::value(&o.styleWeight)->default_value(10.0), "weight of the style loss")
    ("tv-weight", po::value(&o.tvWeight)->default_value(5.0), "weight of the total-variation loss")
    ("loss-net", po::value(&c.style.lossNet)->default_value("vgg19"),
     "loss network: a name (vgg19, squeezenet) or a .safetensors path")
    ("content-layer", po::value(&o.contentLayer), "content layer (default: relu4_2 for VGG19)")
    ("style-layers", po::value(&v.styleLayers), "comma-separated style layers (default: relu1_1..relu5_1)")
    ("init", po::value(&v.init)->default_value("content"), "first image: content | random | PATH")
    ("optimizer", po::value(&v.optimizer)->default_value("lbfgs"), "lbfgs | adam")
    ("learning-rate", po::value(&o.learningRate)->default_value(0.02), "Adam step size (pixels in [0,1])")
    ("tolerance", po::value(&o.tolerance)->default_value(1e-4),
     "stop when the relative loss change falls below this (0 = never)")
    ("loss-every", po::value(&o.lossEvery)->default_value(0),
     "read the loss every N iterations (progress, tolerance; each read stalls a GPU); 0 = 1 on the CPU, 10 on CUDA")
    ("seed", po::value(&o.seed)->default_value(0), "random seed (same seed, same output)")
    ("preserve-colors", po::bool_switch(&o.preserveColors), "transfer luminance only, keep the content's colours")
    ("scales", po::value(&o.scales)->default_value(1), "coarse-to-fine levels (each halves the size)");
  if (video) {
    d.add_options()
      ("iterations", po::value(&c.style.iterations)->default_value(videoDefaults.iterations),
       "iterations per frame after the first")
      ("iterations-first", po::value(&c.style.iterationsFirst)->default_value(videoDefaults.iterationsFirst),
       "iterations of the first frame");
  } else {
    d.add_options()
      ("iterations", po::value(&o.iterations)->default_value(imageDefaults.iterationsFirst), "iteration cap");
  }
  return d;
}

po::options_description runOptions(pipeline::Config& c, std::string& progress, std::string& precision,
                                   bool video) {
  po::options_description d("Run");
  d.add_options()
    ("threads", po::value(&c.run.threads)->default_value(0), "LibTorch CPU threads (0 = all cores)")
    ("device", po::value(&c.run.device)->default_value("auto"), "auto | cpu | cuda | cuda:N")
    ("precision", po::value(&precision)->default_value("auto"),
     "fast/hybrid network: auto (float16 on CUDA, bfloat16 on CPUs with native bfloat16, each kept "
     "only if within RMS 1/255 of float32 on the first batch) | float32 | bfloat16 | float16; "
     "optimizer: auto (bfloat16 convolutions on CPUs with native bfloat16, kept only if the first start's "
     "loss is within 0.5 % of float32's) | float32 | bfloat16")
    ("border-pad", po::value(&c.fast.borderPad)->default_value(-1),
     "fast/hybrid network: reflect-pad the frame by N px on every side before the network and crop "
     "after, so the networks' painted border frame falls outside the picture (-1 = auto, 48; 0 = off)")
    ("tile", po::value(&c.fast.tile)->default_value(pipeline::kAutoTile),
     "fast (every network): run the full-resolution layers in tiles of N px with "
     "whole-frame statistics (same output within RMS 0.04 of 255); optimize: the loss network sees tiles of N px "
     "(a multiple of 16, >= 128) with a halo of its receptive field, loss and gradient those of the "
     "whole image; hybrid: both, at the same N; -1 = automatic (tiles only when the frame does not fit the memory budget); 0 = never")
    ("max-memory", po::value<std::string>()->notifier([&c](const std::string& v) {
       asUsageError([&] { c.run.maxMemory = pipeline::parseMemorySize(v); });
     }), "memory this job may use, e.g. 512M, 8G (also limited by the cgroup, ulimit -v, free RAM)")
    ("force", po::bool_switch(&c.run.force), "run even when the memory estimate says the job does not fit");
  if (video) {
    d.add_options()
      ("progress", po::value(&progress)->default_value("auto"),
       "auto (a bar on a terminal) | bar | json (one object per line on stdout) | none")
      ("in-flight", po::value(&c.run.maxInFlight)->default_value(6), "frames in flight between decode and encode");
  }
  return d;
}

void applyStyleValues(pipeline::Config& c, const StyleOptionValues& v) {
  models::OptimizeConfig& o = c.style.optimize;
  if (!v.blend.empty()) c.style.blend = parseDoubleList(v.blend, "style-blend");
  if (!v.styleLayers.empty()) o.styleLayers = splitNames(v.styleLayers);
  if (v.optimizer == "lbfgs") o.optimizer = models::OptimizerKind::Lbfgs;
  else if (v.optimizer == "adam") o.optimizer = models::OptimizerKind::Adam;
  else throw UsageError("--optimizer: unknown optimizer '" + v.optimizer + "' (valid: lbfgs, adam)");
  if (v.init == "content") o.init = models::InitKind::Content;
  else if (v.init == "random") o.init = models::InitKind::Random;
  else {
    o.init = models::InitKind::Image;
    c.style.initPath = v.init;
  }
}

const std::string kModelHelp = std::string("style network name or path (flowstyle models list); with --style S "
                                           "and no --model: the arbitrary-style network ") + pipeline::kDefaultArbitraryNetwork;
const std::string kImageModelHelp = "for --method fast/hybrid: " + kModelHelp;

// Any style image in one pass (the arbitrary-style networks), for video-like commands and image.
po::options_description arbitraryOptions(pipeline::Config& c, std::string& styleIndex) {
  po::options_description d("Any style image, one pass (--model microast | magenta | wct16x | multistyle26)");
  d.add_options()
    ("style-strength", po::value(&c.fast.styleStrength)->default_value(1.0),
     "how much of the style: 0 = the frame's own look .. 1 = full style")
    ("style-size", po::value(&c.fast.styleSize)->default_value(256),
     "the style image's long side in px before encoding: sets the stroke scale (smaller = larger strokes)")
    ("style-index", po::value(&styleIndex),
     "multistyle26: its style(s) by number 0..25, e.g. 3 or 3,17 (mixed by --style-blend)");
  return d;
}

// --model without --method means the network's own method (fast); --method fast or hybrid
// without --model takes the default arbitrary-style network for --style images, the 26-style
// network for --style-index.
void applyArbitraryValues(pipeline::Config& c, const po::variables_map& vm, const std::string& styleIndex) {
  if (!styleIndex.empty()) c.fast.styleIndex = parseIntList(styleIndex, "style-index");
  if (vm["method"].defaulted() && vm.count("model")) c.method = pipeline::Method::Fast;
  const bool network = c.method == pipeline::Method::Fast || c.method == pipeline::Method::Hybrid;
  if (network && c.fast.model.empty()) {
    if (!c.fast.styleIndex.empty()) c.fast.model = "multistyle26";
    else if (!c.style.styles.empty()) c.fast.model = pipeline::kDefaultArbitraryNetwork;
  }
}

// Parses `args` with `visible` options and `positional` names; prints help on --help.
bool parseInto(const std::vector<std::string>& args, po::options_description& visible,
               const std::vector<std::string>& positional, const std::string& usage,
               po::variables_map& vm) {
  po::positional_options_description pos;
  for (const std::string& name : positional) pos.add(name.c_str(), 1);
  try {
    po::store(po::command_line_parser(args).options(visible).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n" << visible << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usageErrorOf(e);
  }
  return true;
}

}  // namespace

void parseFrameRange(const std::string& text, std::int64_t& first, std::int64_t& last) {
  const auto dash = text.find('-');
  try {
    std::size_t used = 0;
    if (dash == std::string::npos) {
      first = last = std::stoll(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
    } else {
      const std::string a = text.substr(0, dash), b = text.substr(dash + 1);
      first = std::stoll(a, &used);
      if (used != a.size()) throw std::invalid_argument(a);
      if (b.empty()) {
        last = -1;
      } else {
        last = std::stoll(b, &used);
        if (used != b.size()) throw std::invalid_argument(b);
      }
    }
  } catch (const std::exception&) {
    throw UsageError("--frames: '" + text + "' is not a range (expected A-B, e.g. 0-99, or A- to the end)");
  }
  if (first < 0 || (last >= 0 && last < first)) {
    throw UsageError("--frames: '" + text + "' needs 0 <= A <= B");
  }
}

void parseSize(const std::string& text, int& width, int& height) {
  const auto x = text.find('x');
  try {
    if (x == std::string::npos) throw std::invalid_argument(text);
    std::size_t ua = 0, ub = 0;
    const std::string a = text.substr(0, x), b = text.substr(x + 1);
    width = std::stoi(a, &ua);
    height = std::stoi(b, &ub);
    if (ua != a.size() || ub != b.size() || width < 2 || height < 2) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    throw UsageError("--size: '" + text + "' is not WxH with sides >= 2 (e.g. 640x360)");
  }
}

namespace {

// `video`; with `batch` set, `batch` (a folder in, a folder out, the same options); with
// `preview` set, `preview` (a short low-resolution segment, -o optional).
bool parseVideoLike(const std::vector<std::string>& args, VideoCommand& cmd, BatchCommand* batch,
                    PreviewCommand* preview) {
  pipeline::Config& c = cmd.config;
  std::string method = "optimize", frames, size, flow = "dis", progress, precision, codecOpts;
  std::vector<std::string> codecOptList;
  double start = -1, duration = -1, temporalWeight = -1;
  bool noAudio = false;
  StyleOptionValues sv;
  std::string longTerm;

  po::options_description io("Input and output");
  io.add_options()
    ("help,h", "show this help")
    ("input", po::value(&cmd.input),
     batch ? "folder of clips" : "input video (or image sequence pattern, e.g. frames/%05d.png)")
    ("output,o", po::value(&c.writer.path),
     batch ? "output folder (created if missing)" : "output file (.mp4 .mkv .mov .webm .avi) or pattern out/%05d.png")
    ("method", po::value(&method)->default_value("optimize"), "optimize | fast | hybrid | copy")
    ("frames", po::value(&frames), "frames A-B (inclusive, 0-based, clamped to the clip)")
    ("start", po::value(&start), "start time in seconds")
    ("duration", po::value(&duration), "duration in seconds")
    ("max-side", po::value(&c.size.maxSide),
     ("working size: long side at most N px (default: " +
      std::to_string(pipeline::methodDefaults(pipeline::Method::Optimize, pipeline::JobKind::Video).maxSide) +
      " for optimize/hybrid, the input's size otherwise)").c_str())
    ("size", po::value(&size), "working size WxH exactly");
  addEncoderOptions(io, c.writer, codecOptList, noAudio);
  po::options_description chunks("Farm chunks and resuming");
  chunks.add_options()
    ("preroll", po::value(&c.chunk.preroll)->default_value(0),
     "with --frames A-B: also stylize the K frames before A (not written) so A starts from a warm temporal state")
    ("overlap", po::value(&c.chunk.overlap)->default_value(0),
     "with --frames A-B: also write the O frames before A (O <= pre-roll), for 'flowstyle join' to blend")
    ("resume", po::bool_switch(&c.chunk.resume),
     "keep resume state beside the output as frames complete, and continue from it after a kill");
  po::options_description temporal("Temporal consistency");
  temporal.add_options()
    ("temporal-weight", po::value(&temporalWeight),
     "optimize/hybrid: weight of the temporal loss (default 100); fast: blend with the warped previous output in [0,1] (default 0.8; magenta and wct16x 0.95; 0 = off)")
    ("long-term", po::value(&longTerm), "earlier frames for the temporal term, e.g. 1,10,20 (default 1)")
    ("flow", po::value(&flow)->default_value("dis"), "optical flow: dis | deepflow | farneback")
    ("flow-preset", po::value(&c.flow.disPreset)->default_value("medium"), "DIS preset: ultrafast | fast | medium")
    ("flow-max-side", po::value(&c.flow.maxSide)->default_value(640), "flow is computed at most at this long side");
  po::options_description fast("Fast (feed-forward network)");
  fast.add_options()
    ("model", po::value(&c.fast.model), kModelHelp.c_str())
    ("batch", po::value(&c.fast.batch)->default_value(1), "frames per network call");
  po::options_description all;
  if (batch) {
    po::options_description b("Batch");
    b.add_options()
      ("ext", po::value(&batch->ext)->default_value("mp4"), "container of the outputs: OUT_DIR/<clip name>.EXT")
      ("overwrite", po::bool_switch(&batch->overwrite), "redo clips whose output exists (default: skip them)");
    all.add(b);
  }
  if (preview) {
    po::options_description p("Preview");
    p.add_options()
      ("at", po::value(&start), "start of the segment in seconds (same as --start; default 0)")
      ("picture", po::value(&preview->picture),
       "side-by-side picture, original left (default: OUT's name with _side_by_side.png)");
    all.add(p);
  }
  std::string styleIndex;
  all.add(io).add(styleOptions(c, sv, true)).add(temporal).add(fast).add(arbitraryOptions(c, styleIndex)).add(chunks).add(runOptions(c, progress, precision, true));

  po::variables_map vm;
  const char* help = preview
      ? "Usage: flowstyle preview IN [--at SECONDS] [--duration SECONDS] [-o OUT] [options]\n\n"
        "A quick look before a long run: stylizes a short segment (default 2 s from --at) at a\n"
        "low working size (default --max-side 256) with the video options, and writes a\n"
        "side-by-side picture (original | stylized) of the segment's middle frame.\n"
        "Default OUT: <input name>_preview.mp4 in the current folder."
      : batch
      ? "Usage: flowstyle batch IN_DIR -o OUT_DIR [options]\n\n"
        "Stylizes every clip directly in IN_DIR into OUT_DIR/<name>.EXT with the video options.\n"
        "Clips whose output exists are skipped (outputs appear only when complete), a clip that\n"
        "fails does not stop the others, and a summary ends the run. Exit code 1 if any clip failed."
      : "Usage: flowstyle video IN -o OUT [options]\n\n"
        "Stylizes a video (or re-encodes it with --method copy), keeping its frames,\n"
        "timestamps, orientation and audio.";
  if (!parseInto(args, all, {"input"}, help, vm)) return false;
  if (batch) {
    if (cmd.input.empty()) throw UsageError("batch: missing the folder of clips (flowstyle batch IN_DIR -o OUT_DIR)");
    if (c.writer.path.empty()) throw UsageError("batch: missing -o OUT_DIR");
    batch->inputDir = cmd.input;
    batch->outputDir = c.writer.path;
  }
  if (preview) {
    if (cmd.input.empty()) throw UsageError("preview: missing input file (flowstyle preview IN --at SECONDS)");
    if (c.writer.path.empty()) c.writer.path = std::filesystem::path(cmd.input).stem().string() + "_preview.mp4";
    if (preview->picture.empty()) {
      const std::filesystem::path out(c.writer.path);
      preview->picture = (out.parent_path() / (out.stem().string() + "_side_by_side.png")).string();
    }
    if (vm.count("at") && vm.count("start")) throw UsageError("--at and --start: give one of them");
  }
  const bool hasStart = vm.count("start") || vm.count("at");
  if (preview && !vm.count("duration") && frames.empty()) duration = 2.0;  // the segment
  const bool hasDuration = vm.count("duration") || (preview && frames.empty());
  const bool hasMaxSide = vm.count("max-side") || (preview && size.empty());
  if (preview && !vm.count("max-side") && size.empty()) c.size.maxSide = pipeline::kPreviewMaxSide;
  if (cmd.input.empty()) throw UsageError("video: missing input file (flowstyle video IN -o OUT)");
  if (c.writer.path.empty()) throw UsageError("video: missing -o OUT");
  asUsageError([&] {
    c.method = pipeline::parseMethod(method);
    c.flow.method = stages::parseFlowMethod(flow);
    c.run.progress = pipeline::parseProgressMode(progress);
    c.fast.precision = models::parsePrecision(precision);
    // The optimizer has no float16: hybrid keeps it for its network only.
    c.style.optimize.precision = c.method == pipeline::Method::Hybrid && c.fast.precision == models::Precision::Float16
                                     ? models::Precision::Float32 : c.fast.precision;
  });
  applyArbitraryValues(c, vm, styleIndex);
  c.reader.path = cmd.input;
  if (!frames.empty()) parseFrameRange(frames, c.reader.selection.first, c.reader.selection.last);
  if (hasStart) c.reader.selection.startSeconds = start;
  if (hasDuration) c.reader.selection.durationSeconds = duration;
  if (!size.empty()) parseSize(size, c.size.width, c.size.height);
  applyEncoderValues(c.writer, codecOptList, noAudio);
  if ((c.chunk.preroll > 0 || c.chunk.overlap > 0) && frames.empty()) {
    throw UsageError(std::string(c.chunk.preroll > 0 ? "--preroll" : "--overlap") +
                     " needs --frames A-B (a chunk is a frame range)");
  }
  if (vm.count("frames") && vm.count("preroll") && c.writer.codec.empty() &&
      std::filesystem::path(c.writer.path).extension() == ".mkv") {
    c.writer.codec = "ffv1";  // a part for 'flowstyle join': lossless, no audio (join copies the source's)
    c.writer.copyAudio = false;
  }
  if (vm.count("temporal-weight")) {
    if (c.method == pipeline::Method::Fast) c.fast.temporalWeight = temporalWeight;
    else c.style.optimize.temporalWeight = temporalWeight;
  }
  if (!longTerm.empty()) c.style.longTerm = parseIntList(longTerm, "long-term");
  applyStyleValues(c, sv);
  pipeline::GivenOptions given;
  given.size = hasMaxSide || !size.empty();
  given.iterations = !vm["iterations"].defaulted();
  given.iterationsFirst = !vm["iterations-first"].defaulted();
  pipeline::applyMethodDefaults(c, pipeline::JobKind::Video, given);
  asUsageError([&] { pipeline::validate(c); });
  return true;
}

}  // namespace

bool parseVideo(const std::vector<std::string>& args, VideoCommand& cmd) {
  return parseVideoLike(args, cmd, nullptr, nullptr);
}

bool parseBatch(const std::vector<std::string>& args, BatchCommand& cmd) {
  return parseVideoLike(args, cmd.video, &cmd, nullptr);
}

bool parsePreview(const std::vector<std::string>& args, PreviewCommand& cmd) {
  return parseVideoLike(args, cmd.video, nullptr, &cmd);
}

bool parseImage(const std::vector<std::string>& args, ImageCommand& cmd) {
  pipeline::Config& c = cmd.config;
  std::string method = "optimize", size, progress, precision;
  StyleOptionValues sv;
  po::options_description io("Input and output");
  io.add_options()
    ("help,h", "show this help")
    ("content", po::value(&cmd.content), "content image")
    ("output,o", po::value(&cmd.output), "output image (.png .jpg ...)")
    ("method", po::value(&method)->default_value("optimize"), "optimize | fast | hybrid")
    ("model", po::value(&c.fast.model), kImageModelHelp.c_str())
    ("max-side", po::value(&c.size.maxSide),
     ("working size: long side at most N px (default: " +
      std::to_string(pipeline::methodDefaults(pipeline::Method::Optimize, pipeline::JobKind::Image).maxSide) +
      " for optimize/hybrid, the input's size for fast)").c_str())
    ("size", po::value(&size), "working size WxH exactly");
  po::options_description all;
  std::string styleIndex;
  all.add(io).add(styleOptions(c, sv, false)).add(arbitraryOptions(c, styleIndex)).add(runOptions(c, progress, precision, false));
  po::variables_map vm;
  if (!parseInto(args, all, {"content"}, "Usage: flowstyle image CONTENT --style STYLE... -o OUT [options]\n\n"
                 "Paints a still image in the style of one or more style images (Gatys et al.).", vm)) {
    return false;
  }
  if (cmd.content.empty()) throw UsageError("image: missing content image (flowstyle image CONTENT --style S -o OUT)");
  if (cmd.output.empty()) throw UsageError("image: missing -o OUT");
  asUsageError([&] {
    c.method = pipeline::parseMethod(method);
    c.fast.precision = models::parsePrecision(precision);
    // The optimizer has no float16: hybrid keeps it for its network only.
    c.style.optimize.precision = c.method == pipeline::Method::Hybrid && c.fast.precision == models::Precision::Float16
                                     ? models::Precision::Float32 : c.fast.precision;
  });
  if (c.method == pipeline::Method::Copy) throw UsageError("--method: copy is not a method for images (optimize, fast, hybrid)");
  applyArbitraryValues(c, vm, styleIndex);
  if (!size.empty()) parseSize(size, c.size.width, c.size.height);
  applyStyleValues(c, sv);
  pipeline::GivenOptions given;
  given.size = vm.count("max-side") > 0;
  given.iterations = !vm["iterations"].defaulted();
  pipeline::applyMethodDefaults(c, pipeline::JobKind::Image, given);
  asUsageError([&] { pipeline::validate(c); });
  return true;
}

bool parseJoin(const std::vector<std::string>& args, JoinCommand& cmd) {
  pipeline::JoinConfig& c = cmd.config;
  std::string blend = "auto", progress = "auto";
  std::vector<std::string> codecOptList;
  bool noAudio = false;
  po::options_description d("Options");
  d.add_options()
    ("help,h", "show this help")
    ("parts", po::value(&c.parts)->composing(), "the parts (.mkv written by flowstyle video --frames ... --preroll ...)")
    ("output,o", po::value(&c.writer.path), "the joined video (.mp4 .mkv .mov .webm .avi) or pattern out/%05d.png")
    ("source", po::value(&c.source), "the source clip (default: the path the parts recorded)")
    ("blend", po::value(&blend)->default_value("auto"),
     "overlap frames: auto (the best measured for the parts' method: fitted for copy/fast parts, restyle for "
     "optimize/hybrid parts when the chunks' options follow -- or seam parts are given, fitted otherwise) | "
     "ramp (a linear cross-fade, the cheapest) | fitted (a cross-fade with weights fitted to each seam) | "
     "restyle (optimize/hybrid: stylize the overlap frames again as one chain from one part to the next; "
     "give join the chunks' own options after --)")
    ("seam-part", po::bool_switch(&c.seamPart),
     "restyle the seam of exactly two optimize/hybrid chunk parts only and write its fade frames to "
     "OUT (.mkv, FFV1) as a seam part; a later join given the chunk parts and the seam parts uses them "
     "instead of restyling (one farm task per seam)")
    ("overlap", po::value(&c.maxOverlap)->default_value(-1),
     "blend at most N overlap frames per seam (the last N before the later part's own frames; "
     "the earlier ones are dropped); -1: every overlap frame the parts hold")
    ("progress", po::value(&progress)->default_value("auto"), "auto | bar | json | none");
  // The restyle's knobs: measured defaults, rarely changed; listed after the encoder options.
  po::options_description advanced("Advanced join options (restyle; the defaults are the measured best)");
  advanced.add_options()
    ("restyle-hold", po::value(&c.restyleHold)->default_value(pipeline::kDefaultRestyleHold),
     "how firmly the restyled chain lands on the later part; frame t's temporal "
     "weight is multiplied by (1 - w)^-N, w its fade weight (0: the chunks' own weight throughout; "
     "higher: less flicker at the seam, a little more style loss on the restyled frames)")
    ("restyle-polish", po::value(&c.restylePolish)->default_value(pipeline::kDefaultRestylePolish),
     "optimize the fade's joined frames once more, each from itself, held on it by a "
     "weight (1 - w)^-N - 1 (free early in the fade, firm at its end), so they get back the texture the "
     "hold and the handoff's mix cost (0: no polish; the join takes twice as long)")
    ("restyle-lookahead", po::value(&c.restyleLookahead)->default_value(pipeline::kDefaultRestyleLookahead),
     "with the polish: each polished frame is also held on the next joined frame (the later part's "
     "own after the fade), moved back by the flow, with N times the anchor's weight, so the fade lands on "
     "the later part without a jump (0: not)");
  addEncoderOptions(d, c.writer, codecOptList, noAudio);
  d.add(advanced);
  po::positional_options_description pos;
  pos.add("parts", -1);
  po::variables_map vm;
  // --blend restyle: the chunks' own video options follow a lone "--".
  const auto dashes = std::find(args.begin(), args.end(), std::string("--"));
  const std::vector<std::string> joinArgs(args.begin(), dashes);
  const std::vector<std::string> styleArgs(dashes == args.end() ? dashes : dashes + 1, args.end());
  const bool styleGiven = dashes != args.end();
  try {
    po::store(po::command_line_parser(joinArgs).options(d).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << "Usage: flowstyle join PART... -o OUT [--source IN] [encoder options]\n"
                   "       flowstyle join PART... -o OUT [join options] -- CHUNK OPTIONS\n"
                   "       flowstyle join PART_A PART_B --seam-part -o SEAM.mkv -- CHUNK OPTIONS\n"
                   "       flowstyle join PART... SEAM... -o OUT [join options]\n\n"
                   "Joins farm parts (chunks of one clip made with the same settings) into one video:\n"
                   "checks that they come from the same source and settings and that no frame is\n"
                   "missing, blends the overlap frames, and writes OUT with the source's timestamps,\n"
                   "rotation, colour metadata and audio, cut to the frames the parts cover.\n"
                   "Optimize and hybrid parts are joined best by stylizing the overlap frames again\n"
                   "(--blend restyle; --blend auto, the default, does it when it can): everything\n"
                   "after -- is the chunk command's own options\n"
                   "(--method, --style, weights, iterations, --long-term, flow, --threads, --device;\n"
                   "frame range, pre-roll, overlap and output are ignored): join checks them against\n"
                   "the parts' settings hash and stylizes the overlap frames again with them.\n"
                   "A farm restyles its seams in parallel: one task per seam writes a seam part\n"
                   "(--seam-part, the seam's two chunk parts), then the join takes the chunk parts\n"
                   "and the seam parts and needs no options after -- (a seam without one is\n"
                   "restyled by the join itself when they are given).\n\n"
                << d << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw usageErrorOf(e);
  }
  if (c.parts.empty()) throw UsageError("join: give the parts (flowstyle join PART... -o OUT)");
  if (c.writer.path.empty()) throw UsageError("join: missing -o OUT");
  asUsageError([&] {
    c.blend = pipeline::parseJoinBlend(blend);
    cmd.progress = pipeline::parseProgressMode(progress);
  });
  applyEncoderValues(c.writer, codecOptList, noAudio);
  if (c.writer.crf < 0 || c.writer.crf > 63) throw UsageError("--crf: must be in 0..63");
  if (c.maxOverlap < -1) throw UsageError("--overlap: must be -1 (all) or a number of frames >= 0");
  if (!(c.restyleHold >= 0 && c.restyleHold <= 8)) throw UsageError("--restyle-hold: must be in 0..8");
  if (!(c.restylePolish >= 0 && c.restylePolish <= 8)) throw UsageError("--restyle-polish: must be in 0..8");
  if (!(c.restyleLookahead >= 0 && c.restyleLookahead <= 8)) throw UsageError("--restyle-lookahead: must be in 0..8");
  // ramp and fitted take nothing of the restyle; auto may restyle (optimize, hybrid parts).
  if (c.blend == pipeline::JoinBlend::Ramp || c.blend == pipeline::JoinBlend::Fitted) {
    const std::string with = " goes with --blend restyle (or auto), not --blend " + blend;
    if (styleGiven) throw UsageError("options after -- (the chunks' style options)" + with);
    if (!vm["restyle-hold"].defaulted()) throw UsageError("--restyle-hold" + with);
    if (!vm["restyle-polish"].defaulted()) throw UsageError("--restyle-polish" + with);
    if (!vm["restyle-lookahead"].defaulted()) throw UsageError("--restyle-lookahead" + with);
    if (c.seamPart) throw UsageError("--seam-part" + with);
    return true;
  }
  if (c.restylePolish == 0 && !vm["restyle-lookahead"].defaulted() && c.restyleLookahead > 0) {
    throw UsageError("--restyle-lookahead goes with the polish: --restyle-polish 0 turns it off");
  }
  if (c.seamPart) {
    if (!styleGiven) {
      throw UsageError("--seam-part: give the chunk command's own options after -- "
                       "(e.g. -- --method optimize --style STYLE.jpg --iterations 50)");
    }
    if (!c.writer.codec.empty() && c.writer.codec != "ffv1") {
      throw UsageError("--seam-part writes a lossless seam part (FFV1): leave out --codec " + c.writer.codec);
    }
    c.writer.codec = "ffv1";  // a part: lossless, no audio
    c.writer.copyAudio = false;
  }
  // Without options after --, every seam must come as a seam part (join checks).
  if (!styleGiven) return true;
  // The chunks' settings, read as `video` reads them (join checks them against the parts).
  for (const std::string& a : styleArgs) {
    if (a == "-h" || a == "--help") throw UsageError("--help goes before --");
  }
  // After --: the chunk command's arguments, whole (`video IN ... -o PART`) or its options only.
  std::vector<std::string> videoArgs(styleArgs.begin(), styleArgs.end());
  if (!videoArgs.empty() && videoArgs.front() == "video") videoArgs.erase(videoArgs.begin());
  if (videoArgs.empty() || videoArgs.front().rfind('-', 0) == 0) videoArgs.insert(videoArgs.begin(), c.parts.front());
  const bool hasOutput = std::any_of(videoArgs.begin(), videoArgs.end(), [](const std::string& a) {
    return a == "-o" || a == "--output" || a.rfind("--output=", 0) == 0 || (a.size() > 2 && a.rfind("-o", 0) == 0);
  });
  if (!hasOutput) videoArgs.insert(videoArgs.end(), {"-o", c.writer.path});
  VideoCommand video;
  parseVideo(videoArgs, video);
  c.restyle = video.config;
  return true;
}

bool parseEval(const std::vector<std::string>& args, EvalCommand& cmd) {
  std::string flow = "dis", seams;
  po::options_description d("Options");
  d.add_options()
    ("help,h", "show this help")
    ("original", po::value(&cmd.original), "the input video")
    ("stylized", po::value(&cmd.stylized), "the stylized video")
    ("flow", po::value(&flow)->default_value("dis"), "optical flow: dis | deepflow | farneback")
    ("flow-max-side", po::value(&cmd.flow.maxSide)->default_value(640), "flow is computed at most at this long side")
    ("json", po::bool_switch(&cmd.json), "print per-pair values as JSON")
    ("seams", po::value(&seams), "frames where a joined part starts, e.g. 30,60: reports the pairs across them")
    ("reference", po::value(&cmd.reference),
     "an uninterrupted run with the same settings: reports each seam pair and the mean against it");
  po::variables_map vm;
  if (!parseInto(args, d, {"original", "stylized"}, "Usage: flowstyle eval ORIGINAL STYLIZED [--flow NAME] [--json]\n\n"
                 "Temporal warping error (Lai et al. 2018) of STYLIZED, with visibility from ORIGINAL's\n"
                 "optical flow; the original's own error is the floor.", vm)) {
    return false;
  }
  if (cmd.original.empty() || cmd.stylized.empty()) throw UsageError("eval: needs ORIGINAL and STYLIZED");
  asUsageError([&] { cmd.flow.method = stages::parseFlowMethod(flow); });
  if (!seams.empty()) {
    for (int v : parseIntList(seams, "seams")) {
      if (v < 1) throw UsageError("--seams: frames must be >= 1 (a seam is the pair frame-1 -> frame)");
      cmd.seams.push_back(v);
    }
  }
  return true;
}

void printMainHelp() {
  std::cout <<
R"(flowstyle: neural style transfer for video, steady from frame to frame

Usage:
  flowstyle video IN -o OUT --style STYLE.jpg [options]   stylize a video (optimization, temporal loss)
  flowstyle video IN -o OUT --method fast --model wave     stylize with a pretrained network (fast)
  flowstyle video IN -o OUT --method copy                  decode and re-encode (timing, audio kept)
  flowstyle batch IN_DIR -o OUT_DIR [video options]        every clip of a folder; skips finished ones
  flowstyle preview IN --at 12.5 [video options]           2 s at 256 px + a side-by-side picture
  flowstyle image CONTENT --style STYLE -o OUT.png         stylize a still image
  flowstyle video IN --frames A-B --preroll K --overlap O --resume -o PART.mkv
                                                           one farm chunk (FFV1 part for join), resumable
  flowstyle join PART... -o OUT [--source IN]              join farm parts, blending the overlaps
  flowstyle eval ORIGINAL STYLIZED [--json] [--seams A,B]  temporal warping error of a result
  flowstyle models list                                    installed weights
  flowstyle models install PATH...                         install weights (.safetensors, ml5 folders)
  flowstyle farm plan|slurm|submit|status ...              chunks on a render farm (Slurm); see farm --help
  flowstyle --version

Run 'flowstyle COMMAND --help' for the options of a command.
Exit codes: 0 done, 1 error (bad input, missing weights...), 2 usage error,
130 interrupted (SIGINT), 143 terminated (SIGTERM).
)";
}

}  // namespace flowstyle::tools
