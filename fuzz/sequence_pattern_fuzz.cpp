// libFuzzer target: image-sequence patterns (frames/%05d.png) as the reader and the writer
// take them, in a folder holding three tiny PNG frames. The input is the pattern's file
// name (no folders: it stays inside the scratch folder).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <opencv2/imgcodecs.hpp>

#include "fuzz/fuzz_support.hpp"
#include "stages/av_log.hpp"
#include "stages/video_reader.hpp"
#include "stages/video_writer.hpp"

namespace {

const std::filesystem::path& frames() {
  static const std::filesystem::path dir = [] {
    flowstyle::stages::setLibavLogLevel(flowstyle::stages::LibavLog::Quiet);
    const std::filesystem::path d = flowstyle::fuzz::scratch() / "frames";
    std::filesystem::create_directories(d);
    for (int i = 1; i <= 3; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%05d.png", i);
      cv::imwrite((d / name).string(), cv::Mat(6, 8, CV_8UC3, cv::Scalar(10 * i, 20, 30)));
    }
    std::filesystem::create_directories(flowstyle::fuzz::scratch() / "out");
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path dir = frames();
  std::string name(reinterpret_cast<const char*>(data), size);
  if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos || name == "." || name == "..")
    return 0;
  namespace st = flowstyle::stages;
  try {
    st::ReaderConfig rc;
    rc.path = (dir / name).string();
    st::VideoReader reader(rc);
    for (int i = 0; i < 5 && reader.next(); ++i) {
    }
  } catch (const std::runtime_error&) {
  }
  try {
    st::WriterConfig wc;
    wc.path = (flowstyle::fuzz::scratch() / "out" / name).string();
    st::VideoInfo info;
    info.width = 8;
    info.height = 6;
    info.timeBase = {1, 25};
    info.avgFrameRate = {25, 1};
    st::VideoWriter writer(wc, info);  // destroyed unfinished: removes its temporary
  } catch (const std::runtime_error&) {
  }
  return 0;
}
