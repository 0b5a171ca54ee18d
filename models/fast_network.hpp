#pragma once
// Feed-forward style networks (Johnson et al. 2016; the ml5 / Engstrom network).
#include <memory>
#include <string>
#include <vector>

// FLOWSTYLE_TORCH_ONLY (the LibTorch-only GPU check, tools/gpu_check): no OpenCV, no Boost;
// the cv::Mat calls and the ml5 import are left out, forward() and the weights remain.
#ifdef FLOWSTYLE_TORCH_ONLY
namespace cv {
class Mat;
}
#else
#include <opencv2/core.hpp>
#endif

#include "models/precision.hpp"
#include "models/safetensors.hpp"

namespace flowstyle::models {

// Imports an ml5 / deeplearn.js checkpoint folder (manifest.json + one raw float32
// file per variable) into PyTorch layout with flowstyle key names and metadata
// (flowstyle.arch = johnson_ml5, flowstyle.name = folder name). Checks every
// variable's presence, shape and file size; errors name the folder and variable.
//
// Keys (PyTorch layout; ml5 variable index in brackets), every conv without bias and
// followed by an instance norm `inK.shift` / `inK.scale` of its output channels:
//   conv1.weight [32,3,9,9] (0), in1 (1,2); conv2.weight [64,32,3,3] (3), in2 (4,5);
//   conv3.weight [128,64,3,3] (6), in3 (7,8);
//   resB.conv1.weight, resB.in1, resB.conv2.weight, resB.in2 for B = 1..5 ([128,128,3,3];
//     block B starts at variable 9 + 6(B-1));
//   deconv1.weight [128,64,3,3] (39, ConvTranspose2d layout [in,out,kh,kw]), in4 (40,41);
//   deconv2.weight [64,32,3,3] (42), in5 (43,44); conv4.weight [3,32,9,9] (45), in6 (46,47).
TensorFile importMl5Checkpoint(const std::string& folder);

// What Auto picks on `device` before the check (Float32 where nothing faster exists).
Precision reducedPrecisionFor(const torch::Device& device);

// How the activations are laid out.
//   Auto: ChannelsLast on the CPU, Nchw on CUDA.
//   ChannelsLast: on the CPU, one layout and format from input to output (convolution
//     weights converted once at load and packed for oneDNN on the first frame of a size
//     where the build has it, see packedWeights; every instance norm a fused channels-last kernel
//     that also does the ReLU, residual add, pixel shuffle and stride-2 padding; oneDNN
//     reorders no activation); less CPU time per frame than Nchw (docs/performance.md).
//     On CUDA: channels-last tensors with a
//     var_mean norm.
//   Nchw: LibTorch's instance_norm and pixel_shuffle on NCHW tensors.
enum class Layout { Auto, Nchw, ChannelsLast };

// How the stride-2 transposed convolutions and the tensors are laid out at run time.
// The defaults are the fastest on CPU (docs/performance.md); the others exist for tests/benchmarks.
struct FastNetworkOptions {
  bool nativeTransposedConv = false;  // true: torch conv_transpose2d (slow on CPU; not on the
                                      // CPU's channels-last path, which has its own)
  Layout layout = Layout::Auto;
  bool spaceToDepth = true;           // 9x9 convs on even sizes as 5x5 on a 2x-coarser grid
  Precision precision = Precision::Float32;
  // Reflect-pad every side of the frame by this many pixels before the network and crop
  // after: the ml5 networks were trained with zero padding and paint a coloured frame
  // along the borders otherwise. -1 = kAutoBorderPad; 0 = off. Clamped to what reflection
  // allows on small frames (size - 1).
  int borderPad = -1;
  // Auto: largest RMS of (reduced - float32) kept, on 0..255 (what bfloat16 gives:
  // flowstyle-bench precision, docs/performance.md).
  double tolerance = 1.0;
  // CPU channels-last: convolutions through oneDNN with each weight packed into the
  // kernel's layout once (where the build has oneDNN, models/packed_conv.hpp); false:
  // LibTorch's conv2d, which reorders every weight on every call.
  bool packedWeights = true;
  // > 0: run the full-resolution layers (conv1..conv3, deconv1..conv4) in tiles of at most
  // this side (px of the padded input, cores on multiples of 4, see models/tiling.hpp) with
  // a halo of real neighbouring pixels, and every instance norm's statistics over the whole
  // frame (a pass per norm of the tiled layers; earlier norms settled before later ones);
  // the quarter-resolution residual blocks run whole. The output equals the whole-frame
  // run's within float rounding (tests: RMS < 0.05 of 255); peak memory follows the tile,
  // not the frame, except for the quarter-resolution part (docs/performance.md, "Tiles").
  // 0: the whole frame at once. Any precision and layout; frames of a batch run one by one.
  int tile = 0;
};

// The default border pad in pixels: the frame the networks paint is a fixed number of
// pixels wide whatever the frame size (their receptive field), so the pad is too.
// Chosen by measurement (README "Borders"; flowstyle-bench borders).
constexpr int kAutoBorderPad = 48;
// The pad used for a frame of w x h under `requested` (-1 = auto): at most min(w, h) - 1.
int borderPadFor(int requested, int w, int h);

// The format a network runs in, and why.
struct PrecisionChoice {
  Precision requested = Precision::Float32;
  Precision used = Precision::Float32;  // Auto until the first call has decided
  // Auto: (reduced - float32) on the first call's outputs, 0..255; -1: not measured.
  double rmsDiff = -1;
  double maxDiff = -1;
  std::string describe() const;  // e.g. "bfloat16 (auto: vs float32 RMS difference 0.40 ...)"
};

class FastStyleNetwork {
 public:
  // path: a safetensors file written from importMl5Checkpoint, or an ml5 folder.
  // device: as models::resolveDevice. Shapes checked on load.
  FastStyleNetwork(const std::string& path, const std::string& device = "auto");
  FastStyleNetwork(const std::string& path, const std::string& device,
                   const FastNetworkOptions& options);
  ~FastStyleNetwork();
  std::string name() const;
  const PrecisionChoice& precision() const;
  // Why a fast path fell back since load (oneDNN had no packed kernel: LibTorch's
  // convolution runs instead), one line; empty when none did.
  std::string fallbacks() const;
  // How the last call was tiled ("4x3 tiles of 1024 px, halo 16"); empty when it ran whole.
  std::string tiling() const;

  // frames: CV_8UC3 RGB, all the same size (any size >= 1x1). Returns CV_8UC3 RGB
  // of each frame's own size (reflect-padded by options.borderPad on every side, then
  // bottom/right to a multiple of 4 by repeating the edge, before the net; cropped after). Thread-compatible (the first call may settle
  // Precision::Auto), InferenceMode inside.
  std::vector<cv::Mat> operator()(const std::vector<cv::Mat>& frames);

  // The raw network on one image (no pad/crop): output size follows TF SAME rounding
  // (90x70 -> 92x72). Returns CV_32FC3 RGB in [0,255] (clipped). For golden tests.
  cv::Mat raw(const cv::Mat& rgb);

  // The raw network on a float NCHW RGB batch in [0,255] (any device; moved to the
  // network's). Returns NCHW in [0,255] on the network's device. No pad/crop.
  torch::Tensor forward(const torch::Tensor& rgb255);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {
// A stride-2 3x3 transposed convolution as TensorFlow's SAME conv2d_transpose computes
// it (== torch conv_transpose2d(x, w, stride 2, padding 0) cropped to [:2H, :2W]),
// rewritten as a 2x2 convolution on the input grid followed by a pixel shuffle.
// weight: [in,out,3,3] (ConvTranspose2d layout) -> [4*out,in,2,2].
torch::Tensor transposedConvAsConvWeight(const torch::Tensor& weight);
// x: [N,in,H,W]; convWeight from transposedConvAsConvWeight. Returns [N,out,2H,2W].
torch::Tensor transposedConvByShuffle(const torch::Tensor& x, const torch::Tensor& convWeight);

// A stride-1 SAME convolution with an odd kxk kernel on an even-sized input, rewritten as
// pixel_unshuffle(2) -> conv with a ((k-1)/2 rounded up to even, +1)-sized kernel on the
// coarse grid -> pixel_shuffle(2). Few-output-channel 9x9 convs run far faster this way.
// weight: [O,C,k,k] -> [4*O,4*C,K,K].
torch::Tensor spaceToDepthConvWeight(const torch::Tensor& weight);
// x: [N,C,H,W] with H, W even; returns [N,O,H,W] == conv2d(x, weight, padding (k-1)/2).
torch::Tensor convBySpaceToDepth(const torch::Tensor& x, const torch::Tensor& s2dWeight);
}  // namespace detail

}  // namespace flowstyle::models
