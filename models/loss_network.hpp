#pragma once
// Pretrained CNNs used as loss networks (VGG19, SqueezeNet 1.1).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace flowstyle::models {

class LossNetwork {
 public:
  virtual ~LossNetwork() = default;
  virtual std::string arch() const = 0;  // "vgg19" | "squeezenet1_1"
  virtual std::string path() const = 0;
  // Every layer name of the architecture, shallow to deep (e.g. relu1_1 ... relu5_1).
  virtual std::vector<std::string> layerNames() const = 0;
  // Layers the loaded weights can serve (a partial file serves fewer).
  virtual std::vector<std::string> availableLayers() const = 0;
  virtual std::string defaultContentLayer() const = 0;          // relu4_2 for VGG19
  virtual std::vector<std::string> defaultStyleLayers() const = 0;
  // rgb01: float [N,3,H,W], RGB in [0,1], on this network's device. Preprocessing
  // (channel order, range, mean, std) comes from the file's metadata. Returns the
  // activations (after ReLU) at `layers`; the forward pass stops at the deepest one.
  // Throws naming the layer when it is unknown or not in the weights.
  virtual std::map<std::string, torch::Tensor> extract(
      const torch::Tensor& rgb01, const std::vector<std::string>& layers) = 0;
  virtual void to(const torch::Device& device) = 0;
  virtual torch::Device device() const = 0;
};

// Loads a loss network from a safetensors file. The architecture comes from
// metadata `flowstyle.arch`, else from the key names. Preprocessing from metadata
// `flowstyle.preprocess` (caffe_bgr | torchvision); no metadata = torchvision.
// Every present tensor's shape is checked before returning; NaN/Inf weights are an error.
// Throws "PATH: ..." errors.
std::unique_ptr<LossNetwork> loadLossNetwork(const std::string& path);

}  // namespace flowstyle::models
