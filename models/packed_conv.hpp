#pragma once
// A convolution on channels-last CPU tensors through oneDNN directly, its weight reordered
// once into the layout oneDNN's kernel wants. LibTorch 1.13's mkldnn_convolution accepts a
// prepacked (mkldnn) weight only on its blocked-NCHW path; on channels-last it reorders
// the weight on every call (16 reorders per frame of the fast network, README
// "Performance"). Built only where Debian's oneDNN headers are found and LibTorch uses
// that same library (FLOWSTYLE_HAVE_DNNL); available() says so.
#include <cstdint>
#include <memory>
#include <stdexcept>

#include <torch/torch.h>

namespace flowstyle::models::detail {

// Thrown by PackedConv when oneDNN has no kernel for a convolution (e.g. bfloat16 on a CPU
// without AVX-512): the caller runs LibTorch's convolution instead.
struct NoPackedKernel : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ConvGeometry {
  std::int64_t stride = 1;
  std::int64_t top = 0, left = 0, bottom = 0, right = 0;  // zero padding
};

class PackedConv {
 public:
  // Whether this build has the oneDNN path (else the constructor throws).
  static bool available();
  // weight: [O,C,kh,kw] floating point, CPU. type: float32 or bfloat16, the compute type.
  PackedConv(const torch::Tensor& weight, torch::ScalarType type);
  ~PackedConv();
  PackedConv(PackedConv&&) noexcept;
  PackedConv& operator=(PackedConv&&) noexcept;

  // x: [N,C,H,W] of the compute type on the CPU (made channels-last if it is not).
  // Throws NoPackedKernel when oneDNN has no kernel for it.
  // Returns [N,O,(H+top+bottom-kh)/stride+1,(W+left+right-kw)/stride+1] channels-last.
  // The primitive and the packed weight are made on the first call of each input shape
  // and geometry and kept. Not thread-safe (one instance per network, which is
  // thread-compatible).
  torch::Tensor operator()(const torch::Tensor& x, const ConvGeometry& g);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowstyle::models::detail
