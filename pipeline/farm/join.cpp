#include "pipeline/farm/join.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>

#include <opencv2/imgproc.hpp>

#include "pipeline/farm/seam_blend.hpp"
#include "pipeline/farm/seam_handoff.hpp"
#include "pipeline/farm/seam_polish.hpp"
#include "pipeline/farm/seam_restyle.hpp"
#include "pipeline/frame_stylizer.hpp"
#include "pipeline/image_ops.hpp"
#include "pipeline/video_pipeline.hpp"
#include "stages/fingerprint.hpp"
#include "stages/video_reader.hpp"
#include "stages/warping_error.hpp"

namespace flowstyle::pipeline {
namespace fs = std::filesystem;
namespace {

// A --restyle-hold as the user would type it (shortest exact form).
std::string holdText(double hold) {
  char text[40];
  return std::string(text, std::to_chars(text, text + sizeof text, hold).ptr);
}

// The polish's look-ahead as it acts: none without a polish.
double effectiveLookahead(const JoinConfig& config) {
  return config.restylePolish > 0 ? config.restyleLookahead : 0.0;
}

bool losslessCodec(const std::string& name) {
  return name == "ffv1" || name == "png" || name == "rawvideo" || name == "huffyuv" || name == "ffvhuff" ||
         name == "utvideo" || name == "qtrle";
}

std::string describeSource(const PartRecord& r) {
  return r.source.path + ", " + std::to_string(r.source.bytes) + " bytes, hash " + r.source.hash;
}

}  // namespace

JoinBlend parseJoinBlend(const std::string& name) {
  if (name == "auto") return JoinBlend::Auto;
  if (name == "ramp") return JoinBlend::Ramp;
  if (name == "fitted") return JoinBlend::Fitted;
  if (name == "restyle") return JoinBlend::Restyle;
  throw std::invalid_argument("--blend: unknown blend '" + name + "' (valid: auto, ramp, fitted, restyle)");
}

std::string toString(JoinBlend blend) {
  switch (blend) {
    case JoinBlend::Auto: return "auto";
    case JoinBlend::Ramp: return "ramp";
    case JoinBlend::Fitted: return "fitted";
    case JoinBlend::Restyle: return "restyle";
  }
  return "?";
}

JoinBlend chooseBlend(JoinBlend asked, const std::string& method, bool restyleSettings, bool seamParts,
                      std::string* why) {
  if (asked != JoinBlend::Auto) return asked;
  const bool optimizes = method == toString(Method::Optimize) || method == toString(Method::Hybrid);
  if (!optimizes) {
    if (why) *why = "--blend auto: fitted (" + method + " parts)";
    return JoinBlend::Fitted;
  }
  if (restyleSettings || seamParts) {
    if (why) *why = "--blend auto: restyle (" + method + " parts)";
    return JoinBlend::Restyle;
  }
  if (why) {
    *why = "--blend auto: fitted (" + method + " parts; give the chunks' options after -- to restyle the seams, "
           "the better join for " + method + " parts)";
  }
  return JoinBlend::Fitted;
}

namespace {

// The cross-fade (1-w)·a + w·b of ramp and fitted.
cv::Mat blendFrames(const cv::Mat& a, const cv::Mat& b, double w) {
  if (w <= 0) return a.clone();
  cv::Mat mixed;
  cv::addWeighted(a, 1.0 - w, b, w, 0.0, mixed);
  return mixed;
}

// Frames first..last (source numbering) of a part whose frame 0 is source frame `offset`.
std::vector<cv::Mat> readSpan(const std::string& path, std::int64_t offset, std::int64_t first, std::int64_t last) {
  stages::ReaderConfig rc;
  rc.path = path;
  rc.selection.first = first - offset;
  rc.selection.last = last - offset;
  stages::VideoReader reader(rc);
  std::vector<cv::Mat> frames;
  while (static_cast<std::int64_t>(frames.size()) < last - first + 1) {
    std::optional<stages::Frame> f = reader.next();
    if (!f) throw std::runtime_error(path + ": ended before frame " + std::to_string(last) + " (damaged?)");
    frames.push_back(f->rgb);
  }
  return frames;
}

// The source frames of several spans [first, last], at `size`, in one pass over the source
// (a selection by frame number decodes from the start: one pass, not one per seam).
std::vector<std::vector<cv::Mat>> readSourceSpans(const std::string& source,
                                                  const std::vector<FrameRange>& spans,
                                                  cv::Size size) {
  std::vector<std::vector<cv::Mat>> out(spans.size());
  if (spans.empty()) return out;
  std::int64_t last = 0;
  for (const FrameRange& s : spans) last = std::max(last, s.last);
  stages::ReaderConfig rc;
  rc.path = source;
  rc.selection.last = last;
  stages::VideoReader reader(rc);
  for (std::int64_t n = 0; n <= last; ++n) {
    std::optional<stages::Frame> f = reader.next();
    if (!f) throw std::runtime_error(source + ": ended before frame " + std::to_string(last));
    for (std::size_t k = 0; k < spans.size(); ++k)
      if (spans[k].contains(n)) out[k].push_back(toWorkSize(f->rgb, size));
  }
  return out;
}

// The seam model of pipeline/farm/seam_blend.hpp, measured on the blended frames
// blendFirst..p.frames.last with flow on the source: each part's own pair warping error (P from
// the frame before the fade, Q into its first own frame), the warping error of their
// half-and-half mix (gives the correlation of their changes) and their mean squared
// difference D per frame. Pair i of the fade (frame blendFirst-1+i -> blendFirst+i) gets
// R_i = D / e0_i with e0_i the parts' own error on that pair. `src`: the source's frames
// seamFrames(p, blendFirst) at the parts' size.
FrameRange seamFrames(const PartSpan& p, std::int64_t blendFirst) {
  return {std::max(p.frames.first, blendFirst - 1), p.frames.last + 1};
}

// The model from frames in memory: pf = P's frames seamFrames().first..pLast, qf = Q's
// frames blendFirst..seamFrames().last.
SeamModel measureSeamFrames(const std::vector<cv::Mat>& src, const std::vector<cv::Mat>& pf,
                            const std::vector<cv::Mat>& qf, std::int64_t from, std::int64_t blendFirst,
                            std::int64_t pLast) {
  const std::int64_t to = pLast + 1;
  stages::FlowConfig flow;
  stages::WarpingErrorMeter meterP(flow), meterQ(flow), meterMix(flow);
  std::vector<double> diff;  // D of frames blendFirst..p.frames.last
  for (std::int64_t n = from; n <= to; ++n) {
    const cv::Mat& s = src[static_cast<std::size_t>(n - from)];
    const bool inP = n <= pLast, inQ = n >= blendFirst;
    const cv::Mat* a = inP ? &pf[static_cast<std::size_t>(n - from)] : nullptr;
    const cv::Mat* b = inQ ? &qf[static_cast<std::size_t>(n - blendFirst)] : nullptr;
    if (a) meterP.add(s, *a);
    if (b) meterQ.add(s, *b);
    if (a && b) {
      cv::Mat mix;
      cv::addWeighted(*a, 0.5, *b, 0.5, 0.0, mix);
      meterMix.add(s, mix);
      diff.push_back(cv::norm(*a, *b, cv::NORM_L2SQR) / (255.0 * 255.0 * static_cast<double>(a->total()) * 3.0));
    }
  }
  const stages::WarpingErrorReport rp = meterP.report(), rq = meterQ.report(), rm = meterMix.report();
  const double e0 = 0.5 * (rp.meanStylized + rq.meanStylized);
  double dMean = 0;
  for (double d : diff) dMean += d;
  dMean = diff.empty() ? 0 : dMean / static_cast<double>(diff.size());
  auto ratioOf = [](double d, double e) { return e > 1e-12 ? std::min(1e9, d / e) : (d > 0 ? 1e9 : 0.0); };
  SeamModel m;
  m.jump = ratioOf(dMean, e0);
  // With one blended frame there is no pair of mixes to measure: assume fully correlated
  // changes (the cautious case: no frame of the fade changes less than the parts do).
  m.rho = diff.size() >= 2 && e0 > 1e-12 ? std::clamp(2 * rm.meanStylized / e0 - 1, -1.0, 1.0) : 1.0;
  const std::int64_t width = pLast - blendFirst + 1;
  for (std::int64_t i = 0; i <= width; ++i) {
    const std::int64_t frame = blendFirst - 1 + i;  // the pair (frame, frame + 1)
    double sum = 0;
    int count = 0;
    const std::int64_t ip = frame - from, iq = frame - blendFirst;
    if (ip >= 0 && ip < static_cast<std::int64_t>(rp.pairs.size()) && rp.pairs[ip].visibleFraction > 0)
      sum += rp.pairs[ip].stylized, ++count;
    if (iq >= 0 && iq < static_cast<std::int64_t>(rq.pairs.size()) && rq.pairs[iq].visibleFraction > 0)
      sum += rq.pairs[iq].stylized, ++count;
    const double d = diff.empty() ? 0 : diff[static_cast<std::size_t>(std::min<std::int64_t>(i, width - 1))];
    m.pairJumps.push_back(ratioOf(d, count ? sum / count : e0));
  }
  return m;
}

// One border of the join, between parts P (earlier) and Q (later): its frames, its model
// and its result. Made for every border; processSeam fills the result.
struct SeamWork {
  const PartSpan* p = nullptr;
  const PartSpan* q = nullptr;
  std::int64_t width = 0;              // fade frames: the last `width` frames of P
  const PartSpan* seamPart = nullptr;  // its restyled frames, made by a seam task (join --seam-part)
  bool measured = false;               // fitted, restyle: the seam's model is measured
  bool restyleHere = false;            // restyle, no seam part: this join restyles it
  FrameRange measuredSpan{0, 0};  // source frames the model needs (when measured)
  FrameRange restyleSpan{0, 0};   // ... and the restyle's temporal term (when restyled here)
  std::vector<cv::Mat> measuredSource, restyleSource;         // those frames, at the parts' size
  // The result.
  std::vector<double> weights;     // the fade's weights, one per fade frame
  std::vector<cv::Mat> restyled;   // restyle: the fade's frames
  SeamReport report;
  std::int64_t blendFirst() const { return p->frames.last - width + 1; }
};

// The count of restyled and polished frames across the seams, for the progress lines.
struct RestyleProgress {
  std::int64_t done = 0, total = 0;
  const JoinConfig* config = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  void step(const std::string& what, std::int64_t frame) {
    ++done;
    if (config->onRestyleFrame) {
      config->onRestyleFrame(what + " frame " + std::to_string(frame) + " (" + std::to_string(done) + "/" +
                             std::to_string(total) + ")");
    }
    if (cancel != nullptr && cancel->load()) throw Cancelled();
  }
};

// Restyles one seam (pipeline/farm/seam_restyle.hpp), hands it off onto Q's own frames
// (seam_handoff.hpp) and polishes it (seam_polish.hpp). `earlier`: P's frames from
// `pFrom`; `later`: Q's over the fade and one after; `model` measured on them.
void restyleAndPolish(SeamWork& w, const JoinConfig& config, const std::vector<cv::Mat>& earlier, std::int64_t pFrom,
                 const std::vector<cv::Mat>& later, const SeamSchedule& schedule, RestyleProgress& progress) {
  const std::int64_t blendFirst = w.blendFirst();
  const std::int64_t mfrom = w.measuredSpan.first;
  const PartSpan& p = *w.p;
  SeamReport& report = w.report;
  // A stylizer of its own per seam: what it settles at its first frame (`--precision auto`
  // decides the optimizer's number format there) depends on this seam alone, so a seam
  // restyled by a seam task (join --seam-part) comes out as the whole join restyles it.
  const std::unique_ptr<FrameStylizer> stylizer = makeStylizer(*config.restyle, nullptr);
  SeamFrames frames;
  frames.from = w.restyleSpan.first;
  frames.source = std::move(w.restyleSource);
  frames.earlier.assign(earlier.begin() + (frames.from - pFrom), earlier.end());
  frames.blendFirst = blendFirst;
  frames.later.assign(later.begin(), later.end() - 1);
  frames.weights = schedule.weights;
  frames.hold = config.restyleHold;
  w.restyled = restyleSeam(*stylizer, frames, config.restyle->flow, stylizer->temporalOffsets(),
                           [&](std::int64_t n, int, int) { progress.step("restyled", n); });
  // The handoff: the restyled chain ends near the later part's own chain, not on it (the
  // optimizer repaints every start), and may change more than a settled chain late in the
  // fade. A second fade moves the joined frames from it onto Q's where that lowers the
  // worst pair of the rounded frames, mixing only where the two have come close enough that
  // the mix keeps its contrast.
  std::vector<cv::Mat> chain(earlier.begin() + (mfrom - pFrom), earlier.begin() + (blendFirst - pFrom));
  const std::vector<cv::Mat> earlierFrames(earlier.begin() + (mfrom - pFrom), earlier.end());
  chain.insert(chain.end(), w.restyled.begin(), w.restyled.end());
  std::vector<HandoffPair> pairs;
  const HandoffModel handoff =
      measureHandoff(w.measuredSource, chain, earlierFrames, later, mfrom, blendFirst, p.frames.last, pairs);
  report.settleWithout = 0;
  for (std::size_t i = 0; i < handoff.pairs.size(); ++i) {
    report.settleWithout =
        std::max(report.settleWithout, handoffPairRatio(0, i + 1 < handoff.pairs.size() ? 0 : 1, handoff, i));
  }
  const cv::Mat before = blendFirst > mfrom ? chain[static_cast<std::size_t>(blendFirst - 1 - mfrom)] : cv::Mat();
  SettledHandoff settled = settleHandoff(handoff, pairs, w.restyled, later, before, later[w.restyled.size()]);
  report.settleExpected = settled.worst;
  report.settleFirst = settled.firstWorst;
  report.settleSteady = settled.steadyPairs;
  w.restyled = std::move(settled.frames);
  if (config.restylePolish <= 0) return;
  // The polish: the fade's frames optimized once more, from themselves, held on them ever
  // more firmly towards the fade's end.
  PolishFrames polish;
  const std::vector<cv::Mat>& src = w.measuredSource;  // frames mfrom..p.frames.last + 1
  polish.source.push_back(src[static_cast<std::size_t>(std::max<std::int64_t>(0, blendFirst - 1 - mfrom))]);
  polish.source.insert(polish.source.end(), src.begin() + (blendFirst - mfrom),
                       src.begin() + (p.frames.last + 2 - mfrom));
  polish.before = before;
  polish.fade = std::move(w.restyled);
  polish.weights = schedule.weights;
  polish.handoff = settled.weights;
  polish.polish = config.restylePolish;
  polish.after = later[polish.fade.size()];
  polish.lookahead = effectiveLookahead(config);
  w.restyled = polishSeam(*stylizer, polish, config.restyle->flow, [&](int i, bool painted) {
    report.polished += painted ? 1 : 0;
    progress.step("polished", blendFirst + i);
  });
}

// One seam: its fade's weights (a linear ramp, or fitted to the measured model) and, with
// the restyle, its restyled frames (from its seam part, or restyled here).
void processSeam(SeamWork& w, const JoinConfig& config, bool restyle, RestyleProgress& progress) {
  w.report.frame = w.q->record.range.first;
  w.report.width = static_cast<int>(w.width);
  SeamSchedule schedule = linearSchedule(w.report.width, SeamModel{});
  if (w.measured) {
    const PartSpan& p = *w.p;
    const PartSpan& q = *w.q;
    // The parts' frames the model and the restyle need, read once: P's from the first
    // either reaches back to, Q's over the fade and one after.
    const std::int64_t blendFirst = w.blendFirst();
    const std::int64_t mfrom = w.measuredSpan.first, qTo = w.measuredSpan.last;
    const std::int64_t pFrom = w.restyleHere ? std::min(mfrom, w.restyleSpan.first) : mfrom;
    const std::vector<cv::Mat> earlier = readSpan(p.path, p.frames.first, pFrom, p.frames.last);
    const std::vector<cv::Mat> later = readSpan(q.path, q.frames.first, blendFirst, qTo);
    SeamModel model = measureSeamFrames(w.measuredSource,
                                        std::vector<cv::Mat>(earlier.begin() + (mfrom - pFrom), earlier.end()), later,
                                        mfrom, blendFirst, p.frames.last);
    // Restyled frames are one chain: its own change is the parts' (no mix of two).
    if (restyle) model.rho = 1;
    schedule = fittedSchedule(w.report.width, model);
    w.report.measured = true;
    w.report.jump = model.jump;
    w.report.rho = model.rho;
    w.report.expected = schedule.worstRatio;
    w.report.expectedLinear = linearSchedule(w.report.width, model).worstRatio;
    if (restyle && w.seamPart != nullptr) {
      // Restyled by a seam task (join --seam-part): its frames as they are.
      w.restyled = readSpan(w.seamPart->path, w.seamPart->frames.first, blendFirst, p.frames.last);
    } else if (restyle && model.jump == 0) {
      // The parts agree on every fade frame (one chain: the later part's pre-roll reached
      // back to where the earlier part's chain started): those frames are the seam.
      w.restyled.assign(later.begin(), later.end() - 1);
      w.restyleSource.clear();
      progress.done += w.width * (config.restylePolish > 0 ? 2 : 1);
    } else if (restyle) {
      restyleAndPolish(w, config, earlier, pFrom, later, schedule, progress);
    }
  }
  w.weights = schedule.weights;
}

}  // namespace

JoinPlan planJoin(const std::vector<std::string>& parts) {
  if (parts.empty()) throw std::runtime_error("join: no parts given");
  std::vector<PartSpan> spans, seamSpans;
  for (const std::string& path : parts) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      throw std::runtime_error(path + ": part not found (or not a file; image-sequence parts are not supported, "
                               "write parts as .mkv)");
    }
    PartSpan s;
    s.path = path;
    {
      stages::ReaderConfig rc;
      rc.path = path;
      stages::VideoReader reader(rc);
      const stages::VideoInfo& info = reader.info();
      s.record = parsePartRecord(info.tags, path);
      if (!losslessCodec(info.codecName)) {
        throw std::runtime_error(path + ": part is " + info.codecName + " (lossy); join needs lossless parts: "
                                 "write them with --codec ffv1 to .mkv");
      }
      if (info.width != s.record.width || info.height != s.record.height) {
        throw std::runtime_error(path + ": frames are " + std::to_string(info.width) + "x" +
                                 std::to_string(info.height) + " but its record says " +
                                 std::to_string(s.record.width) + "x" + std::to_string(s.record.height));
      }
    }
    const std::int64_t count = stages::countVideoPackets(path);
    if (count <= 0) throw std::runtime_error(path + ": part holds no frames");
    s.frames.first = s.record.firstFrame;
    s.frames.last = s.frames.first + count - 1;
    if (!s.record.range.toEnd() && s.frames.last > s.record.range.last) {
      throw std::runtime_error(path + ": holds " + std::to_string(count) + " frames, more than its range " +
                               toString(FrameRange{s.record.firstFrame, s.record.range.last}) + " allows");
    }
    if (s.record.seam) {
      if (s.frames.last != s.record.range.last) {
        throw std::runtime_error(path + ": seam part holds frames " + toString(s.frames) + " but was made for " +
                                 toString(FrameRange{s.frames.first, s.record.range.last}) +
                                 " (a truncated or damaged seam part: run its join --seam-part again)");
      }
      seamSpans.push_back(std::move(s));
    } else {
      spans.push_back(std::move(s));
    }
  }
  if (spans.empty()) throw std::runtime_error("join: only seam parts given; give the chunk parts too");
  JoinPlan plan = planJoin(std::move(spans));
  const PartSpan& ref = plan.parts.front();
  for (PartSpan& s : seamSpans) {
    const PartRecord& a = ref.record;
    const PartRecord& b = s.record;
    if (a.source.hash != b.source.hash || a.source.bytes != b.source.bytes) {
      throw std::runtime_error(s.path + ": seam part made from another source (" + describeSource(b) + ") than " +
                               ref.path + " (" + describeSource(a) + ")");
    }
    if (a.settingsHash != b.settingsHash || a.width != b.width || a.height != b.height || a.method != b.method) {
      throw std::runtime_error(s.path + ": seam part made with other settings (" + b.settingsHash + ") than " +
                               ref.path + " (" + a.settingsHash + ")");
    }
    plan.seamParts.push_back(std::move(s));
  }
  return plan;
}

JoinPlan planJoin(std::vector<PartSpan> spans) {
  if (spans.empty()) throw std::runtime_error("join: no parts given");
  const PartSpan& ref = spans.front();
  for (const PartSpan& s : spans) {
    const PartRecord& a = ref.record;
    const PartRecord& b = s.record;
    if (a.source.hash != b.source.hash || a.source.bytes != b.source.bytes) {
      throw std::runtime_error(s.path + ": made from another source (" + describeSource(b) + ") than " + ref.path +
                               " (" + describeSource(a) + ")");
    }
    if (a.settingsHash != b.settingsHash || a.width != b.width || a.height != b.height || a.method != b.method) {
      throw std::runtime_error(s.path + ": made with other settings than " + ref.path + " (--method " + b.method +
                               " at " + std::to_string(b.width) + "x" + std::to_string(b.height) + ", settings " +
                               b.settingsHash + " vs --method " + a.method + " at " + std::to_string(a.width) +
                               "x" + std::to_string(a.height) + ", settings " + a.settingsHash +
                               "); every part must come from the same command but --frames/--preroll/--overlap");
    }
  }
  std::stable_sort(spans.begin(), spans.end(), [](const PartSpan& x, const PartSpan& y) {
    return x.frames.first != y.frames.first ? x.frames.first < y.frames.first : x.frames.last < y.frames.last;
  });
  JoinPlan plan;
  std::vector<std::string> missing;
  for (std::size_t i = 1; i < spans.size(); ++i) {
    const PartSpan& p = spans[i - 1];
    const PartSpan& q = spans[i];
    if (p.frames == q.frames) {
      throw std::runtime_error(q.path + ": holds the same frames (" + toString(q.frames) + ") as " + p.path +
                               " (a part given twice, or a duplicated chunk)");
    }
    if (q.frames.last <= p.frames.last) {
      throw std::runtime_error(q.path + ": frames " + toString(q.frames) + " lie inside " + p.path + "'s " +
                               toString(p.frames) + " (a duplicated range)");
    }
    if (q.frames.first == p.frames.first) {
      throw std::runtime_error(p.path + ": frames " + toString(p.frames) + " lie inside " + q.path + "'s " +
                               toString(q.frames) + " (a duplicated range)");
    }
    if (!p.record.range.toEnd() && p.frames.last < p.record.range.last) {
      throw std::runtime_error(p.path + ": holds frames " + toString(p.frames) + " but was made for frames up to " +
                               std::to_string(p.record.range.last) + " and a later part follows (a truncated or "
                               "damaged part: run its chunk again)");
    }
    if (q.frames.first > p.frames.last + 1) {
      missing.push_back(toString(FrameRange{p.frames.last + 1, q.frames.first - 1}) + " (between " + p.path +
                        " and " + q.path + ")");
      continue;
    }
    if (i >= 2 && q.frames.first <= spans[i - 2].frames.last) {
      throw std::runtime_error(q.path + ": frame " + std::to_string(q.frames.first) + " is also in " +
                               spans[i - 2].path + " and " + p.path + "; join blends two parts at a time");
    }
    const std::int64_t ownFirst = q.record.range.first;  // q's own range starts here
    if (p.frames.last >= ownFirst) {
      throw std::runtime_error(p.path + " (frames " + toString(p.frames) + ") and " + q.path + " (frames " +
                               toString(q.frames) + ") overlap in frames " +
                               toString(FrameRange{ownFirst, p.frames.last}) +
                               ", which " + q.path + " holds as its own range, not as overlap frames; "
                               "chunks must not share their --frames ranges (use --overlap to blend a seam)");
    }
  }
  if (!missing.empty()) {
    std::string what = "join: frames missing: ";
    for (std::size_t i = 0; i < missing.size(); ++i) what += (i ? ", " : "") + missing[i];
    throw std::runtime_error(what);
  }
  plan.parts = std::move(spans);
  plan.frames = {plan.parts.front().frames.first, plan.parts.back().frames.last};
  for (std::size_t i = 1; i < plan.parts.size(); ++i) plan.seams.push_back(plan.parts[i].record.range.first);
  return plan;
}

JoinStats runJoin(const JoinConfig& config, const std::function<void(std::int64_t, std::int64_t)>& onFrame,
                  const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  JoinStats stats;
  stats.plan = planJoin(config.parts);
  const JoinPlan& plan = stats.plan;
  const PartRecord& rec = plan.parts.front().record;

  // The source: its timestamps, metadata and audio go to the output.
  std::string source = config.source.empty() ? rec.source.path : config.source;
  std::error_code ec;
  if (config.source.empty() && !fs::exists(source, ec)) {
    throw std::runtime_error(source + ": the parts' source is not there (moved, or another machine's path); "
                             "give it with --source IN");
  }
  const stages::SourceFingerprint fp = stages::fingerprintSource(source);
  if (fp.hash != rec.source.hash || fp.bytes != rec.source.bytes) {
    throw std::runtime_error(source + ": is not the source the parts were made from (" + std::to_string(fp.bytes) +
                             " bytes, hash " + fp.hash + "; the parts record " + describeSource(rec) + ")");
  }
  // --blend auto: the blend measured best for the parts' method.
  std::string why;
  const JoinBlend blend = chooseBlend(config.blend, rec.method, config.restyle.has_value(), !plan.seamParts.empty(), &why);
  stats.blend = blend;
  if (config.blend == JoinBlend::Auto && config.note) config.note(why);
  // --blend restyle: the chunks' own settings, checked against the parts; their stylizer is
  // made when a seam has no seam part.
  const bool restyle = blend == JoinBlend::Restyle;
  if (!restyle && !plan.seamParts.empty()) {
    throw std::runtime_error(plan.seamParts.front().path + ": a seam part (join --seam-part) serves --blend restyle "
                             "only; this join blends with --blend " + toString(blend));
  }
  if (config.seamPart) {
    if (!restyle || !config.restyle) {
      throw std::runtime_error("join --seam-part restyles a seam: the parts were made with --method " + rec.method +
                               " (restyle runs the optimizer: optimize, hybrid parts, with the chunks' options after --)");
    }
    if (plan.parts.size() != 2 || !plan.seamParts.empty()) {
      throw std::runtime_error("join --seam-part: give exactly the two chunk parts of one seam (given " +
                               std::to_string(plan.parts.size()) + " chunk part(s) and " +
                               std::to_string(plan.seamParts.size()) + " seam part(s))");
    }
  }
  if (restyle && config.restyle) {
    const Config& rs = *config.restyle;
    if (rs.method != Method::Optimize && rs.method != Method::Hybrid) {
      throw std::runtime_error("join --blend restyle: the parts were made with --method " + rec.method +
                               "; restyle runs the optimizer (optimize, hybrid): give join the chunks' --method "
                               "and style options, or use --blend fitted");
    }
    const std::string hash = settingsHash(rs, rec.width, rec.height);
    if (hash != rec.settingsHash) {
      throw std::runtime_error(plan.parts.front().path + ": made with other settings (" + rec.settingsHash +
                               ", --method " + rec.method + ") than the options given to join --blend restyle (" +
                               hash + ", --method " + toString(rs.method) +
                               "): give join the chunks' own --method, --style, weight, iteration, --long-term "
                               "and flow options");
    }
  }
  for (const std::vector<PartSpan>* list : {&plan.parts, &plan.seamParts}) {
    for (const PartSpan& p : *list) {
      if (fs::exists(config.writer.path, ec) && fs::equivalent(p.path, config.writer.path, ec)) {
        throw std::runtime_error(config.writer.path + ": the output would overwrite one of the parts");
      }
    }
  }
  // Each seam's fade: its width and weights (and, for --blend fitted, what was measured).
  const std::size_t borders = plan.parts.size() - 1;
  std::vector<std::int64_t> widths(borders);
  for (std::size_t k = 0; k < borders; ++k) {
    widths[k] = std::max<std::int64_t>(0, plan.parts[k].frames.last - plan.parts[k + 1].frames.first + 1);
    if (config.maxOverlap >= 0) widths[k] = std::min<std::int64_t>(widths[k], config.maxOverlap);
  }
  // Seam parts: each must be the fade of one seam of this join, as this join blends it.
  std::vector<const PartSpan*> seamPartOf(borders, nullptr);
  for (const PartSpan& sp : plan.seamParts) {
    const PartRecord& r = sp.record;
    std::size_t k = 0;
    while (k < borders && plan.parts[k].frames.last != r.range.last) ++k;
    const std::string made = "frames " + toString(sp.frames) + ", restyled from the parts holding " +
                             toString(r.seamEarlier) + " and " + toString(r.seamLater);
    if (k == borders) throw std::runtime_error(sp.path + ": seam part (" + made + ") fits no seam of this join");
    const PartSpan& p = plan.parts[k];
    const PartSpan& q = plan.parts[k + 1];
    if (r.seamEarlier != p.frames || r.seamLater != q.frames ||
        widths[k] <= 0 || sp.frames.first != p.frames.last - widths[k] + 1) {
      throw std::runtime_error(sp.path + ": seam part (" + made + ") does not fit the seam at frame " +
                               std::to_string(q.record.range.first) + ", which this join blends over frames " +
                               (widths[k] > 0 ? toString(FrameRange{p.frames.last - widths[k] + 1, p.frames.last})
                                              : std::string("none")) +
                               " of " + p.path + " (" + toString(p.frames) + ") and " + q.path + " (" +
                               toString(q.frames) + "); make it from the same parts with the same --overlap");
    }
    const std::pair<const char*, std::pair<double, double>> knobs[] = {
        {"--restyle-hold", {r.restyleHold, config.restyleHold}},
        {"--restyle-polish", {r.restylePolish, config.restylePolish}},
        {"--restyle-lookahead", {r.restyleLookahead, effectiveLookahead(config)}}};
    for (const auto& [option, values] : knobs) {
      if (values.first != values.second) {
        throw std::runtime_error(sp.path + ": seam part restyled with " + option + " " + holdText(values.first) +
                                 "; this join restyles with " + holdText(values.second) + ": give join the seam parts' " +
                                 option + ", or make the seam part again");
      }
    }
    if (seamPartOf[k] != nullptr) {
      throw std::runtime_error(sp.path + ": a second seam part for the seam at frame " +
                               std::to_string(q.record.range.first) + " (the first is " + seamPartOf[k]->path + ")");
    }
    seamPartOf[k] = &sp;
  }
  if (restyle && !config.restyle) {
    for (std::size_t k = 0; k < borders; ++k) {
      if (widths[k] > 0 && seamPartOf[k] == nullptr) {
        throw std::runtime_error("join --blend restyle: the seam at frame " +
                                 std::to_string(plan.parts[k + 1].record.range.first) +
                                 " has no seam part (join --seam-part) and no chunk options were given after -- "
                                 "to restyle it");
      }
    }
  }
  if (config.seamPart && widths[0] <= 0) {
    throw std::runtime_error("join --seam-part: " + plan.parts[0].path + " and " + plan.parts[1].path +
                             " share no overlap frames to restyle (make the chunks with --overlap)");
  }
  // The output: the joined video, or (--seam-part) the one seam's fade frames as a seam part.
  stages::ReaderConfig rc;
  rc.path = source;
  rc.selection.first = config.seamPart ? plan.parts[0].frames.last - widths[0] + 1 : plan.frames.first;
  // One more than the join's last: does the source go on?
  rc.selection.last = config.seamPart ? plan.parts[0].frames.last : plan.frames.last + 1;
  stages::VideoReader sourceReader(rc);
  stages::WriterConfig writerConfig = config.writer;
  if (config.seamPart) {
    PartRecord seamRecord = plan.parts[1].record;
    seamRecord.seam = true;
    seamRecord.seamEarlier = plan.parts[0].frames;
    seamRecord.seamLater = plan.parts[1].frames;
    seamRecord.firstFrame = rc.selection.first;
    seamRecord.range = {rc.selection.first, plan.parts[0].frames.last};
    seamRecord.restyleHold = config.restyleHold;
    seamRecord.restylePolish = config.restylePolish;
    seamRecord.restyleLookahead = effectiveLookahead(config);
    writerConfig.tags = partTags(seamRecord);
  }
  stages::VideoWriter writer(writerConfig, sourceReader.info(), config.note);

  // Every border's work: which source frames its model (fitted, restyle) needs, and, per seam
  // restyled here, the frames its temporal term reaches back to. The source is read once for
  // all of them.
  const bool fitted = blend == JoinBlend::Fitted || restyle;
  const int reach = config.restyle ? std::max(1, temporalReach(*config.restyle)) : 0;
  std::vector<SeamWork> seams(borders);
  for (std::size_t k = 0; k < borders; ++k) {
    SeamWork& w = seams[k];
    w.p = &plan.parts[k];
    w.q = &plan.parts[k + 1];
    w.width = widths[k];
    w.seamPart = seamPartOf[k];
    w.measured = fitted && w.width > 0;
    w.restyleHere = restyle && w.width > 0 && w.seamPart == nullptr;
    if (w.measured) w.measuredSpan = seamFrames(*w.p, w.blendFirst());
    if (w.restyleHere) w.restyleSpan = {std::max(w.p->frames.first, w.blendFirst() - reach), w.p->frames.last};
  }
  {
    std::vector<FrameRange> spans;
    for (const SeamWork& w : seams)
      if (w.measured) spans.push_back(w.measuredSpan);
    for (const SeamWork& w : seams)
      if (w.restyleHere) spans.push_back(w.restyleSpan);
    std::vector<std::vector<cv::Mat>> frames = readSourceSpans(source, spans, cv::Size(rec.width, rec.height));
    std::size_t i = 0;
    for (SeamWork& w : seams)
      if (w.measured) w.measuredSource = std::move(frames[i++]);
    for (SeamWork& w : seams)
      if (w.restyleHere) w.restyleSource = std::move(frames[i++]);
  }
  RestyleProgress progress;
  progress.config = &config;
  progress.cancel = cancel;
  for (const SeamWork& w : seams) progress.total += w.restyleHere ? w.width * (config.restylePolish > 0 ? 2 : 1) : 0;
  for (SeamWork& w : seams) {
    processSeam(w, config, restyle, progress);
    w.measuredSource.clear();
    w.restyleSource.clear();
    if (w.width > 0) stats.seams.push_back(w.report);
  }
  if (config.seamPart) {
    // The seam part: the fade's frames with the source's timestamps.
    for (const cv::Mat& pixels : seams[0].restyled) {
      std::optional<stages::Frame> src = sourceReader.next();
      if (!src) throw std::runtime_error(source + ": ended inside the seam's frames");
      stages::Frame out = *src;
      out.rgb = pixels;
      writer.write(out);
      ++stats.frames;
      ++stats.blended;
    }
    writer.finish();
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
  }
  const std::int64_t total = plan.frames.count();
  std::size_t current = 0;  // the part whose frames are read now
  std::vector<std::unique_ptr<stages::VideoReader>> readers(plan.parts.size());
  std::vector<std::int64_t> nextFrame(plan.parts.size());  // the source frame each reader gives next
  for (std::size_t k = 0; k < plan.parts.size(); ++k) nextFrame[k] = plan.parts[k].frames.first;
  // Part k's frame n (n at or after what it gave last: parts are read once, in order).
  auto frameOf = [&](std::size_t k, std::int64_t n) -> cv::Mat {
    if (!readers[k]) {
      stages::ReaderConfig prc;
      prc.path = plan.parts[k].path;
      readers[k] = std::make_unique<stages::VideoReader>(prc);
    }
    for (;;) {
      std::optional<stages::Frame> f = readers[k]->next();
      if (!f) throw std::runtime_error(plan.parts[k].path + ": ended early (damaged part?)");
      if (nextFrame[k]++ == n) return f->rgb;
    }
  };
  for (std::int64_t n = plan.frames.first; n <= plan.frames.last; ++n) {
    if (cancel != nullptr && cancel->load()) throw Cancelled();
    std::optional<stages::Frame> src = sourceReader.next();
    if (!src) {
      throw std::runtime_error(source + ": has no frame " + std::to_string(n) + " (the parts go to frame " +
                               std::to_string(plan.frames.last) + ")");
    }
    while (plan.parts[current].frames.last < n) {
      readers[current].reset();
      ++current;
    }
    const PartSpan& p = plan.parts[current];
    cv::Mat pixels = frameOf(current, n);
    if (current + 1 < plan.parts.size()) {
      // The overlap: frames q.frames.first..p.frames.last, of which the last `width` are blended.
      const std::vector<double>& fade = seams[current].weights;
      const std::int64_t width = static_cast<std::int64_t>(fade.size());
      const std::int64_t blendFirst = p.frames.last - width + 1;
      if (width > 0 && n >= blendFirst) {
        cv::Mat next = frameOf(current + 1, n);
        const double w = fade[static_cast<std::size_t>(n - blendFirst)];
        pixels = restyle ? seams[current].restyled[static_cast<std::size_t>(n - blendFirst)]
                         : blendFrames(pixels, next, w);
        ++stats.blended;
      }
    }
    stages::Frame out = *src;
    out.rgb = pixels;
    writer.write(out);
    ++stats.frames;
    if (onFrame) onFrame(stats.frames, total);
  }
  // The last part ends at its range's end or at the source's: anything else is a part cut short.
  const PartSpan& tail = plan.parts.back();
  if (tail.record.range.toEnd() || tail.record.range.last > plan.frames.last) {
    if (sourceReader.next()) {
      throw std::runtime_error(tail.path + ": ends at frame " + std::to_string(plan.frames.last) + " but " + source +
                               " goes on and the part was made for frames up to " +
                               (tail.record.range.toEnd() ? std::string("the end")
                                                          : std::to_string(tail.record.range.last)) +
                               " (a truncated or damaged part: run its chunk again)");
    }
  }
  writer.finish();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace flowstyle::pipeline
