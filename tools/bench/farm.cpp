// flowstyle-bench farm: chunks joined vs one uninterrupted run (seam warping error, mean
// warping error, style loss, pre-roll cost) for the fast and optimize methods on chaplin,
// and the cost of keeping resume state.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/loss_network.hpp"
#include "models/style_transfer.hpp"
#include "pipeline/jobs.hpp"
#include "stages/video_reader.hpp"
#include "tools/bench/harness.hpp"

namespace fs = std::filesystem;

namespace flowstyle::bench {
namespace {

std::map<std::string, std::string> keyValues(const std::vector<std::string>& a) {
  std::map<std::string, std::string> kv;
  for (const std::string& s : a) {
    const auto eq = s.find('=');
    if (eq != std::string::npos) kv[s.substr(0, eq)] = s.substr(eq + 1);
  }
  return kv;
}

std::vector<cv::Mat> readVideo(const std::string& path) {
  stages::ReaderConfig rc;
  rc.path = path;
  stages::VideoReader reader(rc);
  std::vector<cv::Mat> frames;
  while (auto f = reader.next()) frames.push_back(f->rgb);
  return frames;
}

// "a-b,c-d" (frame spans, both ends included) as pairs.
std::vector<std::pair<std::size_t, std::size_t>> frameSpans(const std::string& list) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const std::string& r : splitComma(list)) {
    const auto dash = r.find('-');
    spans.emplace_back(std::stoul(r.substr(0, dash)), std::stoul(r.substr(dash + 1)));
  }
  return spans;
}

// _farm_eval original=... stylized=... reference=... seams=a,b [own=a-b,...]: warping error of
// the joined video against the uninterrupted one, per seam pair, on the chunks' own frames, and
// overall.
int childEval(const std::vector<std::string>& a) {
  auto kv = keyValues(a);
  stages::FlowConfig flow;
  const stages::WarpingErrorReport joined = pipeline::runEval(kv["original"], kv["stylized"], flow);
  const stages::WarpingErrorReport ref = pipeline::runEval(kv["original"], kv["reference"], flow);
  double worst = 0, sum = 0;
  int n = 0;
  // Every pair the border touches: from the last pure frame of the earlier part (seam - O - 1)
  // to the first own frame of the later part (seam).
  const int window = std::stoi(kv.count("overlap") ? kv["overlap"] : "0");
  for (const std::string& s : splitComma(kv["seams"])) {
    const int seam = std::stoi(s);
    for (int f = seam - window; f <= seam; ++f) {
      const std::size_t pair = static_cast<std::size_t>(f - 1);
      if (f < 1 || pair >= joined.pairs.size()) continue;
      const double r = joined.pairs[pair].stylized / std::max(1e-12, ref.pairs[pair].stylized);
      worst = std::max(worst, r);
      sum += r;
      ++n;
    }
  }
  // own=a-b,...: the later chunks' own frames (no blend touches them). Their pairs against the
  // uninterrupted run's are what an equally valid chain started elsewhere does: the method's own
  // spread, to read the seam ratios against (README, Farm).
  std::vector<double> own;
  for (const auto& [a, b] : frameSpans(kv.count("own") ? kv["own"] : "")) {
    // The pairs (f - 1, f) with both frames inside the span.
    for (std::size_t pair = a; pair < b && pair < joined.pairs.size(); ++pair)
      own.push_back(joined.pairs[pair].stylized / std::max(1e-12, ref.pairs[pair].stylized));
  }
  std::sort(own.begin(), own.end());
  emit("own_pairs", static_cast<double>(own.size()));
  emit("own_ratio_p90", own.empty() ? 0 : own[own.size() * 9 / 10]);
  emit("own_ratio_worst", own.empty() ? 0 : own.back());
  std::vector<double> all;
  for (const auto& p : ref.pairs) all.push_back(p.stylized);
  emit("seam_ratio_worst", worst);
  emit("seam_ratio_mean", n ? sum / n : 0);
  emit("mean_joined", joined.meanStylized);
  emit("mean_reference", ref.meanStylized);
  emit("mean_ratio", joined.meanStylized / std::max(1e-12, ref.meanStylized));
  emit("median_reference_pair", median(all));
  return 0;
}

// _farm_loss original=... video=... style=IMAGE|frames every=N: mean normalized style loss
// of every N-th frame (VGG19, default layers). style=frames: the style target is the
// video's own frames 0, N, 2N... (for networks without a style image).
int childLoss(const std::vector<std::string>& a) {
  auto kv = keyValues(a);
  const int every = std::max(1, std::stoi(kv.count("every") ? kv["every"] : "3"));
  const std::vector<cv::Mat> orig = readVideo(kv["original"]);
  const std::vector<cv::Mat> video = readVideo(kv["video"]);
  std::vector<cv::Mat> styles;
  if (kv["style"] == "frames") {
    const std::vector<cv::Mat> target = readVideo(kv["target"]);
    for (std::size_t i = 0; i < target.size(); i += static_cast<std::size_t>(4 * every)) styles.push_back(target[i]);
  } else {
    cv::Mat bgr = cv::imread(kv["style"]);
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    styles.push_back(rgb);
  }
  models::OptimizeConfig oc;
  oc.device = "cpu";
  models::StyleOptimizer opt(models::loadLossNetwork(vggPath()), oc, styles);
  // frames=a-b,c-d: only those frames (e.g. the blended ones), every N-th within them.
  std::vector<std::pair<std::size_t, std::size_t>> spans = frameSpans(kv.count("frames") ? kv["frames"] : "");
  if (spans.empty()) spans.emplace_back(0, video.size());
  double style = 0, content = 0;
  int n = 0;
  std::vector<std::size_t> picked;
  for (const auto& [a, b] : spans)
    for (std::size_t i = a; i <= b && i < video.size() && i < orig.size(); i += static_cast<std::size_t>(every))
      picked.push_back(i);
  for (std::size_t i : picked) {
    const models::LossTerms t = opt.evaluate(orig[i], video[i]);
    style += t.style;
    content += t.content;
    ++n;
  }
  emit("style_loss", n ? style / n : 0);
  emit("content_loss", n ? content / n : 0);
  return 0;
}

struct MethodCase {
  std::string name;
  std::string clipName;  // chaplin | gif | pan | chaplin240 (chaplin, more frames)
  std::vector<std::string> args;  // method options
  int maxSide;
  int frames;  // chaplin frames 0..frames-1, three chunks
  struct Config {
    int preroll, overlap;  // the chunks' --preroll and --overlap
    std::string blend;
    int joinOverlap = -1;  // join --overlap (frames blended per seam); -1: all `overlap`
  };
  std::vector<Config> configs;
  std::string styleForLoss;                  // image, or "frames"
  bool onlyWhenNamed = false;                // a long case: runs only when --clips names its clip
};

// Joined / uninterrupted mean style loss, from two _farm_loss children.
double styleRatio(const ChildResult& joined, const ChildResult& reference) {
  return joined.get("style_loss") / reference.get("style_loss");
}

void benchFarm() {
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  const std::string threads = std::to_string(gOpt.threads);
  printHeader("farm: 3 chunks joined vs one uninterrupted run (load " + loadAvg() + ")");
  std::printf("  K, O = the chunks' --preroll and --overlap; join = frames blended per seam (join --overlap);\n"
              "  seam ratio = warping error of a pair the border touches (every pair of the blended frames and\n"
              "  the one into the later part's own range) / the same pair in the uninterrupted run; mean ratio =\n"
              "  joined video's mean warping error / the uninterrupted run's; style ratio = mean style loss\n"
              "  (VGG19, every frame) joined / uninterrupted; style blend = the same over the blended frames\n"
              "  only; style own = the same over the frames no blend touches (the chunks' own chains against\n"
              "  the uninterrupted one's); own p90 / own worst = the pair ratios (as seam ratio) on the later\n"
              "  chunks' own frames, which no blend touches: what an equally valid chain started elsewhere does,\n"
              "  the method's own spread to read the seam ratios against; pre-roll cost = extra stylized frames /\n"
              "  written frames; chunk s = summed wall time of the chunk tasks run for the row (0: parts reused).\n");
  // Optimize: one set of parts with a long pre-roll and overlap (K = O = L) serves every
  // shorter overlap through join --overlap, so the blend width is measured on the same chains.
  // (variance was worse than ramp on every count: README.) Restyle re-stylizes the blended
  // frames at join time. Chaplin: K0 and K8 without overlap miss by 100x (README); the rows
  // here are the overlap blends at K = O = 16 and 28.
  auto optimizeConfigs = [](int longest, std::vector<int> overlaps) {
    std::vector<MethodCase::Config> c = {{0, 0, "ramp"}};
    for (int o : overlaps)
      for (const char* blend : {"ramp", "fitted", "restyle"}) c.push_back({longest, longest, blend, o});
    return c;
  };
  std::vector<MethodCase> cases = {
      {"fast", "chaplin", {"--method", "fast", "--model", "wave"}, 320, 90,
       {{0, 0, "ramp"}, {4, 0, "ramp"}, {8, 0, "ramp"}, {8, 4, "ramp"}, {8, 4, "fitted"}, {16, 8, "ramp"}}, "frames"},
      {"fast", "gif", {"--method", "fast", "--model", "wave"}, 320, 30, {{0, 0, "ramp"}, {8, 0, "ramp"}, {8, 4, "ramp"}},
       "frames"},
      {"fast", "pan", {"--method", "fast", "--model", "wave"}, 320, 90,
       {{0, 0, "ramp"}, {8, 0, "ramp"}, {8, 4, "ramp"}, {8, 4, "fitted"}},
       "frames"},
      {"optimize", "chaplin", {"--method", "optimize", "--style", stylePath("starry_night.jpg")}, 160, 90,
       {{16, 16, "ramp", 16}, {16, 16, "fitted", 16}, {16, 16, "restyle", 16}, {16, 16, "restyle", 8},
        {28, 28, "fitted", 28}, {28, 28, "restyle", 28}, {40, 28, "fitted", 28}, {40, 28, "restyle", 28}},
       stylePath("starry_night.jpg")},
      {"optimize", "gif", {"--method", "optimize", "--style", stylePath("starry_night.jpg")}, 160, 30,
       optimizeConfigs(9, {4, 9}), stylePath("starry_night.jpg")},
      {"optimize", "pan", {"--method", "optimize", "--style", stylePath("starry_night.jpg")}, 160, 90,
       [&] {
         // K24/O24: a fade long enough for the pan's parts (87x their own pair error apart).
         std::vector<MethodCase::Config> c = optimizeConfigs(16, {8, 16});
         c.push_back({24, 24, "fitted", 24});
         c.push_back({24, 24, "restyle", 24});
         return c;
       }(),
       stylePath("starry_night.jpg")},
      // Chaplin 0-239 in chunks of 80 at K60: whether a pre-roll longer than the bench's 28
      // brings two optimize chains together on a static camera (README, Farm). About 25 min of
      // stylizing on 2 cores: run only when named (--clips chaplin240).
      {"optimize", "chaplin240", {"--method", "optimize", "--style", stylePath("starry_night.jpg")}, 160, 240,
       {{60, 60, "restyle", 28}}, stylePath("starry_night.jpg"), true},
  };
  {  // --nets fast,optimize selects methods here, --clips chaplin,gif,pan,chaplin240 the clips
    auto chosen = [](const std::vector<std::string>& list, const std::string& name) {
      return list.empty() || std::find(list.begin(), list.end(), name) != list.end();
    };
    std::vector<MethodCase> keep;
    for (MethodCase c : cases) {
      if (!chosen(gOpt.nets, c.name) || !chosen(gOpt.clips, c.clipName)) continue;
      if (c.onlyWhenNamed && gOpt.clips.empty()) continue;
      if (!gOpt.prerolls.empty()) {  // --prerolls 28,40: those rows only
        std::vector<MethodCase::Config> rows;
        for (const MethodCase::Config& r : c.configs)
          if (std::find(gOpt.prerolls.begin(), gOpt.prerolls.end(), r.preroll) != gOpt.prerolls.end()) rows.push_back(r);
        c.configs = rows;
      }
      keep.push_back(c);
    }
    cases = keep;
  }
  // A synthetic pan: a 320x180 window sliding across tubingen (every pixel moves, known motion).
  const std::string pan = gTmp + "/farm-pan.mp4";
  if (!fs::exists(pan)) {
    ChildResult p = runChild({"/usr/bin/env", "ffmpeg", "-nostdin", "-v", "error", "-y", "-loop", "1", "-i",
                              sharedPath("media/stills/tubingen.jpg"), "-vf",
                              "scale=1024:-2,crop=320:180:x='t*80':y=120", "-t", "4", "-r", "25", "-c:v", "libx264",
                              "-pix_fmt", "yuv420p", pan});
    if (!p.ok()) reportFailure("farm pan clip", p);
  }
  for (const MethodCase& m : cases) {
    const std::string clip = m.clipName == "gif"   ? sharedPath("media/clips/pigs_in_a_polka.gif")
                             : m.clipName == "pan" ? pan
                                                   : chaplinPath();
    const std::string dir = gTmp + "/farm-" + m.name + "-" + m.clipName;
    if (gOpt.work.empty()) fs::remove_all(dir);  // --work DIR: reuse the runs DIR holds
    fs::create_directories(dir);
    std::vector<std::string> common = {"--max-side", std::to_string(m.maxSide), "--threads", threads, "--progress",
                                       "none"};
    common.insert(common.end(), m.args.begin(), m.args.end());
    auto video = [&](const std::string& frames, const std::string& out, std::vector<std::string> extra) {
      std::vector<std::string> argv = {cli, "video", clip, "--frames", frames, "-o", out};
      argv.insert(argv.end(), common.begin(), common.end());
      argv.insert(argv.end(), extra.begin(), extra.end());
      return runChild(argv);
    };
    const std::string all = "0-" + std::to_string(m.frames - 1);
    const std::string orig = dir + "/orig.mkv", ref = dir + "/ref.mkv";
    ChildResult o, r;
    o.exitCode = r.exitCode = 0;
    if (!fs::exists(orig))
      o = runChild({cli, "video", clip, "--frames", all, "--method", "copy", "--max-side", std::to_string(m.maxSide),
                    "--codec", "ffv1", "-o", orig, "--progress", "none"});
    if (!fs::exists(ref)) r = video(all, ref, {"--codec", "ffv1"});
    if (!o.ok() || !r.ok()) {
      reportFailure("farm " + m.name + " uninterrupted", o.ok() ? r : o);
      continue;
    }
    ChildResult refLoss = runSelf({"_farm_loss", "original=" + orig, "video=" + ref, "style=" + m.styleForLoss,
                                   "target=" + ref, "every=1"});
    std::printf("\n  %s on %s, %d frames at %d px: uninterrupted %.1f s (%.2f s/frame; 0: reused), style loss %.5f\n",
                m.name.c_str(), m.clipName.c_str(), m.frames, m.maxSide, r.wall, r.wall / m.frames,
                refLoss.get("style_loss"));
    std::printf("  %4s %4s %4s %9s %9s %10s %10s %10s %11s %11s %9s %8s %9s %9s %8s\n", "K", "O", "join", "blend",
                "pre-roll", "seam mean", "seam worst", "mean ratio", "style ratio", "style blend", "style own", "own p90",
                "own worst", "chunk s", "join s");
    const int len = m.frames / 3;
    for (const MethodCase::Config& cfg : m.configs) {
      const int k = cfg.preroll, ov = cfg.overlap;
      const int jo = cfg.joinOverlap < 0 ? ov : std::min(ov, cfg.joinOverlap);  // frames blended per seam
      std::vector<std::string> parts;
      double chunkWall = 0;
      bool ok = true;
      for (int i = 0; i < 3 && ok; ++i) {
        const int a = i * len, b = i == 2 ? m.frames - 1 : a + len - 1;
        // The first chunk starts at frame 0: its pre-roll and overlap are empty, one part serves all.
        const std::string part = dir + "/p" + std::to_string(i) +
                                 (i == 0 ? std::string() : "_K" + std::to_string(k) + "_O" + std::to_string(ov)) + ".mkv";
        parts.push_back(part);
        if (fs::exists(part)) continue;
        ChildResult c = video(std::to_string(a) + "-" + std::to_string(b), part,
                              {"--preroll", std::to_string(k), "--overlap", std::to_string(ov)});
        ok = c.ok();
        if (!ok) reportFailure("farm chunk", c);
        chunkWall += c.wall;
      }
      if (!ok) continue;
      const std::string joined = dir + "/joined_K" + std::to_string(k) + "_O" + std::to_string(ov) + "_J" +
                                 std::to_string(jo) + "_" + cfg.blend + ".mkv";
      std::vector<std::string> join = {cli, "join"};
      join.insert(join.end(), parts.begin(), parts.end());
      join.insert(join.end(), {"-o", joined, "--codec", "ffv1", "--progress", "none", "--blend", cfg.blend,
                               "--overlap", std::to_string(jo)});
      if (cfg.blend == "restyle") {  // the chunks' own options
        join.push_back("--");
        join.insert(join.end(), common.begin(), common.end());
      }
      fs::remove(joined);
      ChildResult j = runChild(join);
      if (!j.ok()) {
        reportFailure("farm join", j);
        continue;
      }
      // The frames no blend touches (each chunk's own, before its fade): how far the chunks'
      // chains are from the uninterrupted run's before any join (README, Farm). The first
      // chunk's is the uninterrupted run's own chain; the later ones' pairs are the spread.
      std::string own, ownLater;
      for (int i = 0; i < 3; ++i) {
        const int a = i * len, b = i == 2 ? m.frames - 1 : a + len - 1 - jo;
        if (b < a) continue;
        const std::string span = std::to_string(a) + "-" + std::to_string(b);
        own += (own.empty() ? "" : ",") + span;
        if (i > 0) ownLater += (ownLater.empty() ? "" : ",") + span;
      }
      ChildResult e = runSelf({"_farm_eval", "original=" + orig, "stylized=" + joined, "reference=" + ref,
                               "seams=" + std::to_string(len) + "," + std::to_string(2 * len),
                               "overlap=" + std::to_string(jo), "own=" + ownLater});
      ChildResult l = runSelf({"_farm_loss", "original=" + orig, "video=" + joined, "style=" + m.styleForLoss,
                               "target=" + ref, "every=1"});
      // The style ratio of some frames alone (e.g. "28-29,58-59"), joined against uninterrupted.
      auto framesStyleRatio = [&](const std::string& frames) {
        auto loss = [&](const std::string& video) {
          return runSelf({"_farm_loss", "original=" + orig, "video=" + video, "style=" + m.styleForLoss,
                          "target=" + ref, "every=1", "frames=" + frames});
        };
        return styleRatio(loss(joined), loss(ref));
      };
      const double allStyleRatio = styleRatio(l, refLoss);
      // The blended frames alone: what a blend costs per overlap frame, whatever the chunk length.
      double blendStyleRatio = 1;
      if (jo > 0) {
        blendStyleRatio = framesStyleRatio(std::to_string(len - jo) + "-" + std::to_string(len - 1) + "," +
                                           std::to_string(2 * len - jo) + "-" + std::to_string(2 * len - 1));
      }
      double ownStyleRatio = allStyleRatio;
      if (jo > 0 && !own.empty()) ownStyleRatio = framesStyleRatio(own);
      const double prerollCost = static_cast<double>(2 * k) / m.frames;  // chunks 1 and 2 pay K each
      std::printf("  %4d %4d %4d %9s %8.1f%% %10.3f %10.3f %10.3f %11.3f %11.3f %9.3f %8.3f %9.3f %9.1f %8.1f\n", k,
                  ov, jo, cfg.blend.c_str(), 100 * prerollCost, e.get("seam_ratio_mean"), e.get("seam_ratio_worst"),
                  e.get("mean_ratio"), allStyleRatio, blendStyleRatio, ownStyleRatio, e.get("own_ratio_p90"),
                  e.get("own_ratio_worst"), chunkWall, j.wall);
      JsonLine("farm").add("method", m.name).add("clip", m.clipName).add("preroll", k).add("overlap", ov)
          .add("join_overlap", jo).add("blend", cfg.blend).add("frames", m.frames)
          .add("max_side", m.maxSide).add("preroll_cost", prerollCost).add("seam_ratio_mean", e.get("seam_ratio_mean"))
          .add("seam_ratio_worst", e.get("seam_ratio_worst")).add("mean_ratio", e.get("mean_ratio"))
          .add("style_ratio", allStyleRatio).add("blend_style_ratio", blendStyleRatio).add("own_style_ratio", ownStyleRatio)
          .add("own_pair_ratio_p90", e.get("own_ratio_p90")).add("own_pair_ratio_worst", e.get("own_ratio_worst"))
          .add("chunk_wall_s", chunkWall).add("join_wall_s", j.wall)
          .add("uninterrupted_wall_s", r.wall).add("load", loadAvg()).print();
    }
  }

  // Resume state: the same fast run with and without --resume.
  const std::string dir = gTmp + "/farm-resume";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf("\n  resume state, fast wave, chaplin 0-89 at 320 px (MP4 out):\n");
  double wall[2] = {0, 0};
  for (int resume = 0; resume < 2; ++resume) {
    std::vector<std::string> argv = {cli, "video", chaplinPath(), "--frames", "0-89", "--method", "fast", "--model", "wave",
                                     "--max-side", "320", "--threads", threads, "--progress", "none",
                                     "-o", dir + "/out" + std::to_string(resume) + ".mp4"};
    if (resume) argv.push_back("--resume");
    ChildResult c = runChild(argv);
    if (!c.ok()) reportFailure("farm resume", c);
    wall[resume] = c.wall;
  }
  const double perFrameMs = 1000 * (wall[1] - wall[0]) / 90;
  std::printf("  without --resume %.2f s, with %.2f s: %.1f ms per frame for the state (PNG + float carry, fsync)\n",
              wall[0], wall[1], perFrameMs);
  JsonLine("farm_resume").add("wall_s", wall[0]).add("wall_resume_s", wall[1]).add("state_ms_per_frame", perFrameMs)
      .add("load", loadAvg()).print();
}

}  // namespace

Benchmark farmBenchmark() {
  return {"farm", "chunks + join vs one run (seams, pre-roll cost), resume-state cost; --nets fast,optimize, --clips chaplin,gif,pan,chaplin240 (the last only when named), --prerolls K,...", false,
          benchFarm, {{"_farm_eval", childEval}, {"_farm_loss", childLoss}}};
}

}  // namespace flowstyle::bench
