// The flowstyle command line, run as a user would: exit codes, messages, outputs.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "stages/video_reader.hpp"
#include "tests/cli_support.hpp"
#include "tests/test_support.hpp"

namespace fs = std::filesystem;
using flowstyle::test::CommandResult;
using flowstyle::test::makeClip;
using flowstyle::test::probeLines;
using flowstyle::test::scratchDir;
using flowstyle::test::sharedPath;
using namespace flowstyle::test::cli;

namespace {

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new flowstyle::test::cli::CliModelsEnvironment("cli"));

}  // namespace

TEST(Cli_Main, HelpAndVersion) {
  const fs::path dir = scratchDir();
  CommandResult r = cli({"--help"}, dir);
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_NE(r.out.find("flowstyle video"), std::string::npos);
  r = cli({"video", "--help"}, dir);
  EXPECT_EQ(r.exitCode, 0);
  for (const char* opt : {"--frames", "--start", "--duration", "--max-side", "--codec", "--crf", "--progress",
                          "--style", "--temporal-weight", "--long-term", "--flow", "--model", "--batch",
                          "--precision"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  }
  r = cli({"--version"}, dir);
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_TRUE(std::regex_search(r.out, std::regex("flowstyle [0-9]+\\.[0-9]+\\.[0-9]+")));
  r = cli({}, dir);
  EXPECT_EQ(r.exitCode, 2);
}

TEST(Cli_Usage, WrongOptionOrValueNamesItself) {
  const fs::path dir = scratchDir();
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"video", "in.mp4", "-o", "o.mp4", "--bogus"}, "bogus"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "paint"}, "copy, optimize, fast, hybrid"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "copy", "--progress", "xml"}, "auto, bar, json, none"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "copy", "--frames", "9-3"}, "--frames"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "copy", "--flow", "magic"}, "dis"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "copy", "--size", "12by5"}, "--size"},
      {{"video", "in.mp4", "-o", "o.mp4"}, "--style"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "fast"}, "--model"},
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "fast", "--model", "wave", "--precision", "int8"},
       "auto, float32, bfloat16 or float16"},
      {{"video", "in.mp4", "--method", "copy"}, "-o"},
      {{"image", "c.jpg", "--style", "a.jpg", "--style", "b.jpg", "--style-blend", "1", "-o", "o.png"},
       "--style-blend"},
      {{"frobnicate"}, "unknown command"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "ramp", "--restyle-hold", "1"},
       "--restyle-hold goes with --blend restyle"},
      // variance and cut were experiments' blends, no longer offered.
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "variance"}, "valid: auto, ramp, fitted, restyle"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "cut"}, "valid: auto, ramp, fitted, restyle"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "fitted", "--", "--method", "optimize"},
       "options after -- (the chunks' style options) goes with --blend restyle"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "restyle", "--restyle-hold", "-1"}, "--restyle-hold"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "fitted", "--restyle-polish", "1"},
       "--restyle-polish goes with --blend restyle"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "restyle", "--restyle-polish", "9"},
       "--restyle-polish: must be in 0..8"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "ramp", "--restyle-lookahead", "1"},
       "--restyle-lookahead goes with --blend restyle"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "restyle", "--restyle-lookahead", "-0.5"},
       "--restyle-lookahead: must be in 0..8"},
      {{"join", "a.mkv", "b.mkv", "-o", "o.mkv", "--blend", "restyle", "--restyle-polish", "0", "--restyle-lookahead",
        "0.5"},
       "--restyle-lookahead goes with the polish"},
      // Found by fuzz_options: a whole-number list entry beyond int's range (was undefined behaviour).
      {{"video", "in.mp4", "-o", "o.mp4", "--method", "copy", "--long-term", "1,1e308"}, "out of range"},
      {{"eval", "a.mp4", "b.mp4", "--seams", "5,-3e10"}, "out of range"},
  };
  for (const Case& c : cases) {
    CommandResult r = cli(c.args, dir);
    EXPECT_EQ(r.exitCode, 2) << c.args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
  }
}

TEST(Cli_BadInput, EachGetsAClearErrorAndNoOutput) {
  const fs::path dir = scratchDir();
  const fs::path outDir = dir / "out";
  fs::create_directories(outDir);
  const std::string out = (outDir / "result.mp4").string();

  // The inputs.
  const fs::path missing = dir / "missing.mp4";
  const fs::path folder = dir / "a_folder.mp4";
  fs::create_directories(folder);
  const fs::path empty = dir / "empty.mp4";
  std::ofstream(empty).close();
  const fs::path noise = dir / "noise.mp4";
  {
    std::ofstream f(noise, std::ios::binary);
    std::uint32_t x = 12345;
    for (int i = 0; i < 200000; ++i) {
      x = x * 1664525u + 1013904223u;
      f.put(static_cast<char>(x >> 24));
    }
  }
  const fs::path truncated = dir / "truncated.mp4";
  {
    const std::string whole = flowstyle::test::readFile(sharedPath("media/clips/chaplin.mp4"));
    std::ofstream(truncated, std::ios::binary) << whole.substr(0, whole.size() / 3);
  }
  const fs::path audioOnly = dir / "audio_only.m4a";
  makeClip(audioOnly, "sine=frequency=440:sample_rate=22050", 0.5, {"-c:a", "aac"});
  const fs::path tiny = dir / "one_pixel.mkv";
  makeClip(tiny, "color=c=red:size=16x16:rate=10", 0.5, {"-vf", "scale=1:1", "-c:v", "ffv1"});

  struct Case {
    fs::path input;
    std::string fault;  // regex, case-insensitive
  };
  const std::vector<Case> cases = {
      {missing, "not found|does not exist|no such file"},
      {folder, "directory"},
      {empty, "empty"},
      {noise, "not a (media|video)|unrecognized|invalid data|cannot (open|read)|unknown format"},
      {truncated, "truncated|incomplete|invalid data|moov|cannot (open|read)"},
      {audioOnly, "no video stream"},
      {tiny, "too small"},
  };
  for (const Case& c : cases) {
    CommandResult r = cli({"video", c.input.string(), "-o", out, "--method", "copy"}, dir);
    EXPECT_EQ(r.exitCode, 1) << c.input << ": " << r.err;
    EXPECT_NE(r.err.find(c.input.string()), std::string::npos) << "message must name the file: " << r.err;
    EXPECT_TRUE(std::regex_search(r.err, std::regex(c.fault, std::regex::icase))) << r.err;
    expectNoOutputLeft(outDir, "result.mp4");
  }

  // Output side: a folder that does not exist, a "folder" that is a file, an unknown codec.
  const fs::path good = smallClip(dir);
  const fs::path plainFile = dir / "plain_file";
  std::ofstream(plainFile) << "x";
  for (const fs::path& bad : {dir / "no_such_dir" / "o.mp4", plainFile / "o.mp4"}) {
    CommandResult r = cli({"video", good.string(), "-o", bad.string(), "--method", "copy"}, dir);
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_NE(r.err.find(bad.parent_path().string()), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(bad));
  }
  CommandResult r = cli({"video", good.string(), "-o", out, "--method", "copy", "--codec", "nosuchcodec"}, dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("nosuchcodec"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("libx264"), std::string::npos) << "should list valid codecs: " << r.err;
  expectNoOutputLeft(outDir, "result.mp4");
}

TEST(Cli_Video, CopyKeepsFramesTimestampsAndAudio) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 2.0);
  // MP4 keeps the AAC priming (negative audio pts) through an edit list, so every pts
  // survives unchanged. (Matroska cannot: it shifts all streams by the priming delay.)
  const fs::path out = dir / "copy.mp4";
  CommandResult r = cli({"video", in.string(), "-o", out.string(), "--method", "copy"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(fs::exists(out));
  const auto pts = [&](const fs::path& f) {
    std::vector<std::string> v = probeLines(f.string(), "-select_streams v:0 -show_entries frame=pts_time", dir);
    return v;
  };
  EXPECT_EQ(pts(in), pts(out));
  EXPECT_EQ(pts(out).size(), 50u);
  const std::string audio = "-select_streams a:0 -show_data_hash sha256 -show_entries packet=data_hash";
  const std::vector<std::string> aIn = probeLines(in.string(), audio, dir);
  const std::vector<std::string> aOut = probeLines(out.string(), audio, dir);
  EXPECT_GT(aIn.size(), 10u);
  EXPECT_EQ(aIn, aOut) << "audio packets must be copied unchanged";
  for (const std::string& f : flowstyle::test::listDir(dir)) {
    EXPECT_EQ(f.find("flowstyle-tmp"), std::string::npos) << f;
  }
}

TEST(Cli_Video, FrameRangeStartDurationAndJsonProgress) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 2.0);
  const fs::path out = dir / "part.mp4";
  CommandResult r = cli({"video", in.string(), "-o", out.string(), "--method", "copy", "--frames", "10-19",
                         "--progress", "json"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 10u);
  // One JSON object per frame, the last one complete.
  std::vector<std::string> lines;
  std::stringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 10u) << r.out;
  EXPECT_TRUE(std::regex_search(lines.back(), std::regex("\"frame\":10,\"total\":10,\"fps\":[0-9.]+,\"eta\":")))
      << lines.back();

  r = cli({"video", in.string(), "-o", out.string(), "--method", "copy", "--frames", "40-1000"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 10u)
      << "--frames is clamped to the clip";

  r = cli({"video", in.string(), "-o", out.string(), "--method", "copy", "--start", "0.5", "--duration", "0.4"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 10u);
}

TEST(Cli_Video, ResizeToWorkingSize) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "wide.mp4";
  makeClip(in, "testsrc2=size=320x180:rate=25", 0.4, {"-c:v", "libx264", "-pix_fmt", "yuv420p"});
  const fs::path out = dir / "small.mp4";
  CommandResult r = cli({"video", in.string(), "-o", out.string(), "--method", "copy", "--max-side", "160"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries stream=width,height", dir),
            std::vector<std::string>{"160,90"});
  r = cli({"video", in.string(), "-o", out.string(), "--method", "copy", "--size", "64x64"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries stream=width,height", dir),
            std::vector<std::string>{"64,64"});
}

TEST(Cli_Video, InterruptedRunLeavesNoOutput) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "long.mp4";
  makeClip(in, "testsrc2=size=640x360:rate=25", 8.0, {"-c:v", "libx264", "-preset", "ultrafast"});
  const fs::path outDir = dir / "out";
  fs::create_directories(outDir);
  const fs::path out = outDir / "o.mp4";
  const std::vector<std::string> args = {"video", in.string(), "-o", out.string(), "--method", "copy",
                                         "--preset", "veryslow", "--progress", "json"};
  EXPECT_EQ(interruptAfterFirstFrame(args, SIGINT), 130);
  expectNoOutputLeft(outDir, "o.mp4");
  EXPECT_TRUE(flowstyle::test::listDir(outDir).empty());
  EXPECT_EQ(interruptAfterFirstFrame(args, SIGTERM), 143);
  expectNoOutputLeft(outDir, "o.mp4");
  EXPECT_TRUE(flowstyle::test::listDir(outDir).empty());
}

TEST(Cli_Models, ListInstallAndMissingWeights) {
  const fs::path dir = scratchDir();
  CommandResult r = cli({"models", "list"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("vgg19-caffe-conv1_1-conv5_1 +loss-network +vgg19 +caffe_bgr")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\bwave +style-network"))) << r.out;

  const fs::path content = sharedPath("media/stills/tubingen.jpg");
  const fs::path style = sharedPath("media/styles/starry_night.jpg");
  r = cli({"image", content.string(), "--style", style.string(), "--loss-net", "no_such_net", "-o",
           (dir / "o.png").string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("no_such_net"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("flowstyle models install"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(sharedPath("models")), std::string::npos) << "should say where it looked: " << r.err;
  EXPECT_FALSE(fs::exists(dir / "o.png"));
}

// --tile: a side below the smallest tile, a negative or absurd value, a method without
// tiles: one line naming --tile and what is allowed, exit 2, nothing written.
TEST(Cli_Usage, TileValuesAndMethodsNameTheOption) {
  const fs::path dir = scratchDir();
  const std::string content = sharedPath("media/stills/tubingen.jpg");
  const std::string style = sharedPath("media/styles/starry_night.jpg");
  const std::string out = (dir / "out.png").string();
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"image", content, "--method", "fast", "--model", "wave", "--tile", "8", "-o", out},
       "--tile: 8 px is smaller than the smallest tile, 64 px"},
      {{"image", content, "--method", "fast", "--model", "wave", "--tile=-5", "-o", out},
       "--tile: -5 is not a tile side: use 0 (no tiles) or 64..16384 px"},
      {{"image", content, "--method", "fast", "--model", "wave", "--tile", "1000000", "-o", out},
       "--tile: 1000000 is not a tile side"},
      {{"image", content, "--method", "fast", "--model", "wave", "--tile", "big", "-o", out}, "--tile"},
      {{"image", content, "--style", style, "--tile", "100", "-o", out},
       "--tile: 100 px is not a multiple of 16 (the loss network's deepest stride); use --tile 128"},
      {{"image", content, "--style", style, "--tile", "112", "-o", out},
       "--tile: 112 px is smaller than the smallest optimize tile, 128 px"},
      {{"video", "in.mp4", "-o", (dir / "o.mp4").string(), "--method", "copy", "--tile", "256"},
       "--tile: --method copy does not stylize, so it has no tiles"},
      // hybrid's optimizer shares the tile: its rules hold.
      {{"image", content, "--method", "hybrid", "--model", "wave", "--style", style, "--tile", "200", "-o", out},
       "--tile: 200 px is not a multiple of 16 (the loss network's deepest stride); use --tile 192"},
  };
  for (const Case& c : cases) {
    CommandResult r = cli(c.args, dir);
    EXPECT_EQ(r.exitCode, 2) << c.expect << ": " << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    expectNoOutputLeft(dir, "out.png");
  }
}

namespace {
// tubingen.jpg at `size` (BGR), written to `path` for the tiling tests; returns it.
cv::Mat writeSmallTubingen(const fs::path& path, const cv::Size& size) {
  cv::Mat picture;
  cv::resize(cv::imread(sharedPath("media/stills/tubingen.jpg")), picture, size, 0, 0, cv::INTER_AREA);
  if (!cv::imwrite(path.string(), picture)) throw std::runtime_error("cannot write " + path.string());
  return picture;
}
}  // namespace

// --method fast in tiles: given (--tile N) it names the grid in the summary and paints what
// the whole frame paints; a budget too small even for the smallest tile is refused (exit 1)
// naming --tile and what it needs, before anything is written.
TEST(Cli_Image, FastTilesEqualTheWholeFrameAndABudgetTooSmallIsRefused) {
  const fs::path dir = scratchDir();
  const fs::path small = dir / "small.png";
  const cv::Mat picture = writeSmallTubingen(small, cv::Size(300, 200));
  const fs::path whole = dir / "whole.png", tiled = dir / "tiled.png";
  CommandResult r = cli({"image", small.string(), "--method", "fast", "--model", "wave", "--precision", "float32",
                         "--tile", "0", "-o", whole.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err.find("tiled:"), std::string::npos) << r.err;
  r = cli({"image", small.string(), "--method", "fast", "--model", "wave", "--precision", "float32", "--tile", "64",
           "-o", tiled.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("tiled: 7x5 tiles of 64 px, halo 16"), std::string::npos) << r.err;  // 396x296 padded
  const cv::Mat a = cv::imread(whole.string()), b = cv::imread(tiled.string());
  ASSERT_EQ(b.size(), cv::Size(300, 200));
  ASSERT_EQ(a.size(), b.size());
  cv::Mat fa, fb;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  const cv::Mat d = fa - fb, sq = d.mul(d);
  EXPECT_LE(std::sqrt(cv::mean(sq.reshape(1))[0]), 0.1);  // of 255; the goal is 1
  // Different settings give different pictures (the comparison above can fail).
  EXPECT_GT(cv::norm(a, picture, cv::NORM_L1) / a.total(), 10.0);

  r = cli({"image", small.string(), "--method", "fast", "--model", "wave", "--max-memory", "180M", "-o",
           (dir / "tiny.png").string()}, dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("even the smallest tile (--tile 64) needs about"), std::string::npos) << r.err;
  expectNoOutputLeft(dir, "tiny.png");
}

// --method optimize --tile: the loss network sees 128 px tiles with a 96 px halo, and the
// painting follows the whole image's (from a random start: an 8-bit picture's flat areas
// tie in the max pools, where the tiles may send the gradient the other, equally valid,
// way). Bad --tile values: Cli_Usage.TileValuesAndMethodsNameTheOption.
TEST(Cli_Image, OptimizeTilesFollowTheWholeImage) {
  const fs::path dir = scratchDir();
  const fs::path small = dir / "small.png";
  const cv::Mat picture = writeSmallTubingen(small, cv::Size(200, 150));
  const std::string style = sharedPath("media/styles/starry_night.jpg");
  const fs::path whole = dir / "whole.png", tiled = dir / "tiled.png";
  // float32: bfloat16 convolutions round differently on a tile than on the whole image.
  const std::vector<std::string> common = {"image", small.string(), "--style", style, "--iterations", "3",
                                           "--init", "random", "--precision", "float32", "--threads", "2"};
  auto run = [&](const std::string& tile, const fs::path& out) {
    std::vector<std::string> args = common;
    for (const std::string& a : {std::string("--tile"), tile, std::string("-o"), out.string()}) args.push_back(a);
    return cli(args, dir);
  };
  CommandResult r = run("0", whole);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err.find("tiled:"), std::string::npos) << r.err;
  r = run("128", tiled);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("tiled: tiles of 128 px, halo 96"), std::string::npos) << r.err;
  const cv::Mat a = cv::imread(whole.string()), b = cv::imread(tiled.string());
  ASSERT_EQ(a.size(), cv::Size(200, 150));
  ASSERT_EQ(b.size(), a.size());
  const double diff = cv::norm(a, b, cv::NORM_L1) / a.total() / 3;
  std::printf("[ measured ] tiled vs whole: mean |diff| %.3f of 255\n", diff);
  EXPECT_LE(diff, 0.5);
  // Different settings give different pictures (the comparison above can fail).
  EXPECT_GT(cv::norm(a, picture, cv::NORM_L1) / a.total() / 3, 10.0);
}

// --method hybrid --tile: the network and the optimizer both tile at that side (each with its
// own halo, both named in the summary), and the painting follows the whole image's: 160x120
// in 2x2 tiles of 128 px, float32, 2 iterations (measured: 0.21 of 255 RMS, PSNR 61.8).
TEST(Cli_Image, HybridTilesFollowTheWholeImage) {
  const fs::path dir = scratchDir();
  const fs::path small = dir / "small.png";
  const cv::Mat picture = writeSmallTubingen(small, cv::Size(160, 120));
  const fs::path whole = dir / "whole.png", tiled = dir / "tiled.png";
  auto run = [&](const std::string& tile, const fs::path& out) {
    return cli({"image", small.string(), "--method", "hybrid", "--model", "wave", "--style",
                sharedPath("media/styles/starry_night.jpg"), "--iterations", "2", "--precision", "float32",
                "--threads", "2", "--tile", tile, "-o", out.string()},
               dir);
  };
  CommandResult r = run("0", whole);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err.find("tiled:"), std::string::npos) << r.err;
  r = run("128", tiled);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("tiled: 2x2 tiles of 128 px, halo 16; optimizer float32; tiled: tiles of 128 px, halo 96"),
            std::string::npos)
      << r.err;
  const cv::Mat a = cv::imread(whole.string()), b = cv::imread(tiled.string());
  ASSERT_EQ(a.size(), cv::Size(160, 120));
  ASSERT_EQ(b.size(), a.size());
  const double diff = cv::norm(a, b, cv::NORM_L1) / a.total() / 3;
  std::printf("[ measured ] tiled vs whole: mean |diff| %.3f of 255\n", diff);
  EXPECT_LE(diff, 0.5);
  // Different settings give different pictures (the comparison above can fail).
  EXPECT_GT(cv::norm(a, picture, cv::NORM_L1) / a.total() / 3, 10.0);
}

TEST(Cli_Image, OptimizeWritesThePaintingAndNamesBadFiles) {
  const fs::path dir = scratchDir();
  const std::string content = sharedPath("media/stills/tubingen.jpg");
  const std::string style = sharedPath("media/styles/starry_night.jpg");
  const fs::path out = dir / "painting.png";
  CommandResult r = cli({"image", content, "--style", style, "-o", out.string(), "--max-side", "64",
                         "--iterations", "4", "--threads", "2"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_EQ(probeLines(out.string(), "-show_entries stream=width,height", dir), std::vector<std::string>{"64,48"});

  const fs::path fastOut = dir / "fast.jpg";
  r = cli({"image", content, "--method", "fast", "--model", "wave", "-o", fastOut.string(), "--max-side", "96"},
          dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(fastOut.string(), "-show_entries stream=width,height", dir),
            std::vector<std::string>{"96,72"});
  EXPECT_NE(r.err.find("style network wave, "), std::string::npos) << "the summary names the number format: " << r.err;
  r = cli({"image", content, "--method", "fast", "--model", "wave", "-o", fastOut.string(), "--max-side", "96",
           "--precision", "bfloat16"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("style network wave, bfloat16"), std::string::npos) << r.err;
  // Without --max-side a fast network keeps the input's size (optimize's default is 512 px).
  const fs::path small = dir / "small.png";
  cv::Mat smallImage;
  cv::resize(cv::imread(content), smallImage, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
  ASSERT_TRUE(cv::imwrite(small.string(), smallImage));
  r = cli({"image", small.string(), "--method", "fast", "--model", "wave", "-o", fastOut.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(fastOut.string(), "-show_entries stream=width,height", dir),
            std::vector<std::string>{"200,150"});
  // float16 needs CUDA: on the CPU it is an error before anything is written.
  r = cli({"image", content, "--method", "fast", "--model", "wave", "-o", (dir / "half.png").string(),
           "--max-side", "96", "--precision", "float16", "--device", "cpu"}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("CUDA"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "half.png"));

  const fs::path notImage = dir / "style.jpg";
  std::ofstream(notImage) << "definitely not a jpeg";
  r = cli({"image", content, "--style", notImage.string(), "-o", (dir / "x.png").string(), "--max-side", "32",
           "--iterations", "1"}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find(notImage.string()), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  r = cli({"image", (dir / "nope.jpg").string(), "--style", style, "-o", (dir / "x.png").string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("nope.jpg"), std::string::npos) << r.err;
  r = cli({"image", content, "--style", style, "-o", (dir / "x.gifx").string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("x.gifx"), std::string::npos) << r.err;
}

TEST(Cli_Eval, OriginalAgainstItselfAndMismatchedClips) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "pan.mkv";
  makeClip(in, "testsrc2=size=96x64:rate=10", 0.6, {"-c:v", "ffv1"});
  CommandResult r = cli({"eval", in.string(), in.string(), "--json"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("\"mean_stylized\":([0-9.e-]+),\"mean_original\":([0-9.e-]+)")))
      << r.out;
  EXPECT_EQ(m[1].str(), m[2].str());
  const fs::path shorter = dir / "short.mkv";
  makeClip(shorter, "testsrc2=size=96x64:rate=10", 0.3, {"-c:v", "ffv1"});
  r = cli({"eval", in.string(), shorter.string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("frames"), std::string::npos) << r.err;
}

TEST(Cli_Video, FastMethodOnChaplinAndTheGif) {
  const fs::path dir = scratchDir();
  const fs::path out = dir / "chaplin_wave.mp4";
  CommandResult r = cli({"video", sharedPath("media/clips/chaplin.mp4"), "-o", out.string(), "--method", "fast",
                         "--model", "wave", "--frames", "0-5", "--max-side", "160", "--batch", "2"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 6u);
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries stream=width,height", dir),
            std::vector<std::string>{"160,90"});
  EXPECT_FALSE(probeLines(out.string(), "-select_streams a:0 -show_entries packet=pts", dir).empty())
      << "the audio of the selected span is kept";

  const fs::path gifOut = dir / "pigs_wave.mkv";
  r = cli({"video", sharedPath("media/clips/pigs_in_a_polka.gif"), "-o", gifOut.string(), "--method", "fast",
           "--model", "wave", "--frames", "0-3", "--codec", "ffv1"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(gifOut.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 4u);
}

TEST(Cli_Video, OptimizeOnChaplinEndToEnd) {
  const fs::path dir = scratchDir();
  const fs::path out = dir / "chaplin_starry.mp4";
  CommandResult r = cli({"video", sharedPath("media/clips/chaplin.mp4"), "-o", out.string(), "--style",
                         sharedPath("media/styles/starry_night.jpg"), "--frames", "0-2", "--max-side", "64",
                         "--iterations-first", "6", "--iterations", "3", "--threads", "2"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 3u);
}

TEST(Cli_Batch, StylizesAFolderSkipsFinishedClipsAndGoesOnAfterAFailure) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "clips", out = dir / "styled";
  fs::create_directories(in);
  smallClip(in, 0.4, "a.mp4");
  makeClip(in / "b.mkv", "testsrc2=size=48x32:rate=10", 0.3, {"-c:v", "ffv1"});
  std::ofstream(in / "c.mp4") << "not a video";
  std::ofstream(in / "readme.txt") << "ignored";
  const std::vector<std::string> args = {"batch", in.string(), "-o", out.string(), "--method", "fast",
                                         "--model", "wave"};
  CommandResult r = cli(args, dir);
  EXPECT_EQ(r.exitCode, 1) << "one clip failed: " << r.err;
  EXPECT_NE(r.err.find("3 clips: 2 done, 0 skipped, 1 failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("c.mp4"), std::string::npos) << r.err;
  // The good clips are complete (frame count, audio of a.mp4 kept); the bad one left nothing.
  EXPECT_EQ(probeLines((out / "a.mp4").string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 10u);
  EXPECT_FALSE(probeLines((out / "a.mp4").string(), "-select_streams a:0 -show_entries packet=pts", dir).empty());
  EXPECT_EQ(probeLines((out / "b.mp4").string(), "-select_streams v:0 -show_entries stream=width,height", dir),
            std::vector<std::string>{"48,32"});
  expectNoOutputLeft(out, "c.mp4");

  // Run again: the finished clips are skipped (not rewritten), the broken one fails again.
  const auto stamp = fs::last_write_time(out / "a.mp4");
  r = cli({"batch", in.string(), "-o", out.string(), "--method", "fast", "--model", "wave", "--progress", "json"},
          dir);
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.out.find("{\"clip\":\"" + (in / "a.mp4").string() + "\",\"output\":\"" + (out / "a.mp4").string() +
                       "\",\"status\":\"skipped\""),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"status\":\"failed\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("{\"batch\":{\"clips\":3,\"done\":0,\"skipped\":2,\"failed\":1,\"interrupted\":false"),
            std::string::npos) << r.out;
  EXPECT_EQ(fs::last_write_time(out / "a.mp4"), stamp);

  // Without the broken clip everything is done: exit 0. --overwrite redoes finished clips.
  fs::remove(in / "c.mp4");
  r = cli(args, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("2 clips: 0 done, 2 skipped, 0 failed"), std::string::npos) << r.err;
  std::vector<std::string> again = args;
  again.push_back("--overwrite");
  r = cli(again, dir);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.err.find("2 clips: 2 done"), std::string::npos) << r.err;
}

TEST(Cli_Batch, UsageAndFolderErrors) {
  const fs::path dir = scratchDir();
  CommandResult r = cli({"batch", "--help"}, dir);
  EXPECT_EQ(r.exitCode, 0);
  for (const char* opt : {"--ext", "--overwrite", "--method", "--model", "--style"}) {
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  }
  r = cli({"batch", dir.string()}, dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("-o OUT_DIR"), std::string::npos) << r.err;
  r = cli({"batch", (dir / "nowhere").string(), "-o", (dir / "out").string(), "--method", "copy"}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("nowhere: folder not found"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
  fs::create_directories(dir / "empty");
  r = cli({"batch", (dir / "empty").string(), "-o", (dir / "out").string(), "--method", "copy"}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("no clips"), std::string::npos) << r.err;
}

TEST(Cli_Batch, InterruptKeepsFinishedClipsAndStops) {
  const fs::path dir = scratchDir();
  const fs::path in = dir / "clips", out = dir / "out";
  fs::create_directories(in);
  makeClip(in / "a.mp4", "testsrc2=size=64x48:rate=25", 0.2, {"-c:v", "libx264", "-preset", "ultrafast"});
  makeClip(in / "b.mp4", "testsrc2=size=640x360:rate=25", 8.0, {"-c:v", "libx264", "-preset", "ultrafast"});
  makeClip(in / "c.mp4", "testsrc2=size=64x48:rate=25", 0.2, {"-c:v", "libx264", "-preset", "ultrafast"});
  // The signal goes out when a.mp4's "done" line appears, so it lands while the long
  // b.mp4 runs (8 s at 640x360, x264 veryslow).
  EXPECT_EQ(interruptAfterFirstFrame({"batch", in.string(), "-o", out.string(), "--method", "copy", "--preset",
                                      "veryslow", "--progress", "json"},
                                     SIGINT, "\"status\":\"done\""),
            130);
  EXPECT_EQ(probeLines((out / "a.mp4").string(), "-select_streams v:0 -show_entries frame=pts", dir).size(), 5u)
      << "a finished clip is kept";
  EXPECT_FALSE(fs::exists(out / "b.mp4"));
  EXPECT_FALSE(fs::exists(out / "c.mp4")) << "the batch stops at the interrupt";
  expectNoOutputLeft(out, "b.mp4");
}

TEST(Cli_Preview, ShortSegmentAndSideBySidePicture) {
  const fs::path dir = scratchDir();
  const fs::path in = smallClip(dir, 1.0, "shot.mp4");  // 64x48, 25 fps
  const fs::path out = dir / "p.mp4";
  CommandResult r = cli({"preview", in.string(), "--at", "0.2", "--duration", "0.4", "--method", "fast", "--model",
                         "wave", "-o", out.string()}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  // The segment: 10 frames from 0.2 s, at the clip's size (256 px never upscales).
  const auto pts = probeLines(out.string(), "-select_streams v:0 -show_entries frame=pts_time", dir);
  ASSERT_EQ(pts.size(), 10u);
  EXPECT_NEAR(std::stod(pts.front()), 0.2, 0.021);
  const fs::path picture = dir / "p_side_by_side.png";
  ASSERT_TRUE(fs::exists(picture)) << r.err;
  cv::Mat both = cv::imread(picture.string(), cv::IMREAD_COLOR);
  ASSERT_EQ(both.size(), cv::Size(128, 48));
  // Left: the original's middle frame of the segment (frame 5 + 5 = 10 of the clip);
  // right: the stylized one, clearly different.
  flowstyle::stages::ReaderConfig rc;
  rc.path = in.string();
  rc.selection.first = rc.selection.last = 10;
  flowstyle::stages::VideoReader reader(rc);
  auto frame = reader.next();
  ASSERT_TRUE(frame.has_value());
  cv::Mat original;
  cv::cvtColor(frame->rgb, original, cv::COLOR_RGB2BGR);
  ASSERT_EQ(original.size(), cv::Size(64, 48));
  cv::Mat diffLeft, diffRight;
  cv::absdiff(both(cv::Rect(0, 0, 64, 48)), original, diffLeft);
  cv::absdiff(both(cv::Rect(64, 0, 64, 48)), original, diffRight);
  EXPECT_LT(cv::mean(diffLeft.reshape(1))[0], 3.0);
  EXPECT_GT(cv::mean(diffRight.reshape(1))[0], 15.0);

  // Defaults: 2 s from 0 (the whole 1 s clip here), OUT = <name>_preview.mp4 in the current folder.
  r = flowstyle::test::run({"/bin/sh", "-c", "cd " + flowstyle::test::shellQuote(dir.string()) + " && exec " +
                            flowstyle::test::shellQuote(FLOWSTYLE_CLI) + " preview shot.mp4 --method copy"}, dir);
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(probeLines((dir / "shot_preview.mp4").string(), "-select_streams v:0 -show_entries frame=pts", dir).size(),
            25u);
  EXPECT_TRUE(fs::exists(dir / "shot_preview_side_by_side.png"));

  // A picture name OpenCV cannot write fails before the job runs; --at with --start is a usage error.
  r = cli({"preview", in.string(), "--method", "copy", "-o", (dir / "q.mp4").string(), "--picture",
           (dir / "q.gifx").string()}, dir);
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("q.gifx"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "q.mp4"));
  r = cli({"preview", in.string(), "--at", "1", "--start", "2"}, dir);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("--at"), std::string::npos) << r.err;
}

// Boost.Program_options' own placeholders in an argument made its error text loop forever
// (found by fuzz/options_fuzz.cpp): the CLI must answer with a usage error.
TEST(Cli_Usage, regression_boost_placeholder_in_argument_does_not_hang) {
  const fs::path dir = scratchDir();
  const std::vector<std::vector<std::string>> cases = {
      {"video", "in.mp4", "-o", "o.mp4", "-%canonical_option%"},
      {"video", "in.mp4", "-o", "o.mp4", "--method", "copy", "--crf", "%value%"},
      {"join", "a.mkv", "-o", "o.mp4", "--%option%"},
  };
  for (const auto& args : cases) {
    std::vector<std::string> argv = {"timeout", "-s", "KILL", "60", FLOWSTYLE_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = flowstyle::test::run(argv, dir);
    EXPECT_EQ(r.exitCode, 2) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find("option"), std::string::npos) << r.err;
  }
}
