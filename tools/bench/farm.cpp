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

// _farm_eval original=... stylized=... reference=... seams=a,b: warping error of the joined
// video against the uninterrupted one, per seam pair and overall.
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
  double style = 0, content = 0;
  int n = 0;
  for (std::size_t i = 0; i < video.size() && i < orig.size(); i += static_cast<std::size_t>(every)) {
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
  std::vector<std::string> args;  // method options
  int maxSide;
  int frames;  // chaplin frames 0..frames-1, three chunks
  struct Config {
    int preroll, overlap;
    std::string blend;
  };
  std::vector<Config> configs;
  std::string styleForLoss;                  // image, or "frames"
};

void benchFarm() {
  const std::string cli = (fs::path(gSelf).parent_path() / "flowstyle").string();
  const std::string clip = chaplinPath();
  const std::string threads = std::to_string(gOpt.threads);
  printHeader("farm: 3 chunks joined vs one uninterrupted run, chaplin (load " + loadAvg() + ")");
  std::printf("  seam ratio = warping error of the pair across a border / the same pair in the uninterrupted\n"
              "  run; mean ratio = joined video's mean warping error / the uninterrupted run's; style ratio =\n"
              "  mean style loss (VGG19, every 3rd frame) joined / uninterrupted; pre-roll cost = extra\n"
              "  stylized frames / written frames; chunk s = summed wall time of the three chunk tasks.\n");
  std::vector<MethodCase> cases = {
      {"fast", {"--method", "fast", "--model", "wave"}, 320, 90,
       {{0, 0, "ramp"}, {4, 0, "ramp"}, {8, 0, "ramp"}, {8, 4, "ramp"}, {16, 8, "ramp"}}, "frames"},
      {"optimize", {"--method", "optimize", "--style", stylePath("starry_night.jpg")}, 160, 60,
       {{0, 0, "ramp"}, {8, 4, "ramp"}, {16, 16, "ramp"}, {16, 16, "variance"}}, stylePath("starry_night.jpg")},
  };
  if (!gOpt.nets.empty()) {  // --nets fast,optimize selects methods here
    std::vector<MethodCase> keep;
    for (const MethodCase& c : cases)
      if (std::find(gOpt.nets.begin(), gOpt.nets.end(), c.name) != gOpt.nets.end()) keep.push_back(c);
    cases = keep;
  }
  for (const MethodCase& m : cases) {
    const std::string dir = gTmp + "/farm-" + m.name;
    fs::remove_all(dir);
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
    ChildResult o = runChild({cli, "video", clip, "--frames", all, "--method", "copy", "--max-side",
                              std::to_string(m.maxSide), "--codec", "ffv1", "-o", orig, "--progress", "none"});
    ChildResult r = video(all, ref, {"--codec", "ffv1"});
    if (!o.ok() || !r.ok()) {
      reportFailure("farm " + m.name + " uninterrupted", o.ok() ? r : o);
      continue;
    }
    ChildResult refLoss = runSelf({"_farm_loss", "original=" + orig, "video=" + ref, "style=" + m.styleForLoss,
                                   "target=" + ref});
    std::printf("\n  %s, %d frames at %d px: uninterrupted %.1f s (%.2f s/frame), style loss %.5f\n", m.name.c_str(),
                m.frames, m.maxSide, r.wall, r.wall / m.frames, refLoss.get("style_loss"));
    std::printf("  %4s %4s %9s %12s %11s %11s %11s %11s %9s\n", "K", "O", "blend", "pre-roll", "seam mean",
                "seam worst", "mean ratio", "style ratio", "chunk s");
    const int len = m.frames / 3;
    for (const MethodCase::Config& cfg : m.configs) {
      const int k = cfg.preroll, ov = cfg.overlap;
      std::vector<std::string> parts;
      double chunkWall = 0;
      bool ok = true;
      for (int i = 0; i < 3 && ok; ++i) {
        const int a = i * len, b = i == 2 ? m.frames - 1 : a + len - 1;
        const std::string part = dir + "/p" + std::to_string(i) + "_K" + std::to_string(k) + "_O" + std::to_string(ov) + ".mkv";
        parts.push_back(part);
        if (fs::exists(part)) continue;
        ChildResult c = video(std::to_string(a) + "-" + std::to_string(b), part,
                              {"--preroll", std::to_string(k), "--overlap", std::to_string(ov)});
        ok = c.ok();
        if (!ok) reportFailure("farm chunk", c);
        chunkWall += c.wall;
      }
      if (!ok) continue;
      const std::string joined =
          dir + "/joined_K" + std::to_string(k) + "_O" + std::to_string(ov) + "_" + cfg.blend + ".mkv";
      std::vector<std::string> join = {cli, "join"};
      join.insert(join.end(), parts.begin(), parts.end());
      join.insert(join.end(), {"-o", joined, "--codec", "ffv1", "--progress", "none", "--blend", cfg.blend});
      ChildResult j = runChild(join);
      if (!j.ok()) {
        reportFailure("farm join", j);
        continue;
      }
      ChildResult e = runSelf({"_farm_eval", "original=" + orig, "stylized=" + joined, "reference=" + ref,
                               "seams=" + std::to_string(len) + "," + std::to_string(2 * len),
                               "overlap=" + std::to_string(ov)});
      ChildResult l = runSelf({"_farm_loss", "original=" + orig, "video=" + joined, "style=" + m.styleForLoss,
                               "target=" + ref});
      const double prerollCost = static_cast<double>(2 * k) / m.frames;  // chunks 1 and 2 pay K each
      const double styleRatio = l.get("style_loss") / refLoss.get("style_loss");
      std::printf("  %4d %4d %9s %11.1f%% %11.3f %11.3f %11.3f %11.3f %9.1f\n", k, ov, cfg.blend.c_str(), 100 * prerollCost,
                  e.get("seam_ratio_mean"), e.get("seam_ratio_worst"), e.get("mean_ratio"), styleRatio, chunkWall);
      JsonLine("farm").add("method", m.name).add("preroll", k).add("overlap", ov).add("blend", cfg.blend)
          .add("frames", m.frames)
          .add("max_side", m.maxSide).add("preroll_cost", prerollCost).add("seam_ratio_mean", e.get("seam_ratio_mean"))
          .add("seam_ratio_worst", e.get("seam_ratio_worst")).add("mean_ratio", e.get("mean_ratio"))
          .add("style_ratio", styleRatio).add("chunk_wall_s", chunkWall).add("uninterrupted_wall_s", r.wall)
          .add("load", loadAvg()).print();
    }
  }

  // Resume state: the same fast run with and without --resume.
  const std::string dir = gTmp + "/farm-resume";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::printf("\n  resume state, fast wave, chaplin 0-89 at 320 px (MP4 out):\n");
  double wall[2] = {0, 0};
  for (int resume = 0; resume < 2; ++resume) {
    std::vector<std::string> argv = {cli, "video", clip, "--frames", "0-89", "--method", "fast", "--model", "wave",
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
  return {"farm", "chunks + join vs one run (seams, pre-roll cost), resume-state cost; --nets fast,optimize", false,
          benchFarm, {{"_farm_eval", childEval}, {"_farm_loss", childLoss}}};
}

}  // namespace flowstyle::bench
