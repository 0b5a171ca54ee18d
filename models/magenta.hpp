#pragma once
// Magenta's arbitrary-style network (Ghiasi et al. 2017), as published for TensorFlow Lite
// and converted to ONNX: a distilled MobileNetV2 style predictor (style image -> 100
// numbers) and a transformer network whose conditional instance norms take their scale and
// shift from that vector. Both graphs are int8-quantized (QDQ: every activation is rounded
// to 256 levels at fixed points); this network rounds at the same points (fake
// quantization in float32), which the golden output needs (without it: max |Δ| 103/255).
#include <memory>
#include <string>

#include <torch/torch.h>

#include "models/arbitrary_network.hpp"
#include "models/safetensors.hpp"

namespace flowstyle::models {

// Reads arbitrary_predict.onnx and arbitrary_transform.onnx (models/onnx_reader) and writes
// the weights as int8 with their per-channel scales, with every quantization point and constant the
// network uses, under keys named after the graphs' TensorFlow names ('/' -> '.'):
//   predict.<conv>.weight (int8) / .weight_scale / .bias / .stride / .out_q
//                                                       (53 convolutions of MobileNetV2)
//   predict.<name>.q                                    (input, residual adds, pooled mean)
//   transform.<conv>.weight (int8) / .weight_scale / .bias / .stride / .out_q
//                                                       (16 convolutions + 2 x 13 style
//                                                         projections under style_params.)
//   transform.<layer>.StyleNorm.<moment or batchnorm step>.q, .epsilon
// A .q / .out_q is float32 [scale, zero point, qmin, qmax]. Metadata: flowstyle.arch =
// magenta, flowstyle.preprocess = rgb_0_1. The result is checked by building the network
// (every key present, every shape as the architecture needs); errors name the ONNX file.
TensorFile importMagenta(const std::string& predictOnnx, const std::string& transformOnnx);

// The network from an imported TensorFile (as importMagenta writes it); `source` names the
// file in errors. Throws std::runtime_error naming a missing or misshapen key.
// fusedCpuKernels: on the CPU, each rounding, each convolution's epilogue and each norm in
// one loop of its own (measured faster); false: LibTorch's ops only, as on other devices.
std::unique_ptr<ArbitraryStyleNetwork> makeMagenta(const TensorFile& file, const std::string& source,
                                                   const torch::Device& device, bool fusedCpuKernels = true);

// Tiles (setTile, issue 24): the contraction (9x9, two stride-2 3x3; no norm) runs per tile
// in one pass into its whole quarter-resolution output; the five residual blocks run on that
// whole; the expansion (nearest x2, 3x3, norm, nearest x2, 3x3, norm, 9x9, norm) runs per tile
// once for each of its three norms' statistics and once for the output. A norm's input is
// a convolution's int8-rounded output, so its whole-frame statistics are the per-channel
// counts of its 256 levels summed over the tiles: the same mean and variance as the
// whole-frame kernel (double sums in another order). The halo is kMagentaTileHalo
// (models/tiling.hpp).
//
// The most the tiled chains of `net` (Magenta) read beyond a core, in input pixels, from
// its layers; models::kMagentaTileHalo states it for the memory estimate (a test keeps them equal).
int magentaTileHalo(ArbitraryStyleNetwork& net);

// For tests: the transformer's output ([1,3,H,W] float in [0,1] on 256 levels) on x,
// [1,3,H,W] float in 0..1 with H, W multiples of 4 and at least 8, whole (tile 0) or in
// tiles of `tile` px (setTile, which it leaves set), with the style vector of `code`.
torch::Tensor magentaRaw(ArbitraryStyleNetwork& net, const torch::Tensor& x, const StyleCode& code, int tile);

}  // namespace flowstyle::models
