#pragma once
// `flowstyle batch`: which clips of a folder to stylize, and where each result goes.
// Planning only (files and names); the command runs each planned clip as a video job.
#include <string>
#include <vector>

namespace flowstyle::pipeline {

struct BatchItem {
  enum class Action { Run, SkipDone, Reject };
  std::string input;   // the clip
  std::string output;  // OUT_DIR/<clip stem>.<ext>
  Action action = Action::Run;
  std::string reason;  // SkipDone / Reject: why
};

// The file extensions taken as clips (lower case, with the dot).
const std::vector<std::string>& clipExtensions();

// Lists the clips directly inside inputDir (not recursive; hidden files and other
// extensions ignored), sorted by name, and plans one output per clip in outputDir:
//   - SkipDone when the output exists and !overwrite (outputs are renamed into place only
//     when complete, so an existing file is a finished one);
//   - Reject when the output would be the input itself, or when an earlier clip already
//     maps to the same output name (a.mp4 and a.mov with ext mp4).
// Throws std::runtime_error naming the folder when inputDir is not a readable folder or
// holds no clips, or when outputDir exists and is not a folder; ext without its dot.
std::vector<BatchItem> planBatch(const std::string& inputDir, const std::string& outputDir,
                                 const std::string& ext, bool overwrite);

}  // namespace flowstyle::pipeline
