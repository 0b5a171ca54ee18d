#pragma once
// MicroAST (Wang et al., AAAI 2023; github EndyWon/MicroAST, MIT): arbitrary style transfer
// with two tiny encoders, a modulator and a decoder (AdaIN + style-modulated residual blocks).
//
// Keys (the four published state_dicts, each under its file's prefix):
//   content_encoder. / style_encoder.  enc1.{0,2,4,6,8}.conv_layer.{weight,bias}
//       ([16,3,9,9], [32,1,3,3] stride 2 groups 16, [32,32,1,1], [64,1,3,3] stride 2
//       groups 32, [64,64,1,1]); enc1.10.conv{1,2}.conv_layer, enc2.0.conv{1,2}.conv_layer
//       ([64,64,3,3] residual blocks)
//   modulator.  {weight1,bias1,weight2,bias2}.0.conv_layer ([64,1,3,3] depthwise)
//   decoder.    dec{1,2}.conv{1,2}.conv_layer ([64,64,3,3]), dec3.{1,3,6,8,10}.conv_layer
//       ([32,2,3,3] groups 32, [32,32,1,1], [16,2,3,3] groups 16, [16,16,1,1], [3,16,9,9])
// Every convolution is reflection-padded by k/2 and has a bias.
//
// Tiles (setTile, issue 24): the content encoder (no norm) runs per tile in one pass into its
// whole quarter-resolution output; the AdaIN statistics and the two modulated residual layers
// run on that whole; the decoder (bilinear x2, 3x3, 1x1, bilinear x2, 3x3, 1x1, 9x9) runs
// per tile in one pass into the whole output. Each step is an unpadded convolution on a
// window of the previous step's output: real neighbouring values inside the frame, the
// frame's reflection where the window leaves it. Cores start on multiples of 4 (the two
// stride-2 convolutions); the halo is kMicroAstTileHalo (models/tiling.hpp).
#include <memory>
#include <string>

#include "models/arbitrary_network.hpp"

namespace flowstyle::models {

// Reads the authors' folder (content_encoder_iter_*.pth.tar, style_encoder_..., modulator_...,
// decoder_...; exactly one of each), checks every key and shape against the architecture
// (errors name the file and the key) and returns one TensorFile with prefixed keys and
// metadata flowstyle.arch = microast, flowstyle.preprocess = rgb_0_1.
TensorFile importMicroAst(const std::string& folder);

// strength (operator()) mixes the stylized picture with the frame (0 = the frame itself):
// the authors' feature alpha leaves the style's filter modulation in place and at 0 gives
// a picture far from the frame (mean |d| 72 of 255 on tubingen_90x70), not its own look.
//
// The network from an imported TensorFile (shapes checked again; `origin` names it in errors).
std::unique_ptr<ArbitraryStyleNetwork> makeMicroAst(const TensorFile& file, const std::string& origin,
                                                    const torch::Device& device);

// The most the tiled chains read beyond a core, in input pixels, from the architecture:
// models::kMicroAstTileHalo states it for the memory estimate (a test keeps them equal).
int microAstTileHalo();

// For tests: the network's raw output (RGB about 0..1, not clamped, in the network's layout)
// on x, [N,3,H,W] float in 0..1 with H, W multiples of 4 and at least 8, whole (tile 0) or
// in tiles of `tile` px (ArbitraryStyleNetwork::setTile, which it leaves set). net: MicroAST.
torch::Tensor microAstRaw(ArbitraryStyleNetwork& net, const torch::Tensor& x, const StyleCode& code, int tile);

// The StyleCode of MicroAST: tensors, each [1,64,1,1] float32 CPU, in this order.
enum MicroAstCode : int {
  kStyleMean1 = 0,  // AdaIN statistics of the style encoder's first output (enc1)
  kStyleStd1,
  kStyleMean2,      // ... and of its second (enc2)
  kStyleStd2,
  kFilterWeight1,   // the modulator's outputs: weight1/bias1 from enc1, weight2/bias2 from enc2
  kFilterBias1,
  kFilterWeight2,
  kFilterBias2,
  kMicroAstCodeSize
};

}  // namespace flowstyle::models
