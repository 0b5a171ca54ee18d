// PackedConv (oneDNN with the weight packed once) against LibTorch's float32 conv2d.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/packed_conv.hpp"

using flowstyle::models::detail::ConvGeometry;
using flowstyle::models::detail::PackedConv;

namespace {

// oneDNN (Debian's 2.7) has bfloat16 convolutions from AVX-512 up; on an AVX2-only CPU it
// has none, and the fast network falls back to LibTorch's conv2d (fast_network.cpp, convCl).
bool cpuHasAvx512() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return line.find(" avx512f") != std::string::npos;
  }
  return false;
}

}  // namespace

TEST(Models_PackedConv, MatchesConv2dWithAsymmetricPadding) {
  if (!PackedConv::available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  torch::manual_seed(29);
  struct Case {
    std::int64_t c, o, k, h, w;
    ConvGeometry g;
  };
  const std::vector<Case> cases = {
      {3, 32, 9, 20, 26, {1, 4, 4, 4, 4}},     // conv1
      {32, 64, 3, 12, 16, {2, 0, 0, 1, 1}},    // SAME stride 2 on an even size
      {16, 24, 3, 11, 9, {2, 1, 1, 1, 1}},     // ... on an odd size
      {128, 128, 3, 9, 14, {1, 1, 1, 1, 1}},   // residual block
      {16, 64, 2, 7, 10, {1, 1, 1, 0, 0}},     // up-convolution as a 2x2 conv
  };
  for (auto type : {torch::kFloat, torch::kBFloat16}) {
    if (type == torch::kBFloat16 && !cpuHasAvx512()) {
      std::printf("bfloat16 cases skipped: this CPU has no AVX-512 (oneDNN has no bfloat16 kernel for it)\n");
      continue;
    }
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(type == torch::kFloat ? "float32 " : "bfloat16 ") +
                   std::to_string(c.c) + "->" + std::to_string(c.o) + " k" + std::to_string(c.k) +
                   " stride " + std::to_string(c.g.stride));
      auto x = torch::randn({2, c.c, c.h, c.w});
      auto weight = torch::randn({c.o, c.c, c.k, c.k}) / (c.k * std::sqrt(double(c.c)));
      PackedConv conv(weight, type);
      auto xt = x.to(type).contiguous(at::MemoryFormat::ChannelsLast);
      // The reference: float32 conv2d on the same (rounded) input and weight.
      auto expected = torch::conv2d(
          torch::constant_pad_nd(xt.to(torch::kFloat), {c.g.left, c.g.right, c.g.top, c.g.bottom}, 0.0),
          weight.to(type).to(torch::kFloat), {}, c.g.stride);
      for (int call = 0; call < 2; ++call) {  // the second call reuses the packed weight
        auto got = conv(xt, c.g);
        EXPECT_EQ(got.scalar_type(), type);
        EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
        ASSERT_EQ(got.sizes(), expected.sizes());
        const double scale = expected.abs().max().item<double>();
        const double err = (got.to(torch::kFloat) - expected).abs().max().item<double>() / scale;
        EXPECT_LT(err, type == torch::kFloat ? 1e-5 : 1e-2);
      }
    }
  }
}

TEST(Models_PackedConv, RejectsTheWrongTypeOrChannels) {
  if (!PackedConv::available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  PackedConv conv(torch::randn({8, 4, 3, 3}), torch::kBFloat16);
  EXPECT_THROW(conv(torch::randn({1, 4, 6, 6}), {}), c10::Error);  // float32 input
  EXPECT_THROW(conv(torch::randn({1, 5, 6, 6}).to(torch::kBFloat16), {}), c10::Error);
}
