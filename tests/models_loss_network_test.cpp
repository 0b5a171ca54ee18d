#include <gtest/gtest.h>

#include "tests/test_support.hpp"

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>

#include "models/loss_network.hpp"
#include "models/safetensors.hpp"

namespace fs = std::filesystem;
using namespace flowstyle::models;

namespace {

const std::string kShared = FLOWSTYLE_SHARED_DIR;
const std::string kVgg = kShared + "/models/vgg19-caffe-conv1_1-conv5_1.safetensors";
const std::string kSqueeze = kShared + "/models/squeezenet1_1-caffe-trunk.safetensors";

std::string tmpDir(const std::string& name) {
  fs::path p = fs::path(FLOWSTYLE_TEST_TMP) / ("loss_network_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

using flowstyle::test::errorOf;

const TensorFile& vggFile() {
  static const TensorFile f = readSafetensors(kVgg);
  return f;
}
const TensorFile& squeezeFile() {
  static const TensorFile f = readSafetensors(kSqueeze);
  return f;
}

// Central finite-difference check of d f / d x for a scalar f, in double precision.
void expectGradientMatches(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                           torch::Tensor x) {
  x = x.clone().set_requires_grad(true);
  auto y = f(x);
  y.backward();
  auto grad = x.grad().clone();
  const double h = 1e-6;
  auto flat = x.detach().clone().view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    auto plus = flat.clone(), minus = flat.clone();
    plus[i] += h;
    minus[i] -= h;
    double fd = (f(plus.view(x.sizes())).item<double>() - f(minus.view(x.sizes())).item<double>()) /
                (2 * h);
    double an = grad.view(-1)[i].item<double>();
    EXPECT_NEAR(an, fd, 1e-6 * std::max(1.0, std::abs(fd))) << "element " << i;
  }
}

auto kDouble = torch::TensorOptions().dtype(torch::kDouble);

}  // namespace

TEST(Models_Losses, GramMatchesNaiveLoop) {
  torch::manual_seed(1);
  auto f = torch::randn({2, 3, 4, 5}, kDouble);
  auto g = losses::gramMatrix(f);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{2, 3, 3}));
  auto a = f.accessor<double, 4>();
  for (int n = 0; n < 2; ++n)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        double s = 0;
        for (int y = 0; y < 4; ++y)
          for (int x = 0; x < 5; ++x) s += a[n][i][y][x] * a[n][j][y][x];
        EXPECT_NEAR(g[n][i][j].item<double>(), s / (3 * 4 * 5), 1e-12);
      }
}

TEST(Models_Losses, GramFloatCpuPathMatchesDouble) {
  // float32 on the CPU takes a convolution path (fast in oneDNN); it must agree with the
  // double-precision product, in value and gradient.
  torch::manual_seed(4);
  auto fd = torch::rand({2, 16, 9, 11}, kDouble).set_requires_grad(true);
  auto ff = fd.detach().to(torch::kFloat).set_requires_grad(true);
  auto w = torch::rand({2, 16, 16}, kDouble);
  auto gd = losses::gramMatrix(fd);
  auto gf = losses::gramMatrix(ff);
  EXPECT_LT((gf.to(torch::kDouble) - gd).abs().max().item<double>(), 1e-6);
  (gd * w).sum().backward();
  (gf * w.to(torch::kFloat)).sum().backward();
  EXPECT_LT((ff.grad().to(torch::kDouble) - fd.grad()).abs().max().item<double>(), 1e-6);
}

TEST(Models_Losses, ValuesOnKnownInputs) {
  // content: ||F - Fc||^2 / ||Fc||^2
  auto fc = torch::tensor({1.0, 2.0, 2.0}, kDouble).view({1, 3, 1, 1});
  auto f = torch::tensor({1.0, 2.0, 5.0}, kDouble).view({1, 3, 1, 1});
  EXPECT_NEAR(losses::content(f, fc).item<double>(), 9.0 / 9.0, 1e-12);
  // style on Gram matrices
  auto gs = torch::tensor({2.0, 0.0, 0.0, 2.0}, kDouble).view({1, 2, 2});
  auto g = torch::tensor({1.0, 1.0, 0.0, 2.0}, kDouble).view({1, 2, 2});
  EXPECT_NEAR(losses::style(g, gs).item<double>(), 2.0 / 8.0, 1e-12);
  // TV: a horizontal ramp 0, 0.5, 1 in each of 2 rows: dx^2 = 0.25 everywhere, dy = 0.
  auto ramp = torch::tensor({0.0, 0.5, 1.0, 0.0, 0.5, 1.0}, kDouble).view({1, 1, 2, 3});
  EXPECT_NEAR(losses::totalVariation(ramp).item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(losses::totalVariation(ramp.transpose(2, 3)).item<double>(), 0.25, 1e-12);
  // temporal: certainty selects pixels; D counts pixels x channels.
  auto x = torch::zeros({1, 3, 1, 2}, kDouble);
  auto w = torch::ones({1, 3, 1, 2}, kDouble);
  auto c = torch::tensor({1.0, 0.0}, kDouble).view({1, 1, 1, 2});
  EXPECT_NEAR(losses::temporal(x, w, c).item<double>(), 3.0 / 6.0, 1e-12);
}

TEST(Models_Losses, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  auto x = torch::rand({1, 3, 3, 4}, kDouble);
  auto target = torch::rand({1, 3, 3, 4}, kDouble);
  auto targetGram = losses::gramMatrix(torch::rand({1, 3, 3, 4}, kDouble));
  auto certainty = torch::rand({1, 1, 3, 4}, kDouble);
  expectGradientMatches([&](const torch::Tensor& v) { return losses::content(v, target); }, x);
  expectGradientMatches(
      [&](const torch::Tensor& v) { return losses::style(losses::gramMatrix(v), targetGram); }, x);
  expectGradientMatches([&](const torch::Tensor& v) { return losses::totalVariation(v); }, x);
  expectGradientMatches(
      [&](const torch::Tensor& v) { return losses::temporal(v, target, certainty); }, x);
}

TEST(Models_LossNetwork, Vgg19PartialFileShapesAndMissingLayer) {
  auto net = loadLossNetwork(kVgg);
  EXPECT_EQ(net->arch(), "vgg19");
  EXPECT_EQ(net->path(), kVgg);
  EXPECT_EQ(net->layerNames().size(), 16u);
  const auto avail = net->availableLayers();
  ASSERT_EQ(avail.size(), 13u);
  EXPECT_EQ(avail.back(), "relu5_1");
  EXPECT_EQ(net->defaultContentLayer(), "relu4_2");
  EXPECT_EQ(net->defaultStyleLayers().back(), "relu5_1");

  torch::NoGradGuard noGrad;
  auto x = torch::rand({1, 3, 48, 64});
  auto feats = net->extract(x, avail);
  ASSERT_EQ(feats.size(), avail.size());
  const int channels[] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512};
  const int down[] = {1, 1, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 16};
  for (size_t i = 0; i < avail.size(); ++i) {
    const auto& f = feats.at(avail[i]);
    EXPECT_EQ(f.sizes(), (std::vector<int64_t>{1, channels[i], 48 / down[i], 64 / down[i]}))
        << avail[i];
    EXPECT_GE(f.min().item<float>(), 0.0f) << avail[i] << " is after a ReLU";
  }
  const std::string e = errorOf([&] { net->extract(x, {"relu1_1", "relu5_2"}); });
  EXPECT_NE(e.find(kVgg), std::string::npos) << e;
  EXPECT_NE(e.find("'relu5_2'"), std::string::npos) << e;
  EXPECT_NE(e.find("relu5_1"), std::string::npos) << "lists the available layers: " << e;
  const std::string u = errorOf([&] { net->extract(x, {"relu9_9"}); });
  EXPECT_NE(u.find("unknown layer 'relu9_9'"), std::string::npos) << u;
}

TEST(Models_LossNetwork, Vgg19MatchesFunctionalForward) {
  // relu2_1 computed by hand from the file's tensors with the Caffe preprocessing.
  auto net = loadLossNetwork(kVgg);
  const auto& t = vggFile().tensors;
  torch::NoGradGuard noGrad;
  torch::manual_seed(3);
  auto x = torch::rand({1, 3, 20, 18});
  auto mean = torch::tensor({103.939f, 116.779f, 123.68f}).view({1, 3, 1, 1});
  auto v = x.flip({1}) * 255 - mean;
  auto conv = [&](const torch::Tensor& in, int i) {
    auto k = "features." + std::to_string(i);
    return torch::relu(torch::conv2d(in, t.at(k + ".weight"), t.at(k + ".bias"), 1, 1));
  };
  auto r11 = conv(v, 0);
  auto r21 = conv(torch::max_pool2d(conv(r11, 2), 2, 2), 5);
  auto feats = net->extract(x, {"relu2_1", "relu1_1"});
  EXPECT_LT((feats.at("relu1_1") - r11).abs().max().item<float>(), 1e-3f);
  EXPECT_LT((feats.at("relu2_1") - r21).abs().max().item<float>(),
            1e-5f * r21.abs().max().item<float>() + 1e-3f);
}

TEST(Models_LossNetwork, SqueezeNetShapes) {
  auto net = loadLossNetwork(kSqueeze);
  EXPECT_EQ(net->arch(), "squeezenet1_1");
  const auto avail = net->availableLayers();
  ASSERT_EQ(avail.size(), 9u);
  EXPECT_EQ(avail.front(), "relu1");
  EXPECT_EQ(avail.back(), "fire9");
  torch::NoGradGuard noGrad;
  auto feats = net->extract(torch::rand({1, 3, 64, 64}), avail);
  // 64 -conv s2-> 31 -pool(ceil)-> 15 -pool-> 7 -pool-> 3
  const int channels[] = {64, 128, 128, 256, 256, 384, 384, 512, 512};
  const int side[] = {31, 15, 15, 7, 7, 3, 3, 3, 3};
  for (size_t i = 0; i < avail.size(); ++i)
    EXPECT_EQ(feats.at(avail[i]).sizes(),
              (std::vector<int64_t>{1, channels[i], side[i], side[i]}))
        << avail[i];
  // The fire module: 1x1 expansion first in the concatenation.
  const auto& t = squeezeFile().tensors;
  auto s = torch::relu(torch::conv2d(feats.at("fire8"), t.at("fire9.squeeze1x1.weight"),
                                     t.at("fire9.squeeze1x1.bias")));
  auto e1 = torch::relu(
      torch::conv2d(s, t.at("fire9.expand1x1.weight"), t.at("fire9.expand1x1.bias")));
  EXPECT_LT((feats.at("fire9").slice(1, 0, 256) - e1).abs().max().item<float>(), 1e-3f);
  EXPECT_NE(errorOf([&] { net->extract(torch::rand({1, 3, 64, 64}), {"relu4_2"}); })
                .find("unknown layer 'relu4_2'"),
            std::string::npos);
}

TEST(Models_LossNetwork, CaffePreprocessingOnKnownPixel) {
  auto net = loadLossNetwork(kVgg);
  EXPECT_EQ(net->preprocessing(), "caffe_bgr");
  auto x = torch::tensor({0.2f, 0.4f, 0.6f}).view({1, 3, 1, 1});
  auto p = net->preprocess(x);
  // RGB (51, 102, 153) -> BGR (153, 102, 51) minus (103.939, 116.779, 123.68)
  EXPECT_NEAR(p[0][0][0][0].item<float>(), 153 - 103.939, 1e-3);
  EXPECT_NEAR(p[0][1][0][0].item<float>(), 102 - 116.779, 1e-3);
  EXPECT_NEAR(p[0][2][0][0].item<float>(), 51 - 123.68, 1e-3);
  auto sq = loadLossNetwork(kSqueeze);
  EXPECT_NEAR(sq->preprocess(x)[0][0][0][0].item<float>(), 153 - 104.006, 1e-3);
}

TEST(Models_LossNetwork, FileWithoutMetadataUsesTorchvisionPreprocessing) {
  TensorFile f;
  f.tensors = vggFile().tensors;  // no metadata at all
  const std::string path = tmpDir("nometa") + "/vgg.safetensors";
  writeSafetensors(path, f);
  auto net = loadLossNetwork(path);
  EXPECT_EQ(net->arch(), "vgg19");  // from the key names
  EXPECT_EQ(net->preprocessing(), "torchvision");
  auto p = net->preprocess(torch::tensor({0.2f, 0.4f, 0.6f}).view({1, 3, 1, 1}));
  EXPECT_NEAR(p[0][0][0][0].item<float>(), (0.2 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(p[0][1][0][0].item<float>(), (0.4 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(p[0][2][0][0].item<float>(), (0.6 - 0.406) / 0.225, 1e-5);
  // ... and extract() feeds exactly that to the first conv.
  torch::NoGradGuard noGrad;
  auto x = torch::rand({1, 3, 8, 8});
  auto want = torch::relu(torch::conv2d(net->preprocess(x), f.tensors.at("features.0.weight"),
                                        f.tensors.at("features.0.bias"), 1, 1));
  EXPECT_LT((net->extract(x, {"relu1_1"}).at("relu1_1") - want).abs().max().item<float>(), 1e-5f);
}

// A complete torchvision / timm checkpoint carries a classifier head the loss network
// does not use; it must load as downloaded (issue: accept users' VGG19 files).
TEST(Models_LossNetwork, TimmAndTorchvisionClassifierKeysAreSkipped) {
  TensorFile f;
  f.tensors = vggFile().tensors;
  f.tensors["pre_logits.fc1.weight"] = torch::zeros({8, 512, 7, 7});
  f.tensors["pre_logits.fc1.bias"] = torch::zeros({8});
  f.tensors["head.fc.weight"] = torch::zeros({10, 8});
  f.tensors["classifier.6.weight"] = torch::zeros({10, 8});
  const std::string path = tmpDir("timm") + "/vgg19_tv_in1k.safetensors";
  writeSafetensors(path, f);
  auto net = loadLossNetwork(path);
  EXPECT_EQ(net->arch(), "vgg19");
  EXPECT_EQ(net->preprocessing(), "torchvision");
  EXPECT_EQ(net->extract(torch::rand({1, 3, 16, 16}), {"relu5_1"}).at("relu5_1").size(1), 512);
  f.tensors["extra.weight"] = torch::zeros({1});
  writeSafetensors(path, f);
  EXPECT_THROW(loadLossNetwork(path), std::runtime_error) << "other unknown keys are still an error";
}

TEST(Models_LossNetwork, WrongArchitectureIsAClearError) {
  // SqueezeNet weights declared as VGG19.
  TensorFile sq = squeezeFile();
  sq.metadata["flowstyle.arch"] = "vgg19";
  std::string e = errorOf([&] { makeLossNetwork(sq, "sq.safetensors"); });
  EXPECT_NE(e.find("sq.safetensors: "), std::string::npos) << e;
  EXPECT_NE(e.find("is not a vgg19 weight"), std::string::npos) << e;
  // An ml5 style network.
  TensorFile ml5;
  ml5.metadata["flowstyle.arch"] = "johnson_ml5";
  ml5.tensors["conv1.weight"] = torch::zeros({32, 3, 9, 9});
  ml5.tensors["in1.shift"] = torch::zeros({32});
  e = errorOf([&] { makeLossNetwork(ml5, "wave.safetensors"); });
  EXPECT_NE(e.find("'johnson_ml5' is not a loss network"), std::string::npos) << e;
  ml5.metadata.clear();  // from the keys alone: looks like SqueezeNet, but is not
  e = errorOf([&] { makeLossNetwork(ml5, "wave.safetensors"); });
  EXPECT_NE(e.find("wave.safetensors: "), std::string::npos) << e;
  EXPECT_TRUE(e.find("'in1.shift' is not a squeezenet1_1 weight") != std::string::npos ||
              e.find("has shape") != std::string::npos)
      << e;
  // Keys of nothing known.
  TensorFile odd;
  odd.tensors["encoder.layer0.weight"] = torch::zeros({4});
  e = errorOf([&] { makeLossNetwork(odd, "odd.safetensors"); });
  EXPECT_NE(e.find("cannot tell the architecture"), std::string::npos) << e;
  EXPECT_NE(e.find("encoder.layer0.weight"), std::string::npos) << e;
}

TEST(Models_LossNetwork, WrongShapeNamesTensorAndBothShapes) {
  TensorFile f = vggFile();
  f.tensors["features.19.weight"] = torch::zeros({512, 256, 3, 1});
  const std::string e = errorOf([&] { makeLossNetwork(f, "model.safetensors"); });
  EXPECT_EQ(e,
            "model.safetensors: 'features.19.weight' has shape [512,256,3,1], expected "
            "[512,256,3,3]");
}

TEST(Models_LossNetwork, NonFiniteWeightsAreAnError) {
  TensorFile f = squeezeFile();
  auto w = f.tensors.at("fire5.expand3x3.weight").clone();
  w[3][2][1][1] = std::numeric_limits<float>::quiet_NaN();
  f.tensors["fire5.expand3x3.weight"] = w;
  std::string e = errorOf([&] { makeLossNetwork(f, "sq.safetensors"); });
  EXPECT_NE(e.find("sq.safetensors: 'fire5.expand3x3.weight' holds NaN or Inf"), std::string::npos)
      << e;
  TensorFile g = vggFile();
  auto b = g.tensors.at("features.0.bias").clone();
  b[0] = std::numeric_limits<float>::infinity();
  g.tensors["features.0.bias"] = b;
  e = errorOf([&] { makeLossNetwork(g, "v.safetensors"); });
  EXPECT_NE(e.find("'features.0.bias' holds NaN or Inf"), std::string::npos) << e;
}

TEST(Models_LossNetwork, PartialLayersAndBadMetadata) {
  TensorFile f;
  for (const char* k : {"features.0.weight", "features.0.bias", "features.2.weight",
                        "features.2.bias", "features.5.weight", "features.5.bias"})
    f.tensors[k] = vggFile().tensors.at(k);
  f.metadata = vggFile().metadata;
  auto net = makeLossNetwork(f, "small.safetensors");
  EXPECT_EQ(net->availableLayers(), (std::vector<std::string>{"relu1_1", "relu1_2", "relu2_1"}));
  // A bias without its weight.
  f.tensors.erase("features.5.weight");
  EXPECT_NE(errorOf([&] { makeLossNetwork(f, "small.safetensors"); })
                .find("'features.5.weight' is missing"),
            std::string::npos);
  // caffe_bgr without a mean; an unknown preprocessing.
  TensorFile m = vggFile();
  m.metadata.erase("flowstyle.mean_bgr");
  EXPECT_NE(errorOf([&] { makeLossNetwork(m, "x.safetensors"); }).find("flowstyle.mean_bgr"),
            std::string::npos);
  m.metadata["flowstyle.preprocess"] = "yuv";
  EXPECT_NE(errorOf([&] { makeLossNetwork(m, "x.safetensors"); }).find("'yuv' is unknown"),
            std::string::npos);
}

TEST(Models_LossNetwork, FrozenWeightsGradientReachesInput) {
  auto net = loadLossNetwork(kSqueeze);
  auto x = torch::rand({1, 3, 40, 40}).set_requires_grad(true);
  auto f = net->extract(x, {"fire3"}).at("fire3");
  f.sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0.0f);
  torch::NoGradGuard noGrad;
  // Stops at the deepest requested layer: asking for relu1 alone works on a tiny input
  // that the later pools could not take.
  EXPECT_EQ(net->extract(torch::rand({1, 3, 5, 5}), {"relu1"}).at("relu1").sizes(),
            (std::vector<int64_t>{1, 64, 2, 2}));
}
