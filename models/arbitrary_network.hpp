#pragma once
// Arbitrary-style networks: any style image, one pass (issue 23). One interface for
// MicroAST (AdaIN + modulated convolutions), Magenta's arbitrary network (conditional
// instance norm from a style vector) and WCT-16x (whitening and colouring), so the
// pipeline and the CLI treat them alike.
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include "models/safetensors.hpp"
#include "models/tiling.hpp"

namespace flowstyle::models {

// What a network keeps of a style image: computed once per job, reused for every frame.
// `tensors` are the network's own quantities (MicroAST: feature mean/std and the
// modulator's outputs; Magenta: the 100-number style vector; WCT: per level the feature
// mean and colouring matrix). Every tensor is a float32 CPU tensor that owns its memory.
struct StyleCode {
  std::string arch;                   // the network that made it
  std::vector<torch::Tensor> tensors;
};

class ArbitraryStyleNetwork {
 public:
  virtual ~ArbitraryStyleNetwork() = default;
  // microast | magenta | wct16x | multistyle26
  virtual std::string arch() const = 0;

  // style: CV_8UC3 RGB, at least 2x2, already at the working size the caller chose
  // (--style-size). Throws std::invalid_argument on a bad image.
  virtual StyleCode encodeStyle(const cv::Mat& styleRgb) = 0;

  // A weighted mix of codes from this network (weights >= 0, summing to > 0; normalized
  // here), as the network allows (statistics, style vectors, covariances mix linearly).
  virtual StyleCode blend(const std::vector<StyleCode>& codes,
                          const std::vector<double>& weights) const = 0;

  // frames: CV_8UC3 RGB, all the same size (any size >= 1x1; padded to what the network
  // needs and cropped back). strength in [0,1]: 0 = the content's own look, 1 = full style.
  // Returns CV_8UC3 RGB, each of its frame's size.
  virtual std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames,
                                          const StyleCode& style, double strength) = 0;

  // Tiles (issue 24): side > 0 runs each later frame in tiles of at most that side (px) with
  // the output of the whole frame within float rounding, so the peak memory follows the tile;
  // 0 = whole frames. Only where arbitraryNetworkTiles(arch()); the others throw
  // std::invalid_argument for side > 0.
  virtual void setTile(int side);
  // How the last call was tiled ("3x2 tiles of 1024 px, halo 23"); empty when it ran whole.
  virtual std::string tiling() const { return {}; }
};

// Loads a safetensors file written by one of the importers below (its flowstyle.arch
// metadata picks the network). device: as models::resolveDevice. Every tensor's shape is
// checked before the first frame; errors name the file and the key.
std::unique_ptr<ArbitraryStyleNetwork> loadArbitraryNetwork(const std::string& path,
                                                            const std::string& device = "auto");

}  // namespace flowstyle::models
