// Any style image in one pass (issue 23): `--method fast --style S` and `--model microast|...`
// through the flowstyle executable, on real weights (microast, installed by the suite's
// environment as a user installs it) and real pictures.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/cli_support.hpp"
#include "tests/test_support.hpp"

namespace {
namespace fs = std::filesystem;
using flowstyle::test::CommandResult;
using flowstyle::test::probeLines;
using flowstyle::test::scratchDir;
using flowstyle::test::sharedPath;
using flowstyle::test::cli::cli;
using flowstyle::test::cli::expectNoOutputLeft;

const std::string kContent = sharedPath("media/stills/tubingen.jpg");
const std::string kStarry = sharedPath("media/styles/starry_night.jpg");
const std::string kScream = sharedPath("media/styles/the_scream.jpg");

// The content at the size `image --max-side 96` works at (96x72), as the CLI resizes it.
cv::Mat contentAt96() {
  cv::Mat bgr = cv::imread(kContent, cv::IMREAD_COLOR), small;
  cv::resize(bgr, small, cv::Size(96, 72), 0, 0, cv::INTER_AREA);
  return small;
}

double meanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3.0;
}

CommandResult paint(const fs::path& dir, const fs::path& out, std::vector<std::string> extra) {
  std::vector<std::string> args = {"image", kContent, "-o", out.string(), "--max-side", "96", "--threads", "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return cli(args, dir);
}

TEST(Cli_AnyStyle, FastWithAStyleImagePicksTheDefaultNetwork) {
  const fs::path dir = scratchDir();
  const fs::path out = dir / "starry.png";
  CommandResult r = paint(dir, out, {"--method", "fast", "--style", kStarry});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("arbitrary-style network microast, 1 style at 256 px"), std::string::npos) << r.err;
  const cv::Mat painted = cv::imread(out.string(), cv::IMREAD_COLOR);
  ASSERT_EQ(painted.size(), cv::Size(96, 72));
  EXPECT_GT(meanAbsDiff(painted, contentAt96()), 20.0) << "the picture should be repainted, not copied";

  // --model alone means the network's own method; the same network gives the same picture.
  const fs::path byName = dir / "by_name.png";
  r = paint(dir, byName, {"--model", "microast", "--style", kStarry});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(meanAbsDiff(cv::imread(byName.string()), painted), 0.0);

  // hybrid without --model starts the optimizer from the same network's painting.
  r = paint(dir, dir / "hybrid.png", {"--method", "hybrid", "--style", kStarry, "--iterations", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("arbitrary-style network microast"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 iterations"), std::string::npos) << r.err;

  // Another style image gives another picture.
  const fs::path scream = dir / "scream.png";
  r = paint(dir, scream, {"--model", "microast", "--style", kScream});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_GT(meanAbsDiff(cv::imread(scream.string()), painted), 10.0);
}

TEST(Cli_AnyStyle, StrengthBlendSizeAndColours) {
  const fs::path dir = scratchDir();
  const cv::Mat content = contentAt96();
  auto painted = [&](const std::string& name, std::vector<std::string> extra) {
    const fs::path out = dir / (name + ".png");
    extra.insert(extra.begin(), {"--model", "microast"});
    CommandResult r = paint(dir, out, extra);
    EXPECT_EQ(r.exitCode, 0) << name << ": " << r.err;
    return cv::imread(out.string(), cv::IMREAD_COLOR);
  };
  const cv::Mat full = painted("full", {"--style", kStarry});
  const cv::Mat none = painted("none", {"--style", kStarry, "--style-strength", "0"});
  const cv::Mat half = painted("half", {"--style", kStarry, "--style-strength", "0.5"});
  EXPECT_LT(meanAbsDiff(none, content), 1.0) << "strength 0 is the frame's own look";
  const double dFull = meanAbsDiff(full, content), dHalf = meanAbsDiff(half, content);
  EXPECT_GT(dHalf, 0.25 * dFull);
  EXPECT_LT(dHalf, 0.75 * dFull);

  // A blend that gives one style all the weight is that style alone.
  const cv::Mat onlyStarry = painted("blend10", {"--style", kStarry, "--style", kScream, "--style-blend", "1,0"});
  EXPECT_EQ(meanAbsDiff(onlyStarry, full), 0.0);
  const cv::Mat mixed = painted("blend55", {"--style", kStarry, "--style", kScream});
  EXPECT_GT(meanAbsDiff(mixed, full), 2.0);

  // The style image's working size sets the stroke scale: another size, another picture.
  const cv::Mat small = painted("size64", {"--style", kStarry, "--style-size", "64"});
  EXPECT_GT(meanAbsDiff(small, full), 2.0);

  // Colours preserved: the content's chroma, the painting's luma.
  const cv::Mat kept = painted("colours", {"--style", kStarry, "--preserve-colors"});
  cv::Mat keptY, contentY, fullY;
  cv::cvtColor(kept, keptY, cv::COLOR_BGR2YCrCb);
  cv::cvtColor(content, contentY, cv::COLOR_BGR2YCrCb);
  cv::cvtColor(full, fullY, cv::COLOR_BGR2YCrCb);
  std::vector<cv::Mat> k, c, f;
  cv::split(keptY, k);
  cv::split(contentY, c);
  cv::split(fullY, f);
  EXPECT_LT(meanAbsDiff(k[1], c[1]), 2.0);
  EXPECT_LT(meanAbsDiff(k[2], c[2]), 2.0);
  EXPECT_LT(meanAbsDiff(k[0], f[0]), 2.0);
  EXPECT_GT(meanAbsDiff(f[1], c[1]) + meanAbsDiff(f[2], c[2]), 4.0) << "the painting changed the colours";
}

TEST(Cli_AnyStyle, VideoWithAnyStyleKeepsFramesAndSize) {
  const fs::path dir = scratchDir();
  const fs::path out = dir / "chaplin_starry.mp4";
  CommandResult r = cli({"video", sharedPath("media/clips/chaplin.mp4"), "-o", out.string(), "--method", "fast",
                         "--style", kStarry, "--frames", "0-5", "--max-side", "160", "--batch", "2",
                         "--threads", "2"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 6u);
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries stream=width,height", dir),
            std::vector<std::string>{"160,90"});
  EXPECT_NE(r.err.find("microast"), std::string::npos) << r.err;
}

// A cut: the first frame of the new shot is the network's own painting, with nothing of the
// last shot warped into it; before the cut (and after it) stabilization holds frames together.
TEST(Cli_AnyStyle, ShotChangeStartsAfreshWithoutTheLastShot) {
  const fs::path dir = scratchDir();
  const fs::path clip = dir / "cut.mkv";
  const CommandResult made = flowstyle::test::run(
      {"ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10", "-f", "lavfi", "-i",
       "mandelbrot=size=96x64:rate=10", "-filter_complex",
       "[0]trim=duration=1[a];[1]trim=duration=1,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]", "-map", "[v]",
       "-c:v", "ffv1", clip.string()},
      dir);
  ASSERT_EQ(made.exitCode, 0) << made.err;
  auto stylize = [&](const std::string& name, std::vector<std::string> extra) {
    const fs::path out = dir / name;
    std::vector<std::string> args = {"video", clip.string(), "-o", out.string(), "--model", "microast", "--style",
                                     kStarry, "--codec", "ffv1", "--threads", "2", "--progress", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult r = cli(args, dir);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return flowstyle::test::cli::framemd5(out, dir);
  };
  auto frameHashes = [](const std::string& md5) {
    std::vector<std::string> hashes;
    std::istringstream in(md5);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      hashes.push_back(line.substr(line.rfind(',') + 1));
    }
    return hashes;
  };
  const std::vector<std::string> stable = frameHashes(stylize("stable.mkv", {}));
  const std::vector<std::string> raw = frameHashes(stylize("raw.mkv", {"--temporal-weight", "0"}));
  ASSERT_EQ(stable.size(), 20u);
  ASSERT_EQ(raw.size(), 20u);
  EXPECT_EQ(stable[0], raw[0]);
  EXPECT_NE(stable[9], raw[9]) << "inside the first shot the stabilized frames hold on to the warped earlier ones";
  EXPECT_EQ(stable[10], raw[10]) << "the first frame after the cut must owe nothing to the last shot";
  EXPECT_NE(stable[12], raw[12]) << "after the cut, stabilization starts again";
}

// Magenta's and WCT's frames move more than microast's: without --temporal-weight they are
// held on the warped previous output harder (pipeline::stabilizationWeight: 0.95, not 0.8).
TEST(Cli_AnyStyle, MagentaHoldsOnHarderByDefault) {
  const fs::path dir = scratchDir();
  const fs::path models = dir / "models";
  const CommandResult installed =
      cli({"models", "install", sharedPath("models/arbitrary/magenta"), "--to", models.string()}, dir);
  ASSERT_EQ(installed.exitCode, 0) << installed.err;
  const fs::path clip = dir / "pan.mkv";
  const CommandResult made = flowstyle::test::run({"ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                                                   "testsrc2=size=96x64:rate=10", "-t", "0.6", "-c:v", "ffv1",
                                                   clip.string()},
                                                  dir);
  ASSERT_EQ(made.exitCode, 0) << made.err;
  auto stylize = [&](const std::string& name, std::vector<std::string> extra) {
    const fs::path out = dir / name;
    std::vector<std::string> args = {"video", clip.string(), "-o", out.string(), "--model",
                                     (models / "magenta.safetensors").string(), "--style", kStarry, "--codec", "ffv1",
                                     "--threads", "2", "--progress", "none"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult r = cli(args, dir);
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return flowstyle::test::cli::framemd5(out, dir);
  };
  const std::string byDefault = stylize("default.mkv", {});
  EXPECT_EQ(byDefault, stylize("w095.mkv", {"--temporal-weight", "0.95"}));
  EXPECT_NE(byDefault, stylize("w08.mkv", {"--temporal-weight", "0.8"}));
}

// Issue 24: every arbitrary-style network in tiles (--tile N) paints the whole frame's 8-bit
// picture and names its grid in the summary; --tile 0 runs whole. 200x150: unequal tiles, a
// side the networks pad (to 200x152; WCT-16x to 208x160, the same 4x3 grid).
TEST(Cli_AnyStyle, TilesPaintTheWholeFramesPicture) {
  const fs::path dir = scratchDir();
  const fs::path small = dir / "small.png";
  cv::Mat picture;
  cv::resize(cv::imread(kContent, cv::IMREAD_COLOR), picture, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
  ASSERT_TRUE(cv::imwrite(small.string(), picture));
  for (const char* folder : {"magenta", "wct16x", "multistyle26"}) {
    const CommandResult installed =
        cli({"models", "install", sharedPath(std::string("models/arbitrary/") + folder), "--to",
             (dir / "models").string()},
            dir);
    ASSERT_EQ(installed.exitCode, 0) << installed.err;
  }
  struct Network {
    std::string arch, model, halo;
    std::vector<std::string> style;
  };
  for (const Network& n : {Network{"microast", "microast", "23", {"--style", kStarry}},
                           Network{"magenta", (dir / "models" / "magenta.safetensors").string(), "8",
                                   {"--style", kStarry}},
                           Network{"wct16x", (dir / "models" / "wct16x.safetensors").string(), "80",
                                   {"--style", kStarry}},
                           Network{"multistyle26", (dir / "models" / "multistyle26.safetensors").string(), "8",
                                   {"--style-index", "3"}}}) {
    SCOPED_TRACE(n.arch);
    const fs::path whole = dir / (n.arch + "_whole.png"), tiled = dir / (n.arch + "_tiled.png");
    auto run = [&](const fs::path& out, const std::string& tile) {
      std::vector<std::string> args = {"image",   small.string(), "-o",     out.string(), "--method",
                                       "fast",    "--model",      n.model,  "--tile",     tile,
                                       "--threads", "2"};
      args.insert(args.end(), n.style.begin(), n.style.end());
      return cli(args, dir);
    };
    CommandResult r = run(whole, "0");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.err.find("tiled:"), std::string::npos) << r.err;
    r = run(tiled, "64");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.err.find("arbitrary-style network " + n.arch), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("tiled: 4x3 tiles of 64 px, halo " + n.halo), std::string::npos) << r.err;  // 200x152
    const cv::Mat a = cv::imread(whole.string()), b = cv::imread(tiled.string());
    ASSERT_EQ(a.size(), picture.size());
    ASSERT_EQ(b.size(), picture.size());
    cv::Mat d;
    cv::absdiff(a, b, d);
    double maxDiff = 0;
    cv::minMaxLoc(d.reshape(1), nullptr, &maxDiff);
    EXPECT_LE(maxDiff, 1.0);
    EXPECT_LT(meanAbsDiff(a, b), 0.01);
    EXPECT_GT(meanAbsDiff(a, picture), 10.0) << "the picture should be repainted, not copied";
  }
}

TEST(Cli_AnyStyle, BadInputGetsOneLineAndNoOutput) {
  const fs::path dir = scratchDir();
  const fs::path out = dir / "x.png";
  // A 1x1 style image.
  const fs::path tiny = dir / "tiny.png";
  cv::imwrite(tiny.string(), cv::Mat(1, 1, CV_8UC3, cv::Scalar(10, 200, 30)));
  CommandResult r = paint(dir, out, {"--method", "fast", "--style", tiny.string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find(tiny.string() + ": the style image is 1x1 pixels"), std::string::npos) << r.err;
  expectNoOutputLeft(dir, "x.png");
  // A style image that is not a picture.
  const fs::path text = dir / "style.jpg";
  std::ofstream(text) << "not a jpeg";
  r = paint(dir, out, {"--model", "microast", "--style", text.string()});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find(text.string()), std::string::npos) << r.err;
  expectNoOutputLeft(dir, "x.png");
  // The network needs a style image; style indices belong to the 26-style network.
  r = paint(dir, out, {"--model", "microast"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("--style"), std::string::npos) << r.err;
  r = paint(dir, out, {"--model", "microast", "--style", kStarry, "--style-index", "3"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("--style-index"), std::string::npos) << r.err;
  // Out-of-range values name the option (usage errors: exit 2).
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"--style-strength", "1.5"}, std::vector<std::string>{"--style-size", "4"},
        std::vector<std::string>{"--style-index=-1"}}) {
    std::vector<std::string> extra = {"--method", "fast", "--style", kStarry};
    extra.insert(extra.end(), bad.begin(), bad.end());
    r = paint(dir, out, extra);
    EXPECT_EQ(r.exitCode, 2) << bad[0] << ": " << r.err;
    EXPECT_NE(r.err.find(bad[0].substr(2, bad[0].find_first_of("=", 2) - 2)), std::string::npos) << r.err;
    expectNoOutputLeft(dir, "x.png");
  }
  // The error is one line (stderr holds nothing else but blank lines).
  r = paint(dir, out, {"--method", "fast", "--style", tiny.string()});
  std::istringstream lines(r.err);
  int nonEmpty = 0;
  for (std::string line; std::getline(lines, line);) nonEmpty += line.empty() ? 0 : 1;
  EXPECT_EQ(nonEmpty, 1) << r.err;
}

}  // namespace
