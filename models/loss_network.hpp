#pragma once
// Pretrained CNNs used as loss networks (VGG19, SqueezeNet 1.1).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace flowstyle::models {

struct TensorFile;

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
  // The network's input as extract() feeds it: rgb01 [N,3,H,W] RGB in [0,1] mapped per
  // the metadata (caffe_bgr: x255, BGR, minus mean_bgr; torchvision: ImageNet mean/std).
  virtual torch::Tensor preprocess(const torch::Tensor& rgb01) const { return rgb01; }
  // "caffe_bgr" | "torchvision"
  virtual std::string preprocessing() const { return "torchvision"; }
  // The type the layers compute in: torch::kFloat (default) or torch::kBFloat16 (the
  // weights converted in place; a float32 copy is kept, so switching back is exact).
  // extract() takes float32 and returns float32 activations either way, so the loss
  // terms and their gradients stay float32; only the convolutions (forward and backward),
  // ReLUs and pools run in the compute type.
  virtual void setComputeType(torch::ScalarType type) = 0;
  virtual torch::ScalarType computeType() const = 0;

  // What tiling needs (StyleOptimizer with OptimizeConfig::tile): how many input pixels
  // one step of `layer`'s activation grid spans (1, 2, 4, ...), and how far from an
  // activation's centre, in input pixels, the input can change it (its receptive field's
  // radius, the conv padding's reach included). An input cut at a multiple of the stride,
  // with at least the radius of real pixels around what is kept, gives the whole image's
  // activations exactly. 0: this architecture cannot be tiled (the default).
  virtual int layerStride(const std::string& /*layer*/) const { return 0; }
  virtual int receptiveRadius(const std::string& /*layer*/) const { return 0; }
};

// The architecture of a loss network's weights ("vgg19" | "squeezenet1_1"): metadata
// `flowstyle.arch` when present, else the tensor names (features.N.* -> vgg19; conv1.*,
// fireN.* -> squeezenet1_1). Throws "PATH: ..." when neither tells.
std::string lossNetworkArch(const std::map<std::string, std::string>& metadata,
                            const std::vector<std::string>& tensorNames, const std::string& path);
// An architecture's default content layer (vgg19: relu4_2; squeezenet1_1: fire6) and style
// layers (relu1_1..relu5_1; relu1, fire2, fire3, fire5, fire7). Throws on another name.
std::string defaultContentLayer(const std::string& arch);
std::vector<std::string> defaultStyleLayers(const std::string& arch);

// The tiling geometry of `arch` at `layer` without loading weights (LossNetwork::layerStride
// and receptiveRadius answer the same): 0 when the architecture cannot be tiled. Throws on a
// layer name the architecture does not have.
int lossLayerStride(const std::string& arch, const std::string& layer);
int lossLayerRadius(const std::string& arch, const std::string& layer);

// Loads a loss network from a safetensors file. The architecture comes from
// lossNetworkArch. Preprocessing from metadata
// `flowstyle.preprocess` (caffe_bgr | torchvision); no metadata = torchvision.
// Every present tensor's shape is checked before returning; NaN/Inf weights are an error.
// Throws "PATH: ..." errors.
std::unique_ptr<LossNetwork> loadLossNetwork(const std::string& path);
// The same from tensors already in memory (path only names the source in errors).
std::unique_ptr<LossNetwork> makeLossNetwork(const TensorFile& file, const std::string& path);

// The loss terms of the optimization method (Gatys et al.; the temporal term of Ruder et
// al.). Each returns a 0-dim tensor, differentiable in its first argument; targets carry no
// gradient.
namespace losses {
// The least denominator of the normalized terms: squared norms of real targets are far above it.
inline constexpr double kTinyNorm = 1e-12;
// features [N,C,H,W] -> [N,C,C] = F F^T / (C*H*W), F = features viewed as [N,C,H*W].
torch::Tensor gramMatrix(const torch::Tensor& features);
// ||F - Fc||^2 / ||Fc||^2
torch::Tensor content(const torch::Tensor& features, const torch::Tensor& target);
// ||G - Gs||^2 / ||Gs||^2 (one layer; gram and target from gramMatrix)
torch::Tensor style(const torch::Tensor& gram, const torch::Tensor& targetGram);
// mean(dx^2) + mean(dy^2) of image [N,C,H,W] (forward differences)
torch::Tensor totalVariation(const torch::Tensor& image);
// sum(c * (x - warped)^2) / D, D = x.numel(); certainty [N,1,H,W] broadcasts over channels.
torch::Tensor temporal(const torch::Tensor& image, const torch::Tensor& warped,
                       const torch::Tensor& certainty);
}  // namespace losses

}  // namespace flowstyle::models
