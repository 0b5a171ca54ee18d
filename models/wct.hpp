#pragma once
// Universal style transfer (Li et al. 2017, whitening and colouring transforms) with the
// 16x-compressed VGG19 autoencoders of Wang et al. 2020, "Collaborative Distillation"
// (github MingSun-Tse/Collaborative-Distillation, MIT; classes SmallEncoder{k}_16x_aux and
// SmallDecoder{k}_16x of model/model_cd.py, the transform of PytorchWCT/util_wct.py).
//
// Keys (each level k = 1..5 from its own published file):
//   encoder{k}.conv0 ([3,3,1,1], no padding, no ReLU), then VGG19's 3x3 convs up to conv{k}1
//     (reflection pad 1, ReLU; 2x2 max pool before conv21, conv31, conv41, conv51):
//     conv11 [24,3] at level 1, else [16,3]; conv12 [16,16]; conv21 [32,16]; conv22 [32,32];
//     conv31 [64,32]; conv32..34 [64,64]; conv41 [128,64]; conv42..44 [128,128]; conv51 [128,128].
//     The files' conv*_aux layers (distillation only) are checked and left out.
//   decoder{k}.conv{k}1 ... conv11 in reverse (reflection pad 1, ReLU after every conv, the
//     last included; nearest x2 upsampling after conv51, conv41, conv31 and conv21):
//     conv51 [128,128]; conv44..42 [128,128]; conv41 [64,128]; conv34..32 [64,64];
//     conv31 [32,64]; conv22 [32,32]; conv21 [16,32]; conv12 [16,16]; conv11 [3,16] ([3,24] at level 1).
//
// Tiles (setTile, issue 24): whitening and colouring need the content features' mean and
// covariance over the whole frame, so each level runs in two passes over the tiles. Pass A
// encodes each tile's core (unpadded convolutions on windows reflected at the frame's edges,
// as the whole-frame padding; cores on multiples of 16, so every max pool reads the whole
// frame's cells) and adds its per-channel sums of x and x x^T in double; one
// eigendecomposition of the summed covariance gives the transform; pass B transforms what
// each tile's decoder reads (levels 4 and 5 keep their small features whole from pass A,
// levels 1..3 encode that window again) and decodes it into the whole output image, which
// the next level reads whole (3 channels); the heap is given back after every tile
// (releaseFreedHeap). The halo is kWct16xTileHalo (models/tiling.hpp).
#include <memory>
#include <string>

#include "models/arbitrary_network.hpp"

namespace flowstyle::models {

// The published folder: encoders/ and decoders/ with the dated files that SOURCES.md maps to
// levels (encoders 1..5: 20191110-133713, -132713, -132705, -132643, 20191109-211322;
// decoders 1..5: 20191111-091942, -091932, -091929, 20191111-092553, 20191110-204615;
// any file name ending in _E20.pth or .pth after that stem). Every key and shape is checked
// (errors name the file and the key). Metadata: flowstyle.arch = wct16x, preprocess rgb_0_1.
TensorFile importWct16x(const std::string& folder);

class Wct16xNetwork final : public ArbitraryStyleNetwork {
 public:
  Wct16xNetwork(const TensorFile& file, const std::string& origin, const torch::Device& device);
  ~Wct16xNetwork() override;
  std::string arch() const override { return "wct16x"; }
  void setTile(int side) override;
  std::string tiling() const override;

  // The code: per level k = 1..5, the style's feature mean [C] and covariance [C,C]
  // (tensors 2(k-1) and 2(k-1)+1). Blending mixes both linearly.
  StyleCode encodeStyle(const cv::Mat& styleRgb) override;
  StyleCode blend(const std::vector<StyleCode>& codes, const std::vector<double>& weights) const override;
  // Coarse to fine, level 5 -> 1: encode, whiten the content's features and colour them with
  // the style's covariance, mix with the content's features by `strength` (the authors'
  // alpha), decode. Frames are padded (edge repeated) to a multiple of 16, at least 32.
  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames, const StyleCode& style,
                                  double strength) override;

  // For tests: level k's encoder / decoder on a float [N,3,H,W] RGB 0..1 batch (H, W
  // multiples of 16), and the two together (the autoencoder's reconstruction).
  torch::Tensor encode(int level, const torch::Tensor& rgb);
  torch::Tensor decode(int level, const torch::Tensor& features);
  // One level of the cascade on [1,3,H,W] (H, W multiples of 16): encode, transform, decode.
  torch::Tensor stylizeLevel(int level, const torch::Tensor& rgb, const StyleCode& style, double strength);
  // The cascade (levels 5 -> 1) on [1,3,H,W] RGB 0..1 (H, W multiples of 16, at least 32),
  // whole or in the tiles setTile asks for (tiling() tells which): the raw output, not clamped.
  torch::Tensor stylize(const torch::Tensor& rgb, const StyleCode& style, double strength);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The most the tiled chains read beyond a core, in input pixels, from the architecture:
// models::kWct16xTileHalo states it for the memory estimate (a test keeps them equal).
int wct16xTileHalo();

std::unique_ptr<ArbitraryStyleNetwork> makeWct16x(const TensorFile& file, const std::string& origin,
                                                  const torch::Device& device);

}  // namespace flowstyle::models
