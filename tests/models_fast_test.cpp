#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/fast_network.hpp"
#include "models/tiling.hpp"
#include "tests/image_support.hpp"

namespace fs = std::filesystem;
using flowstyle::models::FastNetworkOptions;
using flowstyle::models::Layout;
using flowstyle::models::FastStyleNetwork;
using flowstyle::models::importMl5Checkpoint;

namespace {

const std::string kShared = FLOWSTYLE_SHARED_DIR;
const std::string kMl5 = kShared + "/models/ml5/";
const std::string kReference = kShared + "/models/reference/";

std::string scratchDir(const std::string& name) {
  const fs::path dir = fs::path(FLOWSTYLE_TEST_TMP) / ("models_fast_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

cv::Mat readRgb(const std::string& path) {
  cv::Mat rgb = flowstyle::test::readRgb(path);
  if (rgb.empty()) throw std::runtime_error(path + ": cannot read");
  return rgb;
}

struct Diff {
  double maxAbs = 0, meanAbs = 0;
};

Diff diff8(const cv::Mat& a, const cv::Mat& b) {
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.type(), b.type());
  const flowstyle::test::ImageDiff d = flowstyle::test::imageDiff(a, b);
  return {d.max, d.mean};
}

// What the network is asked to produce: the ml5 variables, each a symlink to the real
// file, plus a manifest that a test may alter.
struct BrokenCheckpoint {
  std::string dir;
  nlohmann::json manifest;

  explicit BrokenCheckpoint(const std::string& name) : dir(scratchDir(name)) {
    const std::string good = kMl5 + "wave";
    manifest = nlohmann::json::parse(std::ifstream(good + "/manifest.json"));
    for (const auto& entry : fs::directory_iterator(good)) {
      if (entry.path().filename() == "manifest.json") continue;
      fs::create_symlink(entry.path(), fs::path(dir) / entry.path().filename());
    }
  }
  nlohmann::json& variable(const std::string& name) { return manifest.at(name); }
  void writeManifest() { writeManifestText(manifest.dump(2)); }
  void writeManifestText(const std::string& text) { std::ofstream(dir + "/manifest.json") << text; }
  void replaceFile(const std::string& name, const std::vector<float>& data) {
    fs::remove(fs::path(dir) / name);
    std::ofstream out(fs::path(dir) / name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size() * sizeof(float)));
  }
};

std::string importError(const std::string& dir) {
  try {
    importMl5Checkpoint(dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

// Golden outputs from an independent numpy implementation (SOURCES.md, reference/).
TEST(Models_FastStyleNetwork, MatchesReferenceOutputs) {
  const nlohmann::json reference = nlohmann::json::parse(std::ifstream(kReference + "reference.json"));
  for (const std::string style : {"wave", "udnie"}) {
    FastStyleNetwork net(kMl5 + style, "cpu");
    EXPECT_EQ(net.name(), style);
    for (const std::string size : {"96x72", "90x70"}) {
      SCOPED_TRACE(style + " " + size);
      const std::string key = style + "_tubingen_" + size + ".png";
      const cv::Mat input = readRgb(kReference + "tubingen_" + size + ".png");
      const cv::Mat expected = readRgb(kReference + key);
      const cv::Mat out = net.raw(input);
      ASSERT_EQ(out.type(), CV_32FC3);
      // The raw network rounds each stride-2 conv up: 90x70 -> 92x72.
      ASSERT_EQ(out.size(), expected.size());
      if (size == "90x70") {
        EXPECT_EQ(out.size(), cv::Size(92, 72));
      }
      cv::Mat out8;
      out.convertTo(out8, CV_8UC3);  // rounds to nearest
      const Diff d = diff8(out8, expected);
      EXPECT_LE(d.maxAbs, 2.0);
      EXPECT_LT(d.meanAbs, 0.5);
      RecordProperty(style + "_" + size + "_max_abs", std::to_string(d.maxAbs));
      RecordProperty(style + "_" + size + "_mean_abs", std::to_string(d.meanAbs));
      RecordProperty(style + "_" + size + "_mean", std::to_string(cv::mean(out.reshape(1))[0]));
      const double refMean = reference.at(key).at("mean").get<double>();
      EXPECT_NEAR(cv::mean(out.reshape(1))[0], refMean, 0.01);
      double lo = 0, hi = 0;
      cv::minMaxLoc(out.reshape(1), &lo, &hi);
      EXPECT_GE(lo, 0.0);
      EXPECT_LE(hi, 255.0);
    }
  }
}

TEST(Models_FastStyleNetwork, ImportNamesKeysAndMetadata) {
  const auto file = importMl5Checkpoint(kMl5 + "wave/");
  EXPECT_EQ(file.metadata.at("flowstyle.arch"), "johnson_ml5");
  EXPECT_EQ(file.metadata.at("flowstyle.name"), "wave");
  EXPECT_EQ(file.metadata.at("flowstyle.preprocess"), "rgb_0_255");
  EXPECT_EQ(file.tensors.size(), 48u);
  EXPECT_EQ(file.tensors.at("conv1.weight").sizes(), torch::IntArrayRef({32, 3, 9, 9}));
  EXPECT_EQ(file.tensors.at("deconv1.weight").sizes(), torch::IntArrayRef({128, 64, 3, 3}));
  EXPECT_EQ(file.tensors.at("res5.in2.scale").sizes(), torch::IntArrayRef({128}));
  // Layout: ml5 Variable [kh,kw,in,out] element (kh=1,kw=2,in=0,out=5) is PyTorch [5,0,1,2].
  std::ifstream raw(kMl5 + "wave/Variable", std::ios::binary);
  std::vector<float> v(9 * 9 * 3 * 32);
  raw.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  const float expected = v[((1 * 9 + 2) * 3 + 0) * 32 + 5];
  EXPECT_EQ(file.tensors.at("conv1.weight")[5][0][1][2].item<float>(), expected);
}

TEST(Models_FastStyleNetwork, ImportErrorsNameTheVariable) {
  {
    BrokenCheckpoint c("missing_file");
    c.writeManifest();
    fs::remove(fs::path(c.dir) / "Variable_12");
    const std::string e = importError(c.dir);
    EXPECT_NE(e.find("Variable_12"), std::string::npos) << e;
    EXPECT_NE(e.find("missing"), std::string::npos) << e;
  }
  {
    BrokenCheckpoint c("wrong_shape");
    c.variable("Variable_15").at("shape").back() = 64;
    c.writeManifest();
    const std::string e = importError(c.dir);
    EXPECT_NE(e.find("manifest.json: 'Variable_15' has shape [3,3,128,64], expected [3,3,128,128]"),
              std::string::npos)
        << e;
  }
  {
    BrokenCheckpoint c("truncated");
    c.writeManifest();
    c.replaceFile("Variable_20", std::vector<float>(100, 0.5f));
    const std::string e = importError(c.dir);
    EXPECT_NE(e.find("Variable_20: 'Variable_20' has 400 bytes, expected 512"), std::string::npos)
        << e;
  }
  {
    BrokenCheckpoint c("not_finite");
    c.writeManifest();
    std::vector<float> v(128, 1.0f);
    v[7] = std::nanf("");
    c.replaceFile("Variable_38", v);
    const std::string e = importError(c.dir);
    EXPECT_NE(e.find("'Variable_38' holds NaN"), std::string::npos) << e;
  }
  {
    BrokenCheckpoint c("missing_entry");
    c.manifest.erase("Variable_47");
    c.writeManifest();
    const std::string e = importError(c.dir);
    EXPECT_NE(e.find("manifest.json: 'Variable_47' is missing"), std::string::npos) << e;
  }
  {
    const std::string e = importError(scratchDir("no_manifest"));
    EXPECT_NE(e.find("manifest.json: cannot open"), std::string::npos) << e;
  }
}

// The manifest is read by the JSON library (bounded: size, depth); whatever it rejects,
// including a number beyond a double (nlohmann's out_of_range, not a std::runtime_error),
// comes back as one line naming the manifest and, past the JSON, the variable.
TEST(Models_FastStyleNetwork, ImportRejectsBadManifestsInOneLine) {
  BrokenCheckpoint c("bad_manifest");
  const auto expectError = [&](const std::string& text, const std::string& what) {
    c.writeManifestText(text);
    const std::string e = importError(c.dir);
    EXPECT_NE(e.find("manifest.json: " + what), std::string::npos) << text.substr(0, 80) << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  };
  expectError("{\"Variable\": {", "bad JSON at byte");
  expectError("{\"Variable\": {\"filename\": \"Variable\", \"shape\": [1e999]}}", "bad JSON");
  expectError(std::string(20, '[') + std::string(20, ']'), "bad JSON: nested deeper than 8");
  expectError(std::string(2'000'000, ' ') + "{}", "2000002 bytes, more than a manifest's limit");
  expectError("[1, 2]", "'Variable' is missing");
  expectError("{\"Variable\": 3}", "'Variable' lacks \"filename\" or \"shape\"");
  expectError("{\"Variable\": {\"filename\": 7, \"shape\": [9, 9, 3, 32]}}", "'Variable' lacks");
  expectError("{\"Variable\": {\"filename\": \"Variable\", \"shape\": [9, 9, 3, \"32\"]}}",
              "'Variable' has a non-integer shape");
  expectError("{\"Variable\": {\"filename\": \"Variable\", \"shape\": [9, 9, 3, 32.5]}}",
              "'Variable' has a non-integer shape");
  expectError("{\"Variable\": {\"filename\": \"Variable\", \"shape\": [9, 9, 3, 18446744073709551615]}}",
              "'Variable' has a non-integer shape");
  expectError("{\"Variable\": {\"filename\": \"../Variable\", \"shape\": [9, 9, 3, 32]}}",
              "'Variable' names file '../Variable' outside the folder");
  // The real manifests write every dimension as a JSON number; all of them import.
  for (const auto& style : fs::directory_iterator(kMl5)) {
    if (!fs::exists(style.path() / "manifest.json")) continue;
    SCOPED_TRACE(style.path().string());
    EXPECT_EQ(importMl5Checkpoint(style.path().string()).tensors.size(), 48u);
  }
}

// The stride-2 transposed conv as conv + pixel shuffle equals torch's own.
TEST(Models_FastStyleNetwork, TransposedConvByShuffleEqualsConvTranspose2d) {
  torch::manual_seed(7);
  using torch::indexing::Slice;
  for (auto [h, w] : {std::pair<int, int>{7, 6}, {1, 1}, {2, 5}, {12, 9}}) {
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    auto x = torch::randn({2, 5, h, w});
    auto weight = torch::randn({5, 4, 3, 3});
    auto expected = torch::conv_transpose2d(x, weight, {}, 2, 0)
                        .index({Slice(), Slice(), Slice(0, 2 * h), Slice(0, 2 * w)});
    auto got = flowstyle::models::detail::transposedConvByShuffle(
        x, flowstyle::models::detail::transposedConvAsConvWeight(weight));
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_LT((got - expected).abs().max().item<float>(), 1e-4);
  }
}

// A 9x9 (and 3x3) SAME conv as pixel_unshuffle + coarse conv + pixel_shuffle equals conv2d.
TEST(Models_FastStyleNetwork, ConvBySpaceToDepthEqualsConv2d) {
  torch::manual_seed(11);
  for (auto [k, h, w] : {std::tuple<int, int, int>{9, 10, 6}, {9, 2, 2}, {3, 8, 12}, {5, 4, 6}}) {
    SCOPED_TRACE(std::to_string(k) + ": " + std::to_string(h) + "x" + std::to_string(w));
    auto x = torch::randn({2, 4, h, w});
    auto weight = torch::randn({3, 4, k, k});
    auto expected = torch::conv2d(x, weight, {}, 1, (k - 1) / 2);
    auto got = flowstyle::models::detail::convBySpaceToDepth(
        x, flowstyle::models::detail::spaceToDepthConvWeight(weight));
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_LT((got - expected).abs().max().item<float>(), 1e-3);
  }
}

TEST(Models_FastStyleNetwork, OptionsGiveTheSameOutput) {
  const cv::Mat input = readRgb(kReference + "tubingen_90x70.png");
  FastStyleNetwork base(kMl5 + "wave", "cpu");
  const cv::Mat expected = base.raw(input);
  for (const FastNetworkOptions opt :
       {FastNetworkOptions{true, Layout::Nchw, true}, FastNetworkOptions{false, Layout::Nchw, true},
        FastNetworkOptions{false, Layout::ChannelsLast, true},
        FastNetworkOptions{false, Layout::Nchw, false},
        FastNetworkOptions{false, Layout::ChannelsLast, false},
        FastNetworkOptions{false, Layout::ChannelsLast, true, flowstyle::models::Precision::Float32, -1, 1.0,
                           false}}) {
    SCOPED_TRACE(std::to_string(opt.nativeTransposedConv) + std::to_string(static_cast<int>(opt.layout)) + std::to_string(opt.packedWeights) +
                 std::to_string(opt.spaceToDepth));
    FastStyleNetwork net(kMl5 + "wave", "cpu", opt);
    const cv::Mat got = net.raw(input);
    double maxAbs = 0;
    cv::Mat d;
    cv::absdiff(got, expected, d);
    cv::minMaxLoc(d.reshape(1), nullptr, &maxAbs);
    EXPECT_LT(maxAbs, 1e-2);
  }
}

TEST(Models_FastStyleNetwork, KeepsFrameSizeAndPadsByReplicatingTheEdge) {
  FastNetworkOptions noBorder;
  noBorder.borderPad = 0;
  FastStyleNetwork net(kMl5 + "udnie", "cpu", noBorder);
  const cv::Mat input = readRgb(kReference + "tubingen_90x70.png");
  // 90x70 is padded to 92x72 by repeating the last row/column, run, and cropped.
  const cv::Mat out = net({input})[0];
  ASSERT_EQ(out.size(), input.size());
  ASSERT_EQ(out.type(), CV_8UC3);
  cv::Mat padded;
  cv::copyMakeBorder(input, padded, 0, 2, 0, 2, cv::BORDER_REPLICATE);
  cv::Mat rawOut;
  net.raw(padded)(cv::Rect(0, 0, 90, 70)).convertTo(rawOut, CV_8UC3);
  EXPECT_LE(diff8(out, rawOut).maxAbs, 1.0);
  // Multiples of 4 go through unchanged: same as the raw network.
  const cv::Mat input96 = readRgb(kReference + "tubingen_96x72.png");
  cv::Mat raw96;
  net.raw(input96).convertTo(raw96, CV_8UC3);
  EXPECT_LE(diff8(net({input96})[0], raw96).maxAbs, 1.0);

  for (const cv::Size size : {cv::Size(2, 2), cv::Size(1, 1), cv::Size(33, 17)}) {
    SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height));
    cv::Mat small;
    cv::resize(input, small, size, 0, 0, cv::INTER_AREA);
    const auto result = net({small});
    ASSERT_EQ(result.size(), 1u);
    EXPECT_EQ(result[0].size(), size);
    EXPECT_EQ(result[0].type(), CV_8UC3);
  }
}

// The border pad is a reflection of the frame on every side, cropped after the network;
// on frames smaller than the pad it shrinks to what reflection allows.
TEST(Models_FastStyleNetwork, BorderPadReflectsTheFrameAndCropsAgain) {
  using flowstyle::models::borderPadFor;
  using flowstyle::models::kAutoBorderPad;
  EXPECT_EQ(borderPadFor(-1, 640, 360), kAutoBorderPad);
  EXPECT_EQ(borderPadFor(0, 640, 360), 0);
  EXPECT_EQ(borderPadFor(20, 640, 360), 20);
  EXPECT_EQ(borderPadFor(-1, 30, 17), 16);
  EXPECT_EQ(borderPadFor(-1, 1, 1), 0);

  const cv::Mat input = readRgb(kReference + "tubingen_90x70.png");
  FastNetworkOptions o;
  o.borderPad = 12;
  FastStyleNetwork net(kMl5 + "udnie", "cpu", o);
  const cv::Mat out = net({input})[0];
  ASSERT_EQ(out.size(), input.size());
  // 90x70 + 2*12 = 114x94, then edge-replicated to 116x96.
  cv::Mat padded;
  cv::copyMakeBorder(input, padded, 12, 12, 12, 12, cv::BORDER_REFLECT_101);  // torch's reflection
  cv::copyMakeBorder(padded, padded, 0, 2, 0, 2, cv::BORDER_REPLICATE);
  cv::Mat rawOut;
  net.raw(padded)(cv::Rect(12, 12, 90, 70)).convertTo(rawOut, CV_8UC3);
  EXPECT_LE(diff8(out, rawOut).maxAbs, 1.0);
  FastNetworkOptions off;
  off.borderPad = 0;
  FastStyleNetwork plain(kMl5 + "udnie", "cpu", off);
  EXPECT_GT(diff8(out, plain({input})[0]).meanAbs, 1.0);  // the pad changed something

  for (const cv::Size size : {cv::Size(1, 1), cv::Size(2, 3), cv::Size(33, 17)}) {
    SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height));
    cv::Mat small;
    cv::resize(input, small, size, 0, 0, cv::INTER_AREA);
    FastStyleNetwork autoPad(kMl5 + "udnie", "cpu");
    EXPECT_EQ(autoPad({small})[0].size(), size);
  }
}

// The networks were trained with zero padding and paint a coloured frame a few tens of
// pixels wide along every border (la_muse worst). On a flat grey frame the output should
// be a stationary texture: the mean colour of the 8-px border band vs the interior's
// (16 px or more from every edge). With the default reflect pad the frame falls outside.
TEST(Models_FastStyleNetwork, DefaultBorderPadRemovesThePaintedFrame) {
  const cv::Mat flat(cv::Size(320, 192), CV_8UC3, cv::Scalar(128, 128, 128));
  auto borderDiff = [&](int pad) {
    FastNetworkOptions o;
    o.borderPad = pad;
    FastStyleNetwork net(kMl5 + "la_muse", "cpu", o);
    const cv::Mat out = net({flat})[0];
    cv::Mat band(out.size(), CV_8U, cv::Scalar(255)), inner(out.size(), CV_8U, cv::Scalar(0));
    band(cv::Rect(8, 8, out.cols - 16, out.rows - 16)).setTo(0);
    inner(cv::Rect(16, 16, out.cols - 32, out.rows - 32)).setTo(255);
    const cv::Scalar a = cv::mean(out, band), b = cv::mean(out, inner);
    double worst = 0;
    for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(a[c] - b[c]));
    return worst;
  };
  const double off = borderDiff(0), on = borderDiff(-1);
  RecordProperty("la_muse_flat_border_diff_pad0", std::to_string(off));
  RecordProperty("la_muse_flat_border_diff_default", std::to_string(on));
  std::printf("la_muse 320x192 flat grey: border band vs interior %.2f without pad, %.2f with the default\n", off, on);
  EXPECT_GT(off, 10.0);  // the frame is there without the pad (the test can fail)
  EXPECT_LT(on, 4.0);
  EXPECT_LT(on, off / 4);
}

TEST(Models_FastStyleNetwork, BatchEqualsSingleRuns) {
  FastStyleNetwork net(kMl5 + "wave", "cpu");
  const cv::Mat input = readRgb(kReference + "tubingen_90x70.png");
  cv::Mat flipped, shifted;
  cv::flip(input, flipped, 1);
  cv::Mat(input + cv::Scalar(40, -30, 10)).copyTo(shifted);
  const std::vector<cv::Mat> frames = {input, flipped, shifted};
  const auto batch = net(frames);
  ASSERT_EQ(batch.size(), 3u);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    SCOPED_TRACE(i);
    const auto single = net({frames[i]});
    EXPECT_LE(diff8(batch[i], single[0]).maxAbs, 1.0);
  }
  // Different inputs give different outputs (the comparison above can fail).
  EXPECT_GT(diff8(batch[0], batch[2]).meanAbs, 1.0);
}

// RMS of (a - b) over all channels, on 0..255.
double rms8(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat fa, fb;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  const cv::Mat d = fa - fb;
  const cv::Mat sq = d.mul(d);
  return std::sqrt(cv::mean(sq.reshape(1))[0]);
}

TEST(Models_FastStyleNetwork, TileGridCoversTheFrameInCoresOfAtMostTheTile) {
  const auto g = flowstyle::models::fastTileGrid(396, 296, 64);
  EXPECT_EQ(g.cols, 7);
  EXPECT_EQ(g.rows, 5);
  EXPECT_EQ(g.xs.front(), 0);
  EXPECT_EQ(g.xs.back(), 396);
  EXPECT_EQ(g.ys.back(), 296);
  for (int c = 0; c < g.cols; ++c) {
    EXPECT_EQ(g.xs[c] % 4, 0);
    EXPECT_GT(g.coreWidth(c), 0);
    EXPECT_LE(g.coreWidth(c), 64);
  }
  EXPECT_EQ(g.describe(), "7x5 tiles of 64 px, halo 16");
  EXPECT_FALSE(flowstyle::models::fastTileGrid(396, 296, 400).tiled());
  EXPECT_THROW(flowstyle::models::fastTileGrid(397, 296, 64), std::invalid_argument);
}

// Tiles with whole-frame norm statistics give the whole-frame output: on a 300x200 frame
// (396x296 with the border pad) in 7x5 tiles of 64 px, in both layouts, also at a size
// that is not a multiple of 4.
TEST(Models_FastStyleNetwork, TiledEqualsWholeFrame) {
  cv::Mat picture = readRgb(kShared + "/media/stills/tubingen.jpg");
  for (const cv::Size size : {cv::Size(300, 200), cv::Size(203, 141)}) {
    cv::Mat input;
    cv::resize(picture, input, size, 0, 0, cv::INTER_AREA);
    for (const Layout layout : {Layout::ChannelsLast, Layout::Nchw}) {
      SCOPED_TRACE(std::to_string(size.width) + " layout " + std::to_string(static_cast<int>(layout)));
      FastNetworkOptions whole;
      whole.layout = layout;
      whole.precision = flowstyle::models::Precision::Float32;
      FastNetworkOptions tiled = whole;
      tiled.tile = 64;
      FastStyleNetwork a(kMl5 + "wave", "cpu", whole), b(kMl5 + "wave", "cpu", tiled);
      const cv::Mat expected = a({input})[0], got = b({input})[0];
      EXPECT_TRUE(a.tiling().empty());
      EXPECT_FALSE(b.tiling().empty());  // it did tile
      ASSERT_EQ(got.size(), input.size());
      const double rms = rms8(got, expected);
      std::printf("wave %dx%d layout %d: tiled (%s) vs whole RMS %.4f, max %.0f of 255\n", size.width,
                  size.height, static_cast<int>(layout), b.tiling().c_str(), rms, diff8(got, expected).maxAbs);
      EXPECT_LE(rms, 0.05);
      EXPECT_LE(diff8(got, expected).maxAbs, 1.0);
    }
  }
  // The comparison can fail: per-tile statistics (each 64 px tile a frame of its own) differ.
  cv::Mat input;
  cv::resize(picture, input, cv::Size(300, 200), 0, 0, cv::INTER_AREA);
  FastStyleNetwork whole(kMl5 + "wave", "cpu");
  const cv::Mat left = input(cv::Rect(0, 0, 64, 200)).clone();
  EXPECT_GT(rms8(whole({left})[0], whole({input})[0](cv::Rect(0, 0, 64, 200))), 5.0);
}

TEST(Models_FastStyleNetwork, TiledNamesItsGrid) {
  FastNetworkOptions o;
  o.tile = 128;
  FastStyleNetwork net(kMl5 + "wave", "cpu", o);
  net({cv::Mat(200, 300, CV_8UC3, cv::Scalar(90, 120, 150))});
  EXPECT_EQ(net.tiling(), "4x3 tiles of 128 px, halo 16");  // 396x296 with the 48 px border pad
  o.tile = 1024;  // one tile covers the frame: it runs whole
  FastStyleNetwork big(kMl5 + "wave", "cpu", o);
  big({cv::Mat(200, 300, CV_8UC3, cv::Scalar(90, 120, 150))});
  EXPECT_EQ(big.tiling(), "");
}

TEST(Models_FastStyleNetwork, RejectsMixedSizesAndWrongTypes) {
  FastStyleNetwork net(kMl5 + "wave", "cpu");
  const cv::Mat a(8, 8, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Mat b(8, 9, CV_8UC3, cv::Scalar(1, 2, 3));
  EXPECT_THROW(net({a, b}), std::runtime_error);
  EXPECT_THROW(net({cv::Mat(8, 8, CV_8UC1, cv::Scalar(0))}), std::runtime_error);
  EXPECT_TRUE(net({}).empty());
}

TEST(Models_FastStyleNetwork, SafetensorsRoundTripEqualsFolder) {
  const std::string dir = scratchDir("safetensors");
  const std::string path = dir + "/wave.safetensors";
  flowstyle::models::writeSafetensors(path, importMl5Checkpoint(kMl5 + "wave"));
  const auto meta = flowstyle::models::readSafetensorsMetadata(path);
  EXPECT_EQ(meta.at("flowstyle.arch"), "johnson_ml5");
  EXPECT_EQ(meta.at("flowstyle.name"), "wave");

  FastStyleNetwork fromFile(path, "cpu");
  FastStyleNetwork fromFolder(kMl5 + "wave", "cpu");
  EXPECT_EQ(fromFile.name(), "wave");
  const cv::Mat input = readRgb(kReference + "tubingen_90x70.png");
  cv::Mat d;
  cv::absdiff(fromFile.raw(input), fromFolder.raw(input), d);
  double maxAbs = 0;
  cv::minMaxLoc(d.reshape(1), nullptr, &maxAbs);
  EXPECT_EQ(maxAbs, 0.0);
}

TEST(Models_FastStyleNetwork, SafetensorsLoadChecksNamesShapesAndValues) {
  const std::string dir = scratchDir("safetensors_bad");
  const auto good = importMl5Checkpoint(kMl5 + "wave");
  auto loadError = [&](const flowstyle::models::TensorFile& file, const std::string& name) {
    const std::string path = dir + "/" + name + ".safetensors";
    flowstyle::models::writeSafetensors(path, file);
    try {
      FastStyleNetwork net(path, "cpu");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  {
    auto file = good;
    file.tensors["res1.conv1.weight"] = torch::zeros({128, 64, 3, 3});
    const std::string e = loadError(file, "shape");
    EXPECT_NE(e.find("shape.safetensors: 'res1.conv1.weight' has shape [128,64,3,3], "
                     "expected [128,128,3,3]"),
              std::string::npos)
        << e;
  }
  {
    auto file = good;
    file.tensors.erase("in6.scale");
    const std::string e = loadError(file, "missing");
    EXPECT_NE(e.find("missing.safetensors: 'in6.scale' is missing"), std::string::npos) << e;
  }
  {
    auto file = good;
    file.tensors["in3.shift"] = file.tensors["in3.shift"].clone();
    file.tensors["in3.shift"][5] = std::numeric_limits<float>::infinity();
    const std::string e = loadError(file, "inf");
    EXPECT_NE(e.find("inf.safetensors: 'in3.shift' holds NaN or infinite"), std::string::npos)
        << e;
  }
  {
    auto file = good;
    file.metadata["flowstyle.arch"] = "vgg19";
    const std::string e = loadError(file, "arch");
    EXPECT_NE(e.find("arch.safetensors: flowstyle.arch is 'vgg19'"), std::string::npos) << e;
  }
  {
    // Half precision is accepted and converted.
    auto file = good;
    for (auto& [key, t] : file.tensors) t = t.to(torch::kHalf);
    EXPECT_EQ(loadError(file, "half"), "(no error)");
  }
}

// ---------------------------------------------------------------- number formats

namespace {

using flowstyle::models::Precision;

double rmsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat fa, fb;
  a.convertTo(fa, CV_64F);
  b.convertTo(fb, CV_64F);
  return cv::norm(fa, fb, cv::NORM_L2) / std::sqrt(static_cast<double>(a.total() * a.channels()));
}

// A 160x96 frame with real structure (the golden input, enlarged).
cv::Mat testFrame() {
  cv::Mat frame;
  cv::resize(readRgb(kReference + "tubingen_96x72.png"), frame, cv::Size(160, 96), 0, 0,
             cv::INTER_CUBIC);
  return frame;
}

FastNetworkOptions withPrecision(Precision p, double tolerance = 1.0) {
  FastNetworkOptions o;
  o.precision = p;
  o.tolerance = tolerance;
  return o;
}

}  // namespace

TEST(Models_FastPrecision, ParsesNamesAndRejectsOthers) {
  using flowstyle::models::parsePrecision;
  EXPECT_EQ(parsePrecision("auto"), Precision::Auto);
  EXPECT_EQ(parsePrecision("float32"), Precision::Float32);
  EXPECT_EQ(parsePrecision("bf16"), Precision::BFloat16);
  EXPECT_EQ(parsePrecision("half"), Precision::Float16);
  for (Precision p : {Precision::Auto, Precision::Float32, Precision::BFloat16, Precision::Float16}) {
    EXPECT_EQ(parsePrecision(flowstyle::models::toString(p)), p);
  }
  try {
    parsePrecision("float64");
    ADD_FAILURE() << "float64 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("float64"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
  }
}

// bfloat16 keeps 8 significant bits: the output moves a little, but stays close to the
// float32 network and to the golden reference, at every size.
TEST(Models_FastPrecision, BFloat16StaysCloseToFloat32) {
  FastStyleNetwork f32(kMl5 + "wave", "cpu", withPrecision(Precision::Float32));
  FastStyleNetwork bf16(kMl5 + "wave", "cpu", withPrecision(Precision::BFloat16));
  EXPECT_EQ(bf16.precision().used, Precision::BFloat16);
  EXPECT_EQ(bf16.precision().describe(), "bfloat16");

  const cv::Mat golden = readRgb(kReference + "wave_tubingen_96x72.png");
  cv::Mat raw8;
  bf16.raw(readRgb(kReference + "tubingen_96x72.png")).convertTo(raw8, CV_8UC3);
  const double goldenRms = rmsDiff(raw8, golden);
  RecordProperty("bf16_golden_rms", std::to_string(goldenRms));
  EXPECT_LT(goldenRms, 1.0);

  const cv::Mat frame = testFrame();
  const cv::Mat a = f32({frame})[0], b = bf16({frame})[0];
  const double rms = rmsDiff(a, b);
  RecordProperty("bf16_vs_f32_rms_160x96", std::to_string(rms));
  EXPECT_LT(rms, 1.0);
  EXPECT_GT(rms, 0.0);  // it really ran in bfloat16
  EXPECT_LT(diff8(a, b).meanAbs, 0.5);
  // Reproducible: the same input gives the same output.
  EXPECT_EQ(diff8(b, bf16({frame})[0]).maxAbs, 0.0);
  // Odd sizes come back at their own size in bfloat16 too.
  cv::Mat odd;
  cv::resize(frame, odd, cv::Size(45, 31), 0, 0, cv::INTER_AREA);
  EXPECT_EQ(bf16({odd})[0].size(), odd.size());
}

TEST(Models_FastPrecision, BFloat16ChannelsLastAgrees) {
  FastNetworkOptions cl = withPrecision(Precision::BFloat16);
  cl.layout = Layout::ChannelsLast;
  FastStyleNetwork f32(kMl5 + "udnie", "cpu", withPrecision(Precision::Float32));
  FastStyleNetwork bf16cl(kMl5 + "udnie", "cpu", cl);
  const cv::Mat frame = testFrame();
  EXPECT_LT(rmsDiff(f32({frame})[0], bf16cl({frame})[0]), 1.0);
}

TEST(Models_FastPrecision, Float16OnTheCpuIsAClearError) {
  try {
    FastStyleNetwork net(kMl5 + "wave", "cpu", withPrecision(Precision::Float16));
    ADD_FAILURE() << "float16 on the CPU accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

// Auto decides on the first call: the device's reduced format when it agrees with
// float32 within the tolerance, float32 otherwise.
TEST(Models_FastPrecision, AutoKeepsTheReducedFormatOnlyWithinTolerance) {
  const Precision reduced = flowstyle::models::reducedPrecisionFor(torch::Device(torch::kCPU));
  const cv::Mat frame = testFrame();
  FastStyleNetwork f32(kMl5 + "wave", "cpu", withPrecision(Precision::Float32));
  const cv::Mat expected = f32({frame})[0];

  FastStyleNetwork autoNet(kMl5 + "wave", "cpu", withPrecision(Precision::Auto));
  EXPECT_EQ(autoNet.precision().requested, Precision::Auto);
  const cv::Mat got = autoNet({frame})[0];
  const auto& choice = autoNet.precision();
  RecordProperty("auto_cpu", choice.describe());
  if (reduced == Precision::Float32) {
    // No faster format on this CPU: float32 from the start, nothing measured.
    EXPECT_EQ(choice.used, Precision::Float32);
    EXPECT_LT(choice.rmsDiff, 0.0);
    EXPECT_EQ(diff8(got, expected).maxAbs, 0.0);
    GTEST_SKIP() << "this CPU has no native bfloat16; the tolerance fallback is untested here";
  }
  EXPECT_EQ(choice.used, reduced);
  EXPECT_GT(choice.rmsDiff, 0.0);
  EXPECT_LE(choice.rmsDiff, 1.0);
  EXPECT_GE(choice.maxDiff, choice.rmsDiff);
  EXPECT_NE(choice.describe().find("RMS difference"), std::string::npos) << choice.describe();
  FastStyleNetwork explicitNet(kMl5 + "wave", "cpu", withPrecision(reduced));
  EXPECT_EQ(diff8(got, explicitNet({frame})[0]).maxAbs, 0.0);
  // Later calls stay in the chosen format.
  EXPECT_EQ(diff8(autoNet({frame})[0], got).maxAbs, 0.0);

  // A tolerance nothing meets: float32, and the output is float32's.
  FastStyleNetwork strict(kMl5 + "wave", "cpu", withPrecision(Precision::Auto, 0.0));
  const cv::Mat strictOut = strict({frame})[0];
  EXPECT_EQ(strict.precision().used, Precision::Float32);
  EXPECT_GT(strict.precision().rmsDiff, 0.0);
  EXPECT_NE(strict.precision().describe().find("rejected"), std::string::npos);
  EXPECT_EQ(diff8(strictOut, expected).maxAbs, 0.0);
}

// Runs only where LibTorch sees a GPU (never in CI here): float16 on CUDA against
// float32 on the CPU.
TEST(Models_FastPrecision, Float16OnCudaStaysCloseToFloat32) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const cv::Mat frame = testFrame();
  FastStyleNetwork cpu(kMl5 + "wave", "cpu", withPrecision(Precision::Float32));
  FastStyleNetwork half(kMl5 + "wave", "cuda", withPrecision(Precision::Float16));
  FastStyleNetwork autoNet(kMl5 + "wave", "cuda", withPrecision(Precision::Auto));
  const cv::Mat expected = cpu({frame})[0];
  const double rms = rmsDiff(expected, half({frame})[0]);
  RecordProperty("fp16_vs_f32_rms", std::to_string(rms));
  EXPECT_LT(rms, 0.5);
  autoNet({frame});
  EXPECT_EQ(autoNet.precision().used, Precision::Float16) << autoNet.precision().describe();
}
