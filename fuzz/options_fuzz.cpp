// libFuzzer target: the command line's parsers of structured values (--frames, --size,
// --style-blend, --long-term, --codec-opt, --max-memory, the enums) through the real
// parse of each command (video, batch, preview, image, eval, join). The input is one
// argument per line; the first picks the command.
// A usage error (exit 2) or a validation error is the expected outcome of bad input.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace t = flowstyle::tools;
  std::vector<std::string> args;
  std::stringstream ss(std::string(reinterpret_cast<const char*>(data), size));
  std::string line;
  while (std::getline(ss, line) && args.size() < 64) args.push_back(line);
  if (args.empty()) return 0;
  const std::string command = args.front();
  args.erase(args.begin());
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return 0;  // prints the help text, nothing to parse
  }
  try {
    if (command == "video") {
      t::VideoCommand c;
      t::parseVideo(args, c);
    } else if (command == "batch") {
      t::BatchCommand c;
      t::parseBatch(args, c);
    } else if (command == "preview") {
      t::PreviewCommand c;
      t::parsePreview(args, c);
    } else if (command == "image") {
      t::ImageCommand c;
      t::parseImage(args, c);
    } else if (command == "eval") {
      t::EvalCommand c;
      t::parseEval(args, c);
    } else if (command == "join") {
      t::JoinCommand c;
      t::parseJoin(args, c);
    } else if (command == "frames") {
      std::int64_t a = 0, b = 0;
      for (const std::string& s : args) t::parseFrameRange(s, a, b);
    } else if (command == "size") {
      int w = 0, h = 0;
      for (const std::string& s : args) t::parseSize(s, w, h);
    }
  } catch (const t::UsageError&) {
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
  return 0;
}
