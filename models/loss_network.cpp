// Loss networks: VGG19 (torchvision key names) and SqueezeNet 1.1 (keras-squeezenet
// key names), as described in shared/models/SOURCES.md.
#include "models/loss_network.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

#include "models/safetensors.hpp"

namespace flowstyle::models {
namespace {

std::string shapeString(at::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? "," : "") << shape[i];
  s << ']';
  return s.str();
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// ---- preprocessing ---------------------------------------------------------------

struct Preprocess {
  std::string kind = "torchvision";  // caffe_bgr | torchvision
  std::vector<double> mean{0.485, 0.456, 0.406};  // caffe: B,G,R on 0..255
  std::vector<double> std{0.229, 0.224, 0.225};   // torchvision only
};

std::vector<double> parseTriple(const std::string& path, const std::string& key,
                                const std::string& text) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      double x = std::stod(item, &used);
      while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
      if (used != item.size() || !std::isfinite(x)) throw std::invalid_argument("");
      v.push_back(x);
    } catch (const std::exception&) {
      fail(path, "metadata '" + key + "' = '" + text + "' is not three comma-separated numbers");
    }
  }
  if (v.size() != 3)
    fail(path, "metadata '" + key + "' = '" + text + "' is not three comma-separated numbers");
  return v;
}

Preprocess parsePreprocess(const std::string& path,
                           const std::map<std::string, std::string>& meta) {
  Preprocess p;
  auto it = meta.find("flowstyle.preprocess");
  if (it == meta.end()) return p;  // no metadata: torchvision's convention
  if (it->second == "torchvision") {
    if (auto m = meta.find("flowstyle.mean_rgb"); m != meta.end())
      p.mean = parseTriple(path, m->first, m->second);
    if (auto s = meta.find("flowstyle.std_rgb"); s != meta.end())
      p.std = parseTriple(path, s->first, s->second);
    for (double s : p.std)
      if (s <= 0) fail(path, "metadata 'flowstyle.std_rgb' must be positive");
    return p;
  }
  if (it->second == "caffe_bgr") {
    p.kind = "caffe_bgr";
    auto m = meta.find("flowstyle.mean_bgr");
    if (m == meta.end())
      fail(path, "metadata 'flowstyle.preprocess' is caffe_bgr but 'flowstyle.mean_bgr' is "
                 "missing (add it, e.g. \"103.939,116.779,123.68\")");
    p.mean = parseTriple(path, m->first, m->second);
    if (auto r = meta.find("flowstyle.input_range"); r != meta.end() && r->second != "0-255")
      fail(path, "metadata 'flowstyle.input_range' = '" + r->second +
                     "' is not supported with caffe_bgr (expected 0-255)");
    return p;
  }
  fail(path, "metadata 'flowstyle.preprocess' = '" + it->second +
                 "' is unknown (expected caffe_bgr or torchvision)");
}

// ---- weights -----------------------------------------------------------------------

struct ParamSpec {
  std::string key;
  std::vector<int64_t> shape;
};

// Copies `key` from the file into `param` (already of the expected shape) after checking
// dtype, shape and finiteness. Returns false if the file lacks it.
bool loadParam(const std::string& path, const TensorFile& file, const std::string& key,
               torch::Tensor& param) {
  auto it = file.tensors.find(key);
  if (it == file.tensors.end()) return false;
  const torch::Tensor& t = it->second;
  if (!t.is_floating_point())
    fail(path, "'" + key + "' has dtype " + std::string(c10::toString(t.scalar_type())) +
                   ", expected a floating-point type");
  if (t.sizes() != param.sizes())
    fail(path, "'" + key + "' has shape " + shapeString(t.sizes()) + ", expected " +
                   shapeString(param.sizes()));
  torch::Tensor f = t.to(torch::kCPU, torch::kFloat);
  if (!torch::isfinite(f).all().item<bool>())
    fail(path, "'" + key + "' holds NaN or Inf values (the file is corrupt; reinstall it)");
  torch::NoGradGuard noGrad;
  param.copy_(f);
  return true;
}

// ---- VGG19 -------------------------------------------------------------------------

// torchvision's vgg19.features: conv indices, channel widths, pools after 4, 9, 18, 27.
struct VggConv {
  int index;
  int in, out;
  const char* layer;
};
constexpr VggConv kVggConvs[] = {
    {0, 3, 64, "relu1_1"},     {2, 64, 64, "relu1_2"},    {5, 64, 128, "relu2_1"},
    {7, 128, 128, "relu2_2"},  {10, 128, 256, "relu3_1"}, {12, 256, 256, "relu3_2"},
    {14, 256, 256, "relu3_3"}, {16, 256, 256, "relu3_4"}, {19, 256, 512, "relu4_1"},
    {21, 512, 512, "relu4_2"}, {23, 512, 512, "relu4_3"}, {25, 512, 512, "relu4_4"},
    {28, 512, 512, "relu5_1"}, {30, 512, 512, "relu5_2"}, {32, 512, 512, "relu5_3"},
    {34, 512, 512, "relu5_4"}};
constexpr int kVggPools[] = {4, 9, 18, 27, 36};

struct Vgg19Impl : torch::nn::Module {
  Vgg19Impl() : features(register_module("features", torch::nn::Sequential())) {
    int conv = 0;
    for (int i = 0; i <= 36; ++i) {
      if (conv < 16 && kVggConvs[conv].index == i) {
        features->push_back(torch::nn::Conv2d(
            torch::nn::Conv2dOptions(kVggConvs[conv].in, kVggConvs[conv].out, 3).padding(1)));
        ++conv;
      } else if (std::find(std::begin(kVggPools), std::end(kVggPools), i) !=
                 std::end(kVggPools)) {
        features->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
      } else {
        features->push_back(torch::nn::ReLU());
      }
    }
  }
  // Runs modules [0, last] and records the outputs of the modules in `want`.
  torch::Tensor run(torch::Tensor x, int last, const std::map<int, std::string>& want,
                    std::map<std::string, torch::Tensor>& out) {
    int i = 0;
    for (auto& m : *features) {
      if (i > last) break;
      x = m.forward(x);
      if (auto w = want.find(i); w != want.end()) out[w->second] = x;
      ++i;
    }
    return x;
  }
  torch::nn::Sequential features;
};
TORCH_MODULE(Vgg19);

// VGG19's (stride, receptive radius) at `layer`: a 3x3 conv widens the radius by one step of
// the grid it runs on; a 2x2 pool reaches one step further on one side (taken on both), then
// doubles the step. {0, 0} for another architecture.
std::pair<int, int> lossLayerGeometry(const std::string& arch, const std::string& layer) {
  if (arch != "vgg19") {
    if (arch != "squeezenet1_1") throw std::runtime_error("unknown loss network architecture '" + arch + "'");
    return {0, 0};
  }
  const auto* conv = std::find_if(std::begin(kVggConvs), std::end(kVggConvs),
                                  [&](const VggConv& c) { return layer == c.layer; });
  if (conv == std::end(kVggConvs)) throw std::runtime_error("vgg19 has no layer '" + layer + "'");
  int stride = 1, radius = 0;
  for (int i = 0, k = 0; i <= conv->index; ++i) {
    if (k < 16 && kVggConvs[k].index == i) {
      radius += stride;
      ++k;
    } else if (std::find(std::begin(kVggPools), std::end(kVggPools), i) != std::end(kVggPools)) {
      radius += stride;
      stride *= 2;
    }
  }
  return {stride, radius};
}

// ---- SqueezeNet 1.1 ---------------------------------------------------------------

struct FireImpl : torch::nn::Module {
  FireImpl(int in, int squeeze, int expand)
      : squeeze1x1(register_module("squeeze1x1",
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(in, squeeze, 1)))),
        expand1x1(register_module(
            "expand1x1", torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze, expand, 1)))),
        expand3x3(register_module(
            "expand3x3",
            torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze, expand, 3).padding(1)))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    auto s = torch::relu(squeeze1x1->forward(x));
    return torch::cat({torch::relu(expand1x1->forward(s)), torch::relu(expand3x3->forward(s))},
                      1);
  }
  torch::nn::Conv2d squeeze1x1, expand1x1, expand3x3;
};
TORCH_MODULE(Fire);

struct FireSpec {
  int in, squeeze, expand;
};
constexpr FireSpec kFires[8] = {{64, 16, 64},   {128, 16, 64},  {128, 32, 128},
                                {256, 32, 128}, {256, 48, 192}, {384, 48, 192},
                                {384, 64, 256}, {512, 64, 256}};

struct SqueezeNetImpl : torch::nn::Module {
  SqueezeNetImpl()
      : conv1(register_module("conv1",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 64, 3).stride(2)))),
        pool(torch::nn::MaxPool2dOptions(3).stride(2).ceil_mode(true)) {
    for (int f = 0; f < 8; ++f)
      fires.push_back(register_module("fire" + std::to_string(f + 2),
                                      Fire(kFires[f].in, kFires[f].squeeze, kFires[f].expand)));
  }
  // Stage 0 = relu1, stage k (1..8) = fire(k+1).
  void run(torch::Tensor x, int last, const std::vector<bool>& want,
           std::map<std::string, torch::Tensor>& out) {
    x = torch::relu(conv1->forward(x));
    if (want[0]) out["relu1"] = x;
    for (int k = 1; k <= last; ++k) {
      if (k == 1 || k == 3 || k == 5) x = pool->forward(x);  // before fire2, fire4, fire6
      x = fires[k - 1]->forward(x);
      if (want[k]) out["fire" + std::to_string(k + 1)] = x;
    }
  }
  torch::nn::Conv2d conv1;
  torch::nn::MaxPool2d pool;
  std::vector<Fire> fires;
};
TORCH_MODULE(SqueezeNet);

// ---- the LossNetwork implementations ------------------------------------------------

class NetworkBase : public LossNetwork {
 public:
  NetworkBase(std::string path, Preprocess pre) : path_(std::move(path)), pre_(std::move(pre)) {
    auto triple = [](const std::vector<double>& v) {
      return torch::tensor({v[0], v[1], v[2]}, torch::kDouble).to(torch::kFloat).view({1, 3, 1, 1});
    };
    mean_ = triple(pre_.mean);
    std_ = triple(pre_.std);
  }
  std::string path() const override { return path_; }
  torch::Device device() const override { return device_; }
  std::string preprocessing() const override { return pre_.kind; }

  void setComputeType(torch::ScalarType type) override {
    if (type != torch::kFloat && type != torch::kBFloat16)
      fail(path_, std::string("compute type ") + c10::toString(type) +
                      " is not supported (float32, bfloat16)");
    if (type == computeType_) return;
    // Both copies stay resident: switching swaps the parameters' data, no conversion.
    torch::NoGradGuard noGrad;
    for (auto& p : module().named_parameters()) {
      if (!full_.count(p.key())) full_[p.key()] = p.value().detach();
      if (type != torch::kFloat && !low_.count(p.key())) low_[p.key()] = full_.at(p.key()).to(type);
      p.value().set_data(type == torch::kFloat ? full_.at(p.key()) : low_.at(p.key()));
    }
    computeType_ = type;
  }
  torch::ScalarType computeType() const override { return computeType_; }

  torch::Tensor preprocess(const torch::Tensor& rgb01) const override {
    if (pre_.kind == "caffe_bgr") return rgb01.flip({1}).mul(255.0).sub(constant(mean_, rgb01));
    return rgb01.sub(constant(mean_, rgb01)).div(constant(std_, rgb01));
  }

 protected:
  void checkInput(const torch::Tensor& x) const {
    if (x.dim() != 4 || x.size(1) != 3)
      throw std::runtime_error(path_ + ": input must be [N,3,H,W], got " + shapeString(x.sizes()));
    if (x.device() != device_)
      throw std::runtime_error(path_ + ": input is on " + x.device().str() +
                               ", the network on " + device_.str());
  }
  // Index of each layer in layerNames(), checked against availability.
  std::vector<int> resolve(const std::vector<std::string>& layers) const {
    const auto names = layerNames();
    std::vector<int> idx;
    for (const auto& l : layers) {
      auto it = std::find(names.begin(), names.end(), l);
      if (it == names.end())
        throw std::runtime_error(path_ + ": unknown layer '" + l + "' for " + arch() +
                                 "; layers: " + joinNames(names));
      int i = static_cast<int>(it - names.begin());
      if (i >= available_)
        throw std::runtime_error(path_ + ": layer '" + l + "' is not in these weights (a partial " +
                                 arch() + "); available: " + joinNames(availableLayers()));
      idx.push_back(i);
    }
    return idx;
  }
  std::vector<std::string> availableLayers() const override {
    auto names = layerNames();
    names.resize(available_);
    return names;
  }

  virtual torch::nn::Module& module() = 0;
  // The preprocessed float32 input in the compute type; the activations back to float32.
  torch::Tensor networkInput(const torch::Tensor& rgb01) const {
    auto x = preprocess(rgb01);
    return computeType_ == torch::kFloat ? x : x.to(computeType_);
  }
  void toFloat(std::map<std::string, torch::Tensor>& out) const {
    if (computeType_ == torch::kFloat) return;
    for (auto& [name, t] : out) t = t.to(torch::kFloat);
  }

  // Moves what the network keeps besides its parameters to `device` (to() calls it).
  void setDevice(const torch::Device& device) {
    device_ = device;
    mean_ = mean_.to(device);
    std_ = std_.to(device);
  }
  // A preprocessing constant as `like`'s device and type: on the network's device already
  // (setDevice). Made from the host values on every call, as before, it was a blocking
  // host-to-device copy, a host synchronization, in every forward pass of the optimizer.
  static torch::Tensor constant(const torch::Tensor& c, const torch::Tensor& like) {
    return c.device() == like.device() && c.scalar_type() == like.scalar_type() ? c : c.to(like.options());
  }

  std::string path_;
  Preprocess pre_;
  torch::Tensor mean_, std_;  // [1,3,1,1] float32 on device_, from pre_
  torch::Device device_{torch::kCPU};
  int available_ = 0;  // layers [0, available_) are served
  torch::ScalarType computeType_ = torch::kFloat;
  std::map<std::string, torch::Tensor> full_, low_;  // parameter data per compute type
  // Before a device move: back to float32, drop the reduced copies.
  void resetComputeType() {
    setComputeType(torch::kFloat);
    full_.clear();
    low_.clear();
  }
};

// Checks the key set: every key must belong to the architecture (prefix `ignored` is
// allowed and skipped), weights and biases come in pairs, and the served layers are the
// longest prefix of complete layers.
// Classifier heads are not used by a loss network: torchvision's "classifier.*", timm's
// "pre_logits.*" and "head.*" are skipped so complete downloaded checkpoints load as is.
const std::vector<std::string> kClassifierPrefixes = {"classifier.", "pre_logits.", "head."};

void checkUnknownKeys(const std::string& path, const std::string& arch, const TensorFile& file,
                      const std::set<std::string>& known) {
  for (const auto& [key, t] : file.tensors) {
    if (known.count(key)) continue;
    bool skipped = false;
    for (const std::string& prefix : kClassifierPrefixes) skipped = skipped || key.rfind(prefix, 0) == 0;
    if (skipped) continue;
    fail(path, "'" + key + "' is not a " + arch +
                   " weight (wrong architecture? check metadata 'flowstyle.arch' and the key names)");
  }
}

class Vgg19Network : public NetworkBase {
 public:
  Vgg19Network(const TensorFile& file, const std::string& path, Preprocess pre)
      : NetworkBase(path, std::move(pre)) {
    std::set<std::string> known;
    for (const auto& c : kVggConvs) {
      known.insert("features." + std::to_string(c.index) + ".weight");
      known.insert("features." + std::to_string(c.index) + ".bias");
    }
    checkUnknownKeys(path, "vgg19", file, known);
    auto params = net_->named_parameters();
    bool complete = true;
    for (int i = 0; i < 16; ++i) {
      std::string base = "features." + std::to_string(kVggConvs[i].index);
      bool w = loadParam(path, file, base + ".weight", params[base + ".weight"]);
      bool b = loadParam(path, file, base + ".bias", params[base + ".bias"]);
      if (w != b)
        fail(path, "'" + base + (w ? ".bias" : ".weight") + "' is missing (its " +
                       (w ? "weight" : "bias") + " is present)");
      if (w && !complete)
        fail(path, "'" + base + ".weight' is present but an earlier layer is missing");
      if (!w) complete = false;
      if (complete) available_ = i + 1;
    }
    if (available_ == 0)
      fail(path, "no VGG19 weights ('features.0.weight' is missing)");
    net_->eval();
    for (auto& p : net_->parameters()) p.set_requires_grad(false);
  }
  std::string arch() const override { return "vgg19"; }
  int layerStride(const std::string& layer) const override {
    resolve({layer});
    return lossLayerStride(arch(), layer);
  }
  int receptiveRadius(const std::string& layer) const override {
    resolve({layer});
    return lossLayerRadius(arch(), layer);
  }
  std::vector<std::string> layerNames() const override {
    std::vector<std::string> n;
    for (const auto& c : kVggConvs) n.emplace_back(c.layer);
    return n;
  }
  std::string defaultContentLayer() const override { return models::defaultContentLayer(arch()); }
  std::vector<std::string> defaultStyleLayers() const override { return models::defaultStyleLayers(arch()); }
  std::map<std::string, torch::Tensor> extract(const torch::Tensor& rgb01,
                                               const std::vector<std::string>& layers) override {
    checkInput(rgb01);
    std::map<int, std::string> want;
    int last = -1;
    for (int i : resolve(layers)) {
      int module = kVggConvs[i].index + 1;  // the ReLU after the conv
      want[module] = kVggConvs[i].layer;
      last = std::max(last, module);
    }
    std::map<std::string, torch::Tensor> out;
    if (last >= 0) net_->run(networkInput(rgb01), last, want, out);
    toFloat(out);
    return out;
  }
  void to(const torch::Device& device) override {
    const torch::ScalarType type = computeType_;
    resetComputeType();
    net_->to(device);
    setDevice(device);
    setComputeType(type);
  }

 protected:
  torch::nn::Module& module() override { return *net_; }

 private:
  Vgg19 net_;
};

class SqueezeNetNetwork : public NetworkBase {
 public:
  SqueezeNetNetwork(const TensorFile& file, const std::string& path, Preprocess pre)
      : NetworkBase(path, std::move(pre)) {
    std::set<std::string> known;
    auto params = net_->named_parameters();
    for (const auto& p : params) known.insert(p.key());
    checkUnknownKeys(path, "squeezenet1_1", file, known);
    bool complete = true;
    auto stage = [&](const std::vector<std::string>& keys, int index) {
      int present = 0;
      for (const auto& k : keys) present += loadParam(path, file, k, params[k]) ? 1 : 0;
      if (present != 0 && present != static_cast<int>(keys.size())) {
        for (const auto& k : keys)
          if (!file.tensors.count(k)) fail(path, "'" + k + "' is missing (its layer is partial)");
      }
      if (present && !complete)
        fail(path, "'" + keys[0] + "' is present but an earlier layer is missing");
      if (!present) complete = false;
      if (complete) available_ = index + 1;
    };
    stage({"conv1.weight", "conv1.bias"}, 0);
    for (int f = 2; f <= 9; ++f) {
      std::vector<std::string> keys;
      for (const char* part : {"squeeze1x1", "expand1x1", "expand3x3"})
        for (const char* wb : {".weight", ".bias"})
          keys.push_back("fire" + std::to_string(f) + "." + part + wb);
      stage(keys, f - 1);
    }
    if (available_ == 0) fail(path, "no SqueezeNet weights ('conv1.weight' is missing)");
    net_->eval();
    for (auto& p : net_->parameters()) p.set_requires_grad(false);
  }
  std::string arch() const override { return "squeezenet1_1"; }
  std::vector<std::string> layerNames() const override {
    std::vector<std::string> n{"relu1"};
    for (int f = 2; f <= 9; ++f) n.push_back("fire" + std::to_string(f));
    return n;
  }
  std::string defaultContentLayer() const override { return models::defaultContentLayer(arch()); }
  std::vector<std::string> defaultStyleLayers() const override { return models::defaultStyleLayers(arch()); }
  std::map<std::string, torch::Tensor> extract(const torch::Tensor& rgb01,
                                               const std::vector<std::string>& layers) override {
    checkInput(rgb01);
    std::vector<bool> want(9, false);
    int last = -1;
    for (int i : resolve(layers)) {
      want[i] = true;
      last = std::max(last, i);
    }
    std::map<std::string, torch::Tensor> out;
    if (last >= 0) net_->run(networkInput(rgb01), last, want, out);
    toFloat(out);
    return out;
  }
  void to(const torch::Device& device) override {
    const torch::ScalarType type = computeType_;
    resetComputeType();
    net_->to(device);
    setDevice(device);
    setComputeType(type);
  }

 protected:
  torch::nn::Module& module() override { return *net_; }

 private:
  SqueezeNet net_;
};

}  // namespace

int lossLayerStride(const std::string& arch, const std::string& layer) {
  return lossLayerGeometry(arch, layer).first;
}
int lossLayerRadius(const std::string& arch, const std::string& layer) {
  return lossLayerGeometry(arch, layer).second;
}


std::string lossNetworkArch(const std::map<std::string, std::string>& metadata,
                            const std::vector<std::string>& tensorNames, const std::string& path) {
  if (auto it = metadata.find("flowstyle.arch"); it != metadata.end()) {
    if (it->second == "vgg19" || it->second == "squeezenet1_1") return it->second;
    fail(path, "metadata 'flowstyle.arch' = '" + it->second +
                   "' is not a loss network (expected vgg19 or squeezenet1_1)");
  }
  bool features = false, fire = false;
  for (const std::string& key : tensorNames) {
    if (key.rfind("features.", 0) == 0) features = true;
    if (key.rfind("conv1.", 0) == 0 || key.rfind("fire", 0) == 0) fire = true;
  }
  if (features && !fire) return "vgg19";
  if (fire && !features) return "squeezenet1_1";
  std::string some;
  for (std::size_t n = 0; n < tensorNames.size() && n < 4; ++n) some += (some.empty() ? "" : ", ") + tensorNames[n];
  fail(path, "cannot tell the architecture: no 'flowstyle.arch' metadata and the keys (" +
                 (some.empty() ? std::string("none") : some) + (tensorNames.size() > 4 ? ", ..." : "") +
                 ") are neither VGG19 (features.N.*) nor SqueezeNet 1.1 (conv1.*, fireN.*)");
}

std::string defaultContentLayer(const std::string& arch) {
  if (arch == "vgg19") return "relu4_2";
  if (arch == "squeezenet1_1") return "fire6";
  throw std::invalid_argument("defaultContentLayer: unknown loss network architecture '" + arch + "'");
}

std::vector<std::string> defaultStyleLayers(const std::string& arch) {
  if (arch == "vgg19") return {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
  if (arch == "squeezenet1_1") return {"relu1", "fire2", "fire3", "fire5", "fire7"};
  throw std::invalid_argument("defaultStyleLayers: unknown loss network architecture '" + arch + "'");
}

std::unique_ptr<LossNetwork> makeLossNetwork(const TensorFile& file, const std::string& path) {
  std::vector<std::string> names;
  names.reserve(file.tensors.size());
  for (const auto& [key, t] : file.tensors) names.push_back(key);
  const std::string arch = lossNetworkArch(file.metadata, names, path);
  Preprocess pre = parsePreprocess(path, file.metadata);
  if (arch == "vgg19") return std::make_unique<Vgg19Network>(file, path, std::move(pre));
  return std::make_unique<SqueezeNetNetwork>(file, path, std::move(pre));
}

std::unique_ptr<LossNetwork> loadLossNetwork(const std::string& path) {
  return makeLossNetwork(readSafetensors(path), path);
}

namespace losses {

torch::Tensor gramMatrix(const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 4, "gramMatrix: features must be [N,C,H,W]");
  const int64_t n = features.size(0), c = features.size(1);
  const int64_t hw = features.size(2) * features.size(3);
  const double scale = 1.0 / static_cast<double>(c * hw);
  if (features.is_cpu() && features.scalar_type() == torch::kFloat && hw > 0) {
    // Debian's LibTorch multiplies matrices with the reference (netlib) BLAS: F F^T took
    // 0.17 s forward + 0.14 s backward for C=64, HW=49152 on 2 cores. The same product as
    // a 1x1 convolution runs in oneDNN: 0.013 s + 0.024 s (values agree to ~1e-5
    // relative). G[i,j] = sum_p F[i,p] F[j,p] = conv(input F^T as [1,HW,1,C],
    // weight F as [C,HW,1,1]); autograd flows through both operands.
    std::vector<torch::Tensor> grams;
    for (int64_t b = 0; b < n; ++b) {
      auto f = features[b].reshape({c, hw});
      auto input = f.t().contiguous().view({1, hw, 1, c});
      grams.push_back(torch::conv2d(input, f.view({c, hw, 1, 1})).view({c, c}));
    }
    return torch::stack(grams).mul(scale);
  }
  auto f = features.reshape({n, c, hw});
  return torch::bmm(f, f.transpose(1, 2)).mul(scale);
}

torch::Tensor content(const torch::Tensor& features, const torch::Tensor& target) {
  return (features - target).pow(2).sum().div(target.pow(2).sum().clamp_min(kTinyNorm));
}

torch::Tensor style(const torch::Tensor& gram, const torch::Tensor& targetGram) {
  return (gram - targetGram).pow(2).sum().div(targetGram.pow(2).sum().clamp_min(kTinyNorm));
}

torch::Tensor totalVariation(const torch::Tensor& image) {
  using torch::indexing::Slice;
  auto dx = image.index({Slice(), Slice(), Slice(), Slice(1, torch::indexing::None)}) -
            image.index({Slice(), Slice(), Slice(), Slice(torch::indexing::None, -1)});
  auto dy = image.index({Slice(), Slice(), Slice(1, torch::indexing::None), Slice()}) -
            image.index({Slice(), Slice(), Slice(torch::indexing::None, -1), Slice()});
  auto zero = torch::zeros({}, image.options());
  return (dx.numel() ? dx.pow(2).mean() : zero) + (dy.numel() ? dy.pow(2).mean() : zero);
}

torch::Tensor temporal(const torch::Tensor& image, const torch::Tensor& warped,
                       const torch::Tensor& certainty) {
  return (certainty * (image - warped).pow(2)).sum().div(static_cast<double>(image.numel()));
}

}  // namespace losses

}  // namespace flowstyle::models
