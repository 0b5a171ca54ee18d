#pragma once
// Command-line parsing into the typed pipeline::Config (Boost.Program_options).
#include <string>
#include <vector>

#include "pipeline/config.hpp"
#include "pipeline/farm/join.hpp"

namespace flowstyle::tools {

// Thrown for usage errors (exit code 2): unknown option, bad value, missing argument.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct VideoCommand {
  std::string input;
  pipeline::Config config;
};
struct BatchCommand {
  std::string inputDir;
  std::string outputDir;
  std::string ext = "mp4";
  bool overwrite = false;
  VideoCommand video;  // the options every clip runs with (input/output set per clip)
};
struct PreviewCommand {
  std::string picture;  // side-by-side PNG (original | stylized)
  VideoCommand video;   // the segment's job: --start/--duration, small working size
};
struct ImageCommand {
  std::string content;
  std::string output;
  pipeline::Config config;
};
struct EvalCommand {
  std::string original;
  std::string stylized;
  stages::FlowConfig flow;
  bool json = false;
  std::vector<std::int64_t> seams;  // --seams: frames where a part starts (pair seam-1 -> seam)
  std::string reference;            // --reference: an uninterrupted run to compare pairs with
};
struct JoinCommand {
  pipeline::JoinConfig config;
  pipeline::ProgressMode progress = pipeline::ProgressMode::Auto;
};

// Each returns false when --help was printed (nothing to run).
bool parseVideo(const std::vector<std::string>& args, VideoCommand& out);
bool parseBatch(const std::vector<std::string>& args, BatchCommand& out);
bool parsePreview(const std::vector<std::string>& args, PreviewCommand& out);
bool parseImage(const std::vector<std::string>& args, ImageCommand& out);
bool parseEval(const std::vector<std::string>& args, EvalCommand& out);
bool parseJoin(const std::vector<std::string>& args, JoinCommand& out);

void printMainHelp();

// "A-B" -> first, last (inclusive). Throws UsageError.
void parseFrameRange(const std::string& text, std::int64_t& first, std::int64_t& last);
// "WxH" -> width, height. Throws UsageError.
void parseSize(const std::string& text, int& width, int& height);

}  // namespace flowstyle::tools
