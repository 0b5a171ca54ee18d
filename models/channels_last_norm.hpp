#pragma once
// Instance normalization on channels-last tensors, with the steps around it fused into
// one write: affine, ReLU, residual add, pixel shuffle, zero padding for the next
// stride-2 convolution, and the fast network's tanh output. LibTorch's instance_norm
// copies a channels-last input to NCHW (pytorch/pytorch#72341) and applies the affine,
// ReLU and add as separate passes; here the statistics take one read of the tensor and
// the output one read and one write.
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace flowstyle::models::detail {

// What happens to the normalized value y = (x - mean) / sqrt(var + eps) * scale + shift.
struct NormEpilogue {
  bool relu = false;
  // Added after the affine (and before any ReLU): same shape, layout and type as the
  // output. Undefined: none.
  torch::Tensor residual;
  // 2: x holds the four phases of a stride-2 up-convolution, phase-major
  // (channel (2a+b)*C + c is output channel c at row 2h+a, column 2w+b); the statistics
  // pool the four phases and the output is [N,C,2H,2W]. 1: no shuffle.
  int shuffle = 1;
  // Extra zero rows at the bottom and columns at the right of the output, for a SAME
  // stride-2 3x3 convolution on an even size (TensorFlow pads 0 before, 1 after).
  int padBottomRight = 0;
  // The fast network's last step: 150 * tanh(y) + 127.5 clipped to [0,255], written as
  // float32 NCHW (contiguous) whatever x's type.
  bool tanhOutput = false;
  // Write the output over x and return x (each value is read before it is overwritten):
  // one activation less at the peak. Needs x contiguous channels-last, shuffle 1, no pad,
  // no tanhOutput.
  bool inPlace = false;
};

// x: [N,K,H,W] channels-last, float32 or bfloat16, K = C * shuffle^2. scale, shift:
// float32 [C]. Statistics are float32 sums over blocks of pixels combined in double,
// per image and channel, over all H*W*shuffle^2 values (biased variance). Returns x's
// type, channels-last (float32 NCHW with tanhOutput), [N,C,H*s+pad,W*s+pad]; values are
// rounded to the output type once. Bit-identical for any thread count.
torch::Tensor instanceNormChannelsLast(const torch::Tensor& x, const torch::Tensor& scale,
                                       const torch::Tensor& shift, double eps,
                                       const NormEpilogue& epilogue = {});

// Instance-norm statistics gathered piece by piece (tiles of one image), merged exactly
// (Chan et al.'s pairwise update, in double): per channel, the phases of a shuffle pooled.
struct ChannelMoments {
  double count = 0;          // values per channel
  std::vector<double> mean;  // [C]
  std::vector<double> m2;    // [C]: sum of squared deviations from the mean
  void merge(const ChannelMoments& other);
};
// x: [1,K,H,W] channels-last (a cropped view is fine), float32 or bfloat16, K = C * shuffle^2
// in the phase-major order below. The same float32 block sums as instanceNormChannelsLast.
ChannelMoments channelMomentsChannelsLast(const torch::Tensor& x, int shuffle = 1);
// The norm's affine from whole-image moments: [a[C], b[C]], y = x * a + b, as float32 the
// way instanceNormChannelsLast rounds it (a = scale / sqrt(var + eps), b = shift - mean * a).
std::vector<float> instanceNormAffine(const ChannelMoments& moments, const torch::Tensor& scale,
                                      const torch::Tensor& shift, double eps);
// instanceNormChannelsLast's second half with a given affine (from instanceNormAffine):
// x: [1,K,H,W] as there; the same epilogue and output.
torch::Tensor affineChannelsLast(const torch::Tensor& x, const std::vector<float>& affine,
                                 const NormEpilogue& epilogue = {});

// The phase-major order above from torch's pixel_shuffle order (channel c*4 + 2a + b), for
// the output channels of a weight [4*C, ...] (dim 0) or input channels (dim 1).
torch::Tensor phaseMajorChannels(const torch::Tensor& weight, int64_t dim);

// Space-to-depth on a channels-last [N,C,H,W] tensor (H, W even) in phase-major order:
// [N,4C,H/2,W/2] channels-last, channel (2a+b)*C + c = x[:, c, 2h+a, 2w+b].
torch::Tensor spaceToDepthChannelsLast(const torch::Tensor& x);

}  // namespace flowstyle::models::detail
