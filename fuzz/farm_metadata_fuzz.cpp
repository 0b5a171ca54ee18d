// libFuzzer target: what the farm work reads back from disk (issue 9): a part's record in
// its container tags (join trusts it) and a --resume state folder left by a killed run
// (state.txt, and the full-precision carry file of the last frame). The input holds three
// sections separated by a line "--": the tags as key=value lines, state.txt, the carry bytes.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "fuzz/fuzz_support.hpp"
#include "pipeline/farm/part.hpp"
#include "pipeline/resume_state.hpp"

namespace {

std::vector<std::string> sections(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (out.size() < 2) {
    const auto at = text.find("\n--\n", start);
    if (at == std::string::npos) break;
    out.push_back(text.substr(start, at - start));
    start = at + 4;
  }
  out.push_back(text.substr(start));
  while (out.size() < 3) out.emplace_back();
  return out;
}

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  namespace pl = flowstyle::pipeline;
  const std::vector<std::string> parts = sections(std::string(reinterpret_cast<const char*>(data), size));

  // 1. The part record.
  std::map<std::string, std::string> tags;
  std::stringstream ss(parts[0]);
  std::string line;
  while (std::getline(ss, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) tags[line.substr(0, eq)] = line.substr(eq + 1);
  }
  try {
    if (pl::hasPartRecord(tags)) (void)pl::parsePartRecord(tags, "part.mkv");
  } catch (const std::runtime_error&) {
  }

  // 2. A resume state folder: state.txt, one complete frame, its carry file.
  static const std::string png = [] {
    std::vector<unsigned char> buf;
    cv::imencode(".png", cv::Mat(4, 6, CV_8UC3, cv::Scalar(1, 2, 3)), buf);
    return std::string(buf.begin(), buf.end());
  }();
  const std::string output = (flowstyle::fuzz::scratch() / "out.mkv").string();
  const fs::path folder = pl::ResumeState::folderFor(output);
  std::error_code ec;
  fs::remove_all(folder, ec);
  fs::create_directories(folder / "frames");
  fs::create_directories(folder / "carry");
  write(folder / "state.txt", parts[1]);
  write(folder / "frames/00000000.png", png);
  write(folder / "carry/00000000.f32", parts[2]);
  try {
    auto state = pl::ResumeState::open(output, "fuzz-identity", "fuzz", true, 1, 1, nullptr);
    if (state && state->restored() > 0) {
      (void)state->output(0);
      (void)state->carry(0);
      (void)state->value("precision");
    }
  } catch (const std::runtime_error&) {
  } catch (const cv::Exception&) {
  }
  return 0;
}
