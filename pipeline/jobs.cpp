#include "pipeline/jobs.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "pipeline/memory.hpp"
#include "stages/temp_files.hpp"
#include "stages/video_reader.hpp"

namespace flowstyle::pipeline {
namespace fs = std::filesystem;

void checkImageOutputPath(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  static const char* kExts[] = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"};
  if (std::find(std::begin(kExts), std::end(kExts), ext) == std::end(kExts)) {
    throw std::runtime_error(path + ": unknown image format '" + ext +
                             "' (use .png, .jpg, .jpeg, .bmp, .tif, .tiff or .webp)");
  }
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error(path + ": output folder '" + dir.string() + "' does not exist");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw std::runtime_error(path + ": output folder '" + dir.string() + "' is not writable");
  }
}

namespace {

// Writes a BGR image under a temporary name in the destination folder, then renames it.
void writeImageAtomically(const std::string& output, const cv::Mat& bgr,
                          const std::function<void(const std::string&)>& note) {
  std::error_code ec;
  const fs::path final(output);
  for (const std::string& removed : stages::removeStaleTemporaries(final.parent_path().string()))
    if (note) note("note: " + removed);
  const fs::path tmp =
      final.parent_path() / stages::temporaryName(final.stem().string(), final.extension().string(), false);
  bool written = false;
  errno = 0;
  try {
    written = cv::imwrite(tmp.string(), bgr);
  } catch (const cv::Exception& e) {
    fs::remove(tmp, ec);
    throw std::runtime_error(output + ": cannot write the image: " + e.what());
  }
  if (!written) {
    const int err = errno;  // e.g. ENOSPC from the encoder's writes
    fs::remove(tmp, ec);
    throw std::runtime_error(output + ": cannot write the image" +
                             (err != 0 ? std::string(" (") + std::strerror(err) + ")" : std::string()));
  }
  fs::rename(tmp, final, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error(output + ": cannot move the finished image into place");
  }
}

// Frame `index` of a reader's selection (CV_8UC3 RGB); throws naming the file.
cv::Mat frameAt(const stages::ReaderConfig& config, std::int64_t index) {
  stages::VideoReader reader(config);
  std::int64_t i = 0;
  while (auto frame = reader.next()) {
    if (i++ == index) return frame->rgb;
  }
  throw std::runtime_error(config.path + ": has no frame " + std::to_string(index) + " in the selection");
}

}  // namespace

void writeSideBySide(const stages::ReaderConfig& original, const std::string& stylized, std::int64_t index,
                     const std::string& output, const std::function<void(const std::string&)>& note) {
  checkImageOutputPath(output);
  stages::ReaderConfig styledConfig;
  styledConfig.path = stylized;
  const cv::Mat right = frameAt(styledConfig, index);
  cv::Mat left = frameAt(original, index);
  cv::resize(left, left, right.size(), 0, 0, cv::INTER_AREA);
  cv::Mat both, bgr;
  cv::hconcat(left, right, both);
  cv::cvtColor(both, bgr, cv::COLOR_RGB2BGR);
  writeImageAtomically(output, bgr, note);
}

ImageStats runImage(const Config& config, const std::string& content, const std::string& output,
                    const IterationCallback& onIteration, const std::function<void(const std::string&)>& note) {
  checkImageOutputPath(output);
  std::error_code ec;
  cv::Mat rgb = loadRgbImage(content, "content image");
  int w = 0, h = 0;
  workingSize(config.size, rgb.cols, rgb.rows, w, h);
  if (w != rgb.cols || h != rgb.rows) {
    cv::Mat resized;
    cv::resize(rgb, resized, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    rgb = resized;
  }

  Config imageConfig = config;
  // A still is a "first frame": its budget is the optimizer's iteration cap.
  imageConfig.style.iterationsFirst = config.style.optimize.iterations;
  const MemoryEstimate memory = checkMemory(config, JobKind::Image, rgb.cols, rgb.rows, content);
  if (imageConfig.fast.tile == kAutoTile) imageConfig.fast.tile = memory.fastTile;  // what fits
  std::unique_ptr<FrameStylizer> stylizer = makeStylizer(imageConfig, onIteration);

  const auto t0 = std::chrono::steady_clock::now();
  StylizeRequest request;
  request.content = rgb;
  std::vector<cv::Mat> prepared = stylizer->prepareBatch({rgb});
  if (!prepared.empty()) request.prepared = prepared.front();
  StylizeOutcome outcome = stylizer->stylize(request);

  cv::Mat out8, outBgr;
  outcome.image.convertTo(out8, CV_8UC3, 255.0);
  cv::cvtColor(out8, outBgr, cv::COLOR_RGB2BGR);
  writeImageAtomically(output, outBgr, note);
  ImageStats stats;
  stats.width = w;
  stats.height = h;
  stats.iterations = outcome.iterations;
  stats.loss = outcome.loss;
  stats.network = stylizer->describe();
  stats.memory = memory.describe();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

stages::WarpingErrorReport runEval(const std::string& original, const std::string& stylized,
                                   const stages::FlowConfig& flow) {
  stages::ReaderConfig ra, rb;
  ra.path = original;
  rb.path = stylized;
  stages::VideoReader a(ra), b(rb);
  stages::WarpingErrorMeter meter(flow);
  std::int64_t na = 0, nb = 0;
  while (true) {
    std::optional<stages::Frame> fa = a.next();
    std::optional<stages::Frame> fb = b.next();
    if (fa) ++na;
    if (fb) ++nb;
    if (!fa || !fb) {
      while (fa && (fa = a.next())) ++na;
      while (fb && (fb = b.next())) ++nb;
      break;
    }
    if (fa->rgb.size() != fb->rgb.size()) {
      throw std::runtime_error(stylized + ": frame size " + std::to_string(fb->rgb.cols) + "x" +
                               std::to_string(fb->rgb.rows) + " differs from " + original + "'s " +
                               std::to_string(fa->rgb.cols) + "x" + std::to_string(fa->rgb.rows));
    }
    meter.add(fa->rgb, fb->rgb);
  }
  if (na != nb) {
    throw std::runtime_error(stylized + ": has " + std::to_string(nb) + " frames but " + original +
                             " has " + std::to_string(na) + "; eval needs the same frames");
  }
  if (na < 2) throw std::runtime_error(original + ": eval needs at least 2 frames");
  return meter.report();
}

}  // namespace flowstyle::pipeline
