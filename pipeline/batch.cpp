#include "pipeline/batch.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace flowstyle::pipeline {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool isClip(const fs::directory_entry& e) {
  std::error_code ec;
  if (!e.is_regular_file(ec)) return false;
  const std::string name = e.path().filename().string();
  if (name.empty() || name[0] == '.') return false;
  const std::string ext = lower(e.path().extension().string());
  const auto& known = clipExtensions();
  return std::find(known.begin(), known.end(), ext) != known.end();
}

std::string joinExtensions() {
  std::string s;
  for (const std::string& e : clipExtensions()) s += (s.empty() ? "" : " ") + e;
  return s;
}

}  // namespace

const std::vector<std::string>& clipExtensions() {
  static const std::vector<std::string> ext = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi",
                                               ".gif", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                                               ".wmv", ".flv", ".ogv", ".y4m"};
  return ext;
}

std::vector<BatchItem> planBatch(const std::string& inputDir, const std::string& outputDir,
                                 const std::string& ext, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(inputDir, ec)) throw std::runtime_error(inputDir + ": folder not found");
  if (!fs::is_directory(inputDir, ec)) {
    throw std::runtime_error(inputDir + ": is not a folder (batch takes a folder of clips; "
                             "for one file use flowstyle video)");
  }
  if (fs::exists(outputDir, ec) && !fs::is_directory(outputDir, ec)) {
    throw std::runtime_error(outputDir + ": exists and is not a folder");
  }
  if (ext.empty() || ext.find('/') != std::string::npos || ext[0] == '.') {
    throw std::runtime_error("--ext '" + ext + "': expected an extension without the dot, e.g. mp4");
  }
  std::vector<fs::path> clips;
  fs::directory_iterator it(inputDir, ec);
  if (ec) throw std::runtime_error(inputDir + ": cannot list the folder: " + ec.message());
  for (const fs::directory_entry& e : it) {
    if (isClip(e)) clips.push_back(e.path());
  }
  if (clips.empty()) {
    throw std::runtime_error(inputDir + ": no clips in this folder (looked for " + joinExtensions() +
                             ")");
  }
  std::sort(clips.begin(), clips.end());

  std::vector<BatchItem> plan;
  std::map<std::string, std::string> claimed;  // output -> the clip it belongs to
  for (const fs::path& clip : clips) {
    BatchItem item;
    item.input = clip.string();
    item.output = (fs::path(outputDir) / (clip.stem().string() + "." + ext)).string();
    const fs::path inAbs = fs::weakly_canonical(clip, ec);
    const fs::path outAbs = fs::weakly_canonical(item.output, ec);
    auto earlier = claimed.find(outAbs.string());
    if (inAbs == outAbs) {
      item.action = BatchItem::Action::Reject;
      item.reason = "the output " + item.output + " would overwrite the clip itself (use another -o or --ext)";
    } else if (earlier != claimed.end()) {
      item.action = BatchItem::Action::Reject;
      item.reason = "the output " + item.output + " is already the output of " + earlier->second +
                    " (same name, other extension)";
    } else if (!overwrite && fs::exists(item.output, ec)) {
      item.action = BatchItem::Action::SkipDone;
      item.reason = item.output + " exists (--overwrite to redo it)";
    }
    if (item.action != BatchItem::Action::Reject) claimed[outAbs.string()] = item.input;
    plan.push_back(item);
  }
  return plan;
}

}  // namespace flowstyle::pipeline
