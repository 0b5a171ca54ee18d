#pragma once
// `flowstyle join`: farm parts (chunks written by `flowstyle video --frames A-B --preroll K
// --overlap O` as FFV1 .mkv) checked, ordered, blended where they overlap and encoded as one
// video with the source's timestamps, metadata and audio.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/farm/part.hpp"
#include "pipeline/frame_range.hpp"
#include "stages/video_writer.hpp"

namespace flowstyle::pipeline {

// How overlap frames (written by two parts) are mixed, with w rising over the overlap from
// the earlier part (w = 0) to the later one (w = 1):
//   Auto:     Fitted for copy and fast parts; Restyle for optimize and hybrid parts when it
//             can run (the chunks' settings given, or seam parts), Fitted otherwise
//             (chooseBlend). The default.
//   Ramp:     (1-w)·a + w·b with w linear, a cross-fade: the cheap one (no source decode).
//   Fitted:   the cross-fade with weights fitted to each seam (pipeline/farm/seam_blend.hpp):
//             join measures, on the overlap frames and the source's flow, how far apart the
//             two parts are (in units of their own frame-to-frame warping error) and how
//             alike their own changes are, and takes small steps where a step shows (both
//             ends of the fade, repeated source frames) and larger ones where it does not.
//   Restyle:  the overlap frames stylized again, in order, with the chunks' own settings
//             (optimize, hybrid): each starts from the previous joined frame warped into
//             place, moved a scheduled share of the way to the later part's frame, and the
//             temporal term holds it there; then faded onto the later part's own frames
//             (pipeline/farm/seam_handoff.hpp) and polished (pipeline/farm/seam_polish.hpp).
//             Every frame is a stylization of its own, not a mix of two paintings. Costs
//             one to two optimizer runs per overlap frame at join time.
enum class JoinBlend { Auto, Ramp, Fitted, Restyle };
JoinBlend parseJoinBlend(const std::string& name);  // auto | ramp | fitted | restyle
std::string toString(JoinBlend blend);

// The blend a join uses: `asked` unless it is Auto, else the one for parts made with
// `method` (copy, fast: Fitted; optimize, hybrid: Restyle when `restyleSettings` (the chunks'
// options were given) or `seamParts` (seam parts were given), Fitted otherwise). `why`, when
// not null, receives a one-line account of an Auto choice.
JoinBlend chooseBlend(JoinBlend asked, const std::string& method, bool restyleSettings, bool seamParts,
                      std::string* why = nullptr);

// The restyle's defaults (why these values: docs/farm.md, "Results that decided the
// defaults"): the landing hold (pipeline/farm/seam_restyle.hpp), the polish's anchor
// exponent and its look-ahead (pipeline/farm/seam_polish.hpp).
inline constexpr double kDefaultRestyleHold = 2;
inline constexpr double kDefaultRestylePolish = 2;
inline constexpr double kDefaultRestyleLookahead = 0.25;

struct JoinConfig {
  std::vector<std::string> parts;
  std::string source;           // empty: the path the parts recorded
  stages::WriterConfig writer;  // the output and its encoder
  JoinBlend blend = JoinBlend::Auto;
  // At most this many overlap frames are blended at each seam: the last ones before the
  // later part's own range (its earlier overlap frames are dropped). -1: all of them.
  // Lets one set of parts made with a long --overlap be joined with a shorter one.
  int maxOverlap = -1;
  // --blend restyle: the settings the parts were made with (join checks them against the
  // parts' settings hash) and what to report per optimizer iteration (may be empty).
  // Every seam needs the settings, except one whose restyled frames come from a seam part.
  std::optional<Config> restyle;
  std::function<void(const std::string&)> onRestyleFrame;  // a line per restyled frame
  std::function<void(const std::string&)> note;  // one-line remarks (which blend --blend auto chose; the writer's)
  // --restyle-hold: the landing hold's exponent (pipeline/farm/seam_restyle.hpp): the restyled
  // frame t's temporal terms weigh (1 - w_t)^-hold, so the chain lands on the later part.
  double restyleHold = kDefaultRestyleHold;
  // --restyle-polish: the polish's anchor exponent (pipeline/farm/seam_polish.hpp); 0: no polish.
  double restylePolish = kDefaultRestylePolish;
  // --restyle-lookahead: the polish's temporal term to the next joined frame, as a share of
  // its anchor's weight (pipeline/farm/seam_polish.hpp); 0: none.
  double restyleLookahead = kDefaultRestyleLookahead;
  // --seam-part: restyle the one seam between the two parts given and write only its fade
  // frames, as a lossless seam part with a record (writer: FFV1 .mkv). A later join given
  // the chunk parts and the seam parts uses those frames instead of restyling, so that a
  // farm restyles its seams in parallel, one task each.
  bool seamPart = false;
};

// A part as join sees it: its record and the source frames it holds.
struct PartSpan {
  std::string path;
  PartRecord record;
  FrameRange frames{0, 0};  // the source frames it holds
};

struct JoinPlan {
  std::vector<PartSpan> parts;  // ordered by first frame
  FrameRange frames{0, 0};      // the joined frames: the first part's first to the last part's last
  std::vector<std::int64_t> seams;  // per border: the later part's first frame of its own range
  std::vector<PartSpan> seamParts;  // seam parts given (join --seam-part), checked against the parts
};

// Reads the parts' records and frame counts and checks them (same source and settings,
// lossless, every frame present, overlaps only where the later part wrote overlap
// frames). Seam parts among them go to seamParts, checked for source, settings and
// completeness. Throws std::runtime_error naming the odd part or the missing frames.
JoinPlan planJoin(const std::vector<std::string>& parts);
// The same checks on records already read (for tests and other front ends).
JoinPlan planJoin(std::vector<PartSpan> spans);

// What join found at one seam (blended ones; measured for --blend fitted).
struct SeamReport {
  std::int64_t frame = 0;  // the later part's first own frame
  int width = 0;           // overlap frames blended
  bool measured = false;   // jump/rho/expected filled
  double jump = 0;         // R: the parts' mean squared difference / their own pair warping error
  double rho = 0;          // correlation of the two parts' own frame-to-frame changes
  double expected = 0;     // the model's worst pair ratio with the weights used
  double expectedLinear = 0;  // ... with a linear ramp, for comparison
  // --blend restyle: the model's worst pair ratio of the fade from the restyled frames onto
  // the later part's own, and without that fade (the restyled chain cut over to Q).
  // Both measured on the rounded frames; settleFirst: the first schedule's worst pair, before
  // settleSteady pairs were kept steady (pipeline/farm/seam_handoff.hpp).
  double settleExpected = 0;
  double settleWithout = 0;
  double settleFirst = 0;
  int settleSteady = 0;
  int polished = 0;  // fade frames optimized again by the polish (pipeline/farm/seam_polish.hpp)
};

struct JoinStats {
  JoinBlend blend = JoinBlend::Auto;  // the blend used (chooseBlend)
  std::int64_t frames = 0;
  std::int64_t blended = 0;  // frames taken from two parts
  double seconds = 0;
  JoinPlan plan;
  std::vector<SeamReport> seams;
};

// Runs the whole join; the output appears only when complete. `onFrame(done, total)`.
JoinStats runJoin(const JoinConfig& config, const std::function<void(std::int64_t, std::int64_t)>& onFrame,
                  const std::atomic<bool>* cancel);

}  // namespace flowstyle::pipeline
