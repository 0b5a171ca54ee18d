#pragma once
// The 26-style conditional-instance-norm network shipped as multistyle26.onnx (a
// feed-forward transformer whose every instance norm holds one scale and shift per style;
// Dumoulin et al. 2017's "learned representation for artistic style"). It does not read a
// style image: a style is one of its 26, or a weighted mix of them.
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/arbitrary_network.hpp"
#include "models/safetensors.hpp"

namespace flowstyle::models {

constexpr int kMultistyleStyles = 26;

// Reads multistyle26.onnx (models/onnx_reader): the graph must take 'image' [1,3,h,w] and
// 'style_weights' [26]; its 18 convolutions (no bias) and their norms' per-style tables are
// taken by name and shape-checked, with each convolution's stride from the graph:
//   contract.{0,1,2}.w  [32,3,9,9] [32,32,3,3] [32,32,3,3]  strides 1, 2, 2
//   res.{0..5}.{0,1}.w  [32,32,3,3]
//   expand.{0,1,2}.w    [8,32,3,3] [4,8,3,3] [3,4,9,9]       (0 and 1 after a 2x nearest upsample)
//   <conv>.norm.gamma, <conv>.norm.beta  [26, out channels]
// Metadata: flowstyle.arch = multistyle26, flowstyle.preprocess = rgb_0_1. Errors name the
// file and the initializer.
TensorFile importMultistyle26(const std::string& onnxPath);

// True when the ONNX file's graph inputs are the 26-style network's ('image', and
// 'style_weights' of 26). Reads the file (bounded, as readOnnx).
bool isMultistyle26Onnx(const std::string& onnxPath);

std::unique_ptr<ArbitraryStyleNetwork> makeMultistyle26(const TensorFile& file, const std::string& source,
                                                        const torch::Device& device);

// Tiles (setTile, issue 24): every convolution has an instance norm, the contraction's
// too, so each norm's whole-frame statistics come from a pass over the tiles (per-channel
// moments merged in double) before any tile reads its output. contract.0 and contract.1
// (full and half resolution) are recomputed per tile, contract.2's output is kept whole at
// quarter resolution where its norm and the six residual blocks run; the expansion runs per
// tile once per norm and once for the output (as Magenta's). Output: the whole frame's
// within float rounding. The halo is kMultistyleTileHalo (models/tiling.hpp).
//
// The most the tiled chains of `net` (multistyle26) read beyond a core, in input pixels,
// from its layers; kMultistyleTileHalo states it for the memory estimate (a test keeps them
// equal).
int multistyleTileHalo(ArbitraryStyleNetwork& net);

// For tests: the network's output ([1,3,H,W] float in (0,1)) on x, [1,3,H,W] float in 0..1
// with H, W multiples of 4 and at least 8, whole (tile 0) or in tiles of `tile` px (setTile,
// which it leaves set), with the style weights of `code`.
torch::Tensor multistyleRaw(ArbitraryStyleNetwork& net, const torch::Tensor& x, const StyleCode& code, int tile);

// Style codes for the 26-style network (its encodeStyle refuses images): one style by
// index 0..25, or a mix given as one weight per style (>= 0, summing to > 0; normalized
// here). Throws std::invalid_argument naming the bad index or weight.
StyleCode multistyleCode(int index);
StyleCode multistyleCode(const std::vector<double>& weights);

}  // namespace flowstyle::models
