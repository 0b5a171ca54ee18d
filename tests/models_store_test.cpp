#include <gtest/gtest.h>

#include "tests/test_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/model_store.hpp"
#include "models/safetensors.hpp"

namespace fs = std::filesystem;
using namespace flowstyle::models;

namespace {

const std::string kShared = FLOWSTYLE_SHARED_DIR;
const std::string kSqueezenet = kShared + "/models/squeezenet1_1-caffe-trunk.safetensors";

// Sets an environment variable for the scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A temp HOME and XDG cache so no test touches the real user cache.
struct Sandbox {
  fs::path root;
  std::optional<ScopedEnv> home, xdg, models;
  explicit Sandbox(const std::string& name) {
    root = fs::path(FLOWSTYLE_TEST_TMP) / ("store_" + name);
    fs::remove_all(root);
    fs::create_directories(root / "home");
    home.emplace("HOME", (root / "home").string());
    xdg.emplace("XDG_CACHE_HOME", (root / "xdg").string());
    models.emplace("FLOWSTYLE_MODELS", std::nullopt);
  }
  fs::path cache() const { return root / "xdg" / "flowstyle" / "models"; }
};

// A small (partial) VGG19 loss network: conv1_1 and conv1_2.
TensorFile tinyVgg() {
  TensorFile f;
  f.metadata["flowstyle.arch"] = "vgg19";
  f.metadata["flowstyle.preprocess"] = "caffe_bgr";
  f.tensors["features.0.weight"] = torch::full({64, 3, 3, 3}, 0.01f);
  f.tensors["features.0.bias"] = torch::zeros({64});
  f.tensors["features.2.weight"] = torch::full({64, 64, 3, 3}, 0.01f);
  f.tensors["features.2.bias"] = torch::zeros({64});
  return f;
}

TensorFile tinyStyle(const std::string& name) {
  TensorFile f;
  f.metadata["flowstyle.arch"] = "johnson_ml5";
  f.metadata["flowstyle.name"] = name;
  f.tensors["conv1.weight"] = torch::zeros({32, 3, 9, 9});
  return f;
}

std::string write(const fs::path& dir, const std::string& name, const TensorFile& f) {
  fs::create_directories(dir);
  const std::string p = (dir / name).string();
  writeSafetensors(p, f);
  return p;
}

using flowstyle::test::errorOf;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(Models_Store, SearchOrderFollowsEnvironment) {
  Sandbox box("order");
  const std::string a = (box.root / "a").string(), b = (box.root / "b").string();
  {
    ScopedEnv env("FLOWSTYLE_MODELS", a + "::" + b);
    EXPECT_EQ(modelSearchDirs(), (std::vector<std::string>{a, b, box.cache().string()}));
  }
  EXPECT_EQ(modelSearchDirs(), (std::vector<std::string>{box.cache().string()}));
  {
    ScopedEnv noXdg("XDG_CACHE_HOME", std::nullopt);
    EXPECT_EQ(userCacheDir(), (box.root / "home" / ".cache" / "flowstyle" / "models").string());
  }
  {
    ScopedEnv relative("XDG_CACHE_HOME", "relative/path");  // invalid per XDG: ignored
    EXPECT_EQ(userCacheDir(), (box.root / "home" / ".cache" / "flowstyle" / "models").string());
  }
}

TEST(Models_Store, ResolvesPathsNamesAndAliases) {
  Sandbox box("resolve");
  const fs::path a = box.root / "a", b = box.root / "b";
  const std::string aVgg = write(a, "myvgg.safetensors", tinyVgg());
  const std::string bVgg = write(b, "myvgg.safetensors", tinyVgg());
  const std::string bOnly = write(b, "other.safetensors", tinyVgg());
  const std::string style = write(b, "zz_starry.safetensors", tinyStyle("starry"));
  const std::string cacheVgg = write(box.cache(), "cached.safetensors", tinyVgg());
  ScopedEnv env("FLOWSTYLE_MODELS", a.string() + ":" + b.string());

  EXPECT_EQ(resolveModel("myvgg", ModelKind::LossNetwork), aVgg);  // first folder wins
  EXPECT_EQ(resolveModel("myvgg.safetensors", ModelKind::LossNetwork), aVgg);
  EXPECT_EQ(resolveModel("other", ModelKind::LossNetwork), bOnly);
  EXPECT_EQ(resolveModel("cached", ModelKind::LossNetwork), cacheVgg);
  EXPECT_EQ(resolveModel(bVgg, ModelKind::LossNetwork), bVgg);  // an explicit path wins
  EXPECT_EQ(resolveModel("vgg19", ModelKind::LossNetwork), aVgg);  // alias on flowstyle.arch
  EXPECT_EQ(resolveModel("VGG19", ModelKind::LossNetwork), aVgg);
  EXPECT_EQ(resolveModel("zz_starry", ModelKind::StyleNetwork), style);
  EXPECT_EQ(resolveModel("starry", ModelKind::StyleNetwork), style);  // flowstyle.name

  // Kind mismatches are errors, both by name and by path.
  std::string err = errorOf([&] { resolveModel("zz_starry", ModelKind::LossNetwork); });
  EXPECT_TRUE(contains(err, "style network")) << err;
  EXPECT_TRUE(contains(err, "zz_starry.safetensors")) << err;
  err = errorOf([&] { resolveModel(aVgg, ModelKind::StyleNetwork); });
  EXPECT_TRUE(contains(err, "is a loss network")) << err;
  // "squeezenet" has no match here: the error lists every folder and the install command.
  err = errorOf([&] { resolveModel("squeezenet", ModelKind::LossNetwork); });
  EXPECT_TRUE(contains(err, a.string())) << err;
  EXPECT_TRUE(contains(err, b.string())) << err;
  EXPECT_TRUE(contains(err, box.cache().string())) << err;
  EXPECT_TRUE(contains(err, "flowstyle models install")) << err;
  EXPECT_TRUE(contains(err, "FLOWSTYLE_MODELS")) << err;
  err = errorOf([&] { resolveModel((box.root / "nope.safetensors").string(), ModelKind::LossNetwork); });
  EXPECT_TRUE(contains(err, "no such file")) << err;
}

TEST(Models_Store, InstallsAndListsRealSqueezenet) {
  Sandbox box("install");
  const std::vector<ModelEntry> installed = installModels({kSqueezenet});
  ASSERT_EQ(installed.size(), 1u);
  const fs::path dest = box.cache() / "squeezenet1_1-caffe-trunk.safetensors";
  ASSERT_TRUE(fs::is_regular_file(dest));
  EXPECT_EQ(fs::file_size(dest), fs::file_size(kSqueezenet));
  EXPECT_EQ(installed[0].path, dest.string());

  // A loss network in a FLOWSTYLE_MODELS folder is listed before the cache.
  const fs::path extra = box.root / "extra";
  write(extra, "tiny-vgg.safetensors", tinyVgg());
  std::ofstream(extra / "junk.safetensors") << "not a safetensors file";
  ScopedEnv env("FLOWSTYLE_MODELS", extra.string());
  std::vector<std::string> problems;
  const std::vector<ModelEntry> list = listModels(&problems);
  ASSERT_EQ(list.size(), 2u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(contains(problems[0], "junk.safetensors")) << problems[0];

  EXPECT_EQ(list[0].name, "tiny-vgg");
  EXPECT_EQ(list[0].kind, ModelKind::LossNetwork);
  EXPECT_EQ(list[0].arch, "vgg19");
  EXPECT_EQ(list[0].layers, (std::vector<std::string>{"relu1_1", "relu1_2"}));

  const ModelEntry& sq = list[1];
  EXPECT_EQ(sq.name, "squeezenet1_1-caffe-trunk");
  EXPECT_EQ(sq.kind, ModelKind::LossNetwork);
  EXPECT_EQ(sq.arch, "squeezenet1_1");
  EXPECT_EQ(sq.preprocess, "caffe_bgr");
  EXPECT_EQ(sq.layers, (std::vector<std::string>{"relu1", "fire2", "fire3", "fire4", "fire5", "fire6",
                                                 "fire7", "fire8", "fire9"}));
  EXPECT_EQ(sq.bytes, fs::file_size(kSqueezenet));
  EXPECT_EQ(resolveModel("squeezenet", ModelKind::LossNetwork), dest.string());
}

TEST(Models_Store, InferArchitectureWithoutMetadata) {
  Sandbox box("nometa");
  TensorFile f = tinyVgg();
  f.metadata.clear();
  f.tensors["classifier.0.weight"] = torch::zeros({4, 4});  // extra keys are ignored
  write(box.cache(), "torchvision-vgg.safetensors", f);
  const auto list = listModels();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].arch, "vgg19");
  EXPECT_EQ(list[0].preprocess, "torchvision");
  EXPECT_EQ(list[0].layers, (std::vector<std::string>{"relu1_1", "relu1_2"}));
  const auto installed = installModels({(box.cache() / "torchvision-vgg.safetensors").string()},
                                       (box.root / "dest").string());
  ASSERT_EQ(installed.size(), 1u);
  EXPECT_EQ(installed[0].arch, "vgg19");
}

TEST(Models_Store, InstallRejectsBadWeights) {
  Sandbox box("reject");
  const fs::path src = box.root / "src";
  TensorFile nan = tinyVgg();
  nan.tensors["features.2.weight"][3][1][0][2] = std::numeric_limits<float>::quiet_NaN();
  const std::string nanPath = write(src, "nan.safetensors", nan);
  std::string err = errorOf([&] { installModels({nanPath}); });
  EXPECT_TRUE(contains(err, "nan.safetensors")) << err;
  EXPECT_TRUE(contains(err, "'features.2.weight'")) << err;
  EXPECT_TRUE(contains(err, "NaN")) << err;

  TensorFile inf = tinyVgg();
  inf.tensors["features.0.bias"][5] = std::numeric_limits<float>::infinity();
  err = errorOf([&] { installModels({write(src, "inf.safetensors", inf)}); });
  EXPECT_TRUE(contains(err, "'features.0.bias'") && contains(err, "Inf")) << err;

  TensorFile wrong = tinyVgg();
  wrong.tensors["features.2.weight"] = torch::zeros({64, 32, 3, 3});
  err = errorOf([&] { installModels({write(src, "wrong.safetensors", wrong)}); });
  EXPECT_TRUE(contains(err, "wrong.safetensors")) << err;
  EXPECT_TRUE(contains(err, "'features.2.weight' has shape [64,32,3,3], expected [64,64,3,3]")) << err;

  TensorFile unknown;
  unknown.tensors["mystery"] = torch::zeros({3});
  err = errorOf([&] { installModels({write(src, "mystery.safetensors", unknown)}); });
  EXPECT_TRUE(contains(err, "not a recognized model")) << err;

  const fs::path text = src / "notes.txt";
  std::ofstream(text) << "hello";
  err = errorOf([&] { installModels({text.string()}); });
  EXPECT_TRUE(contains(err, "notes.txt") && contains(err, "not a model")) << err;
  err = errorOf([&] { installModels({(src / "missing.safetensors").string()}); });
  EXPECT_TRUE(contains(err, "no such file")) << err;

  // Nothing was installed by the failures.
  EXPECT_FALSE(fs::exists(box.cache()) && !fs::is_empty(box.cache()));
}

TEST(Models_Store, InstallRecursesIntoFoldersSkippingOtherFiles) {
  Sandbox box("recurse");
  const fs::path src = box.root / "src";
  write(src / "deep" / "er", "a-vgg.safetensors", tinyVgg());
  fs::create_directories(src / "empty");
  std::ofstream(src / "README.txt") << "not a model";
  fs::create_symlink(kSqueezenet, src / "squeezenet1_1-caffe-trunk.safetensors");
  const auto installed = installModels({src.string()}, (box.root / "dest").string());
  ASSERT_EQ(installed.size(), 2u);
  EXPECT_EQ(installed[0].name, "a-vgg");
  EXPECT_EQ(installed[1].name, "squeezenet1_1-caffe-trunk");
  EXPECT_TRUE(fs::is_regular_file(box.root / "dest" / "a-vgg.safetensors"));
  EXPECT_FALSE(fs::is_symlink(box.root / "dest" / "squeezenet1_1-caffe-trunk.safetensors"));
  // An explicit folder with no model is an error.
  const std::string err = errorOf([&] { installModels({(src / "empty").string()}); });
  EXPECT_TRUE(contains(err, "no models found")) << err;
}

TEST(Models_Store, InstallsMl5Checkpoint) {
  Sandbox box("ml5");
  const std::string wave = kShared + "/models/ml5/wave";
  if (!fs::exists(wave + "/manifest.json")) GTEST_SKIP() << "fixture missing: " << wave << "/manifest.json";
  const auto installed = installModels({wave + "/"});
  ASSERT_EQ(installed.size(), 1u);
  EXPECT_EQ(installed[0].name, "wave");
  EXPECT_EQ(installed[0].kind, ModelKind::StyleNetwork);
  EXPECT_EQ(installed[0].arch, "johnson_ml5");
  EXPECT_EQ(installed[0].preprocess, "rgb_0_255");
  EXPECT_TRUE(installed[0].layers.empty());
  EXPECT_TRUE(fs::is_regular_file(box.cache() / "wave.safetensors"));
  EXPECT_EQ(resolveModel("wave", ModelKind::StyleNetwork), (box.cache() / "wave.safetensors").string());
  const std::string err = errorOf([&] { resolveModel("wave", ModelKind::LossNetwork); });
  EXPECT_TRUE(contains(err, "style network")) << err;
  // The ml5 folder itself resolves as a style network path.
  EXPECT_EQ(resolveModel(wave, ModelKind::StyleNetwork), wave);
}

TEST(Models_Device, ResolvesSpecs) {
  EXPECT_EQ(resolveDevice("cpu"), torch::Device(torch::kCPU));
  EXPECT_EQ(resolveDevice("CPU"), torch::Device(torch::kCPU));
  const bool cuda = torch::cuda::is_available();
  EXPECT_EQ(resolveDevice("auto").type(), cuda ? torch::kCUDA : torch::kCPU);
  if (!cuda) {
    const std::string err = errorOf([] { resolveDevice("cuda"); });
    EXPECT_TRUE(contains(err, "--device cuda: CUDA is not available")) << err;
    EXPECT_TRUE(contains(err, "use cpu or auto")) << err;
    EXPECT_THROW(resolveDevice("cuda:0"), std::runtime_error);
  } else {
    EXPECT_EQ(resolveDevice("cuda:0"), torch::Device(torch::kCUDA, 0));
    EXPECT_THROW(resolveDevice("cuda:999"), std::runtime_error);
  }
  std::string err = errorOf([] { resolveDevice("gpu"); });
  EXPECT_TRUE(contains(err, "--device gpu") && contains(err, "auto, cpu, cuda or cuda:N")) << err;
  err = errorOf([] { resolveDevice("cuda:x"); });
  EXPECT_TRUE(contains(err, "bad device index")) << err;
}

TEST(Models_Device, ConfiguresThreads) {
  const int before = torch::get_num_threads();
  EXPECT_EQ(configureTorchThreads(3), 3);
  EXPECT_EQ(torch::get_num_threads(), 3);
  const int all = configureTorchThreads(0);
  EXPECT_GE(all, 1);
  EXPECT_EQ(torch::get_num_threads(), all);
  EXPECT_THROW(configureTorchThreads(-1), std::runtime_error);
  configureTorchThreads(before);
}
