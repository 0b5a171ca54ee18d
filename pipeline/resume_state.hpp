#pragma once
// Resume state of one video job (flowstyle video --resume): kept beside the output in
// `<folder>/.<output name>.flowstyle-state/`, written atomically as frames complete, so a
// run killed at any point (SIGKILL, power loss, preemption) continues from its last
// completed frame and ends with the same output as an uninterrupted run.
//
// Layout (version 1):
//   state.txt            identity of the job (source, settings, frame span) and settled
//                        choices (the style network's number format); key=value lines
//   lock                 "host pid" of the process working on it
//   frames/NNNNNNNN.png  the 8-bit output of every completed frame (lossless)
//   carry/NNNNNNNN.f32   the full-precision stylized frames the temporal chain still needs
// NNNNNNNN counts frames from the first stylized frame (pre-roll included). A frame is
// complete when its PNG exists; its carry file is written (and synced) before it.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

namespace flowstyle::pipeline {

class ResumeState {
 public:
  using Note = std::function<void(const std::string&)>;

  // The state folder of `output`.
  static std::string folderFor(const std::string& output);

  // resume = false: a state folder left by an earlier run is reported through `note` and
  // removed; returns null (no state is kept). resume = true: continues the folder when
  // its identity equals `identity` (throws naming the folder when it belongs to another
  // command), else starts one. `carryFrames`: how many recent full-precision frames the
  // temporal chain needs (0: none); `alignment`: frames are resumed at a multiple of this
  // (the style network's batch). Throws when another live process holds the folder.
  static std::unique_ptr<ResumeState> open(const std::string& output, const std::string& identity,
                                           const std::string& description, bool resume, int carryFrames,
                                           int alignment, const Note& note);
  ~ResumeState();
  ResumeState(const ResumeState&) = delete;
  ResumeState& operator=(const ResumeState&) = delete;

  const std::string& folder() const { return folder_; }
  // Frames restored from an earlier run (frame numbers 0 .. restored()-1 are complete).
  std::int64_t restored() const { return restored_; }
  // CV_8UC3 RGB output of a restored frame.
  cv::Mat output(std::int64_t index) const;
  // CV_32FC3 RGB [0,1] of a restored frame, empty when it was not kept.
  cv::Mat carry(std::int64_t index) const;

  // Records frame `index` as complete. `carry01` (CV_32FC3) is kept when the chain needs
  // it (empty: nothing to carry); `output` is the CV_8UC3 frame as encoded.
  void save(std::int64_t index, const cv::Mat& carry01, const cv::Mat& output);

  // Settled choices (e.g. "precision"), persisted in state.txt.
  std::string value(const std::string& key) const;
  void setValue(const std::string& key, const std::string& value);

  // The output is complete: removes the folder.
  void finish();

 private:
  ResumeState() = default;
  void writeStateFile() const;

  std::string folder_;
  std::map<std::string, std::string> fields_;
  std::int64_t restored_ = 0;
  int carryFrames_ = 0;
  int alignment_ = 1;
  bool finished_ = false;
};

}  // namespace flowstyle::pipeline
