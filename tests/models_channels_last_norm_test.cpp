// The fused channels-last instance norm (models/channels_last_norm.*) against plain
// LibTorch float32 ops: instance_norm, relu, add, pixel_shuffle, pixel_unshuffle,
// constant_pad_nd, tanh.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "models/channels_last_norm.hpp"

namespace {

using flowstyle::models::detail::instanceNormChannelsLast;
using flowstyle::models::detail::NormEpilogue;
using flowstyle::models::detail::phaseMajorChannels;
using flowstyle::models::detail::spaceToDepthChannelsLast;

constexpr double kEps = 1e-3;

torch::Tensor channelsLast(const torch::Tensor& t, torch::ScalarType type) {
  return t.to(type).contiguous(at::MemoryFormat::ChannelsLast);
}

// The reference: LibTorch's float32 instance norm on NCHW, then the epilogue op by op.
torch::Tensor reference(const torch::Tensor& x, const torch::Tensor& scale,
                        const torch::Tensor& shift, bool relu, const torch::Tensor& residual) {
  auto y = torch::instance_norm(x.to(torch::kFloat).contiguous(), scale, shift, {}, {}, true, 0.0,
                                kEps, false);
  if (residual.defined()) y = y + residual.to(torch::kFloat);
  return relu ? y.relu() : y;
}

// Largest |got - expected| relative to expected's largest magnitude.
double relativeError(const torch::Tensor& got, const torch::Tensor& expected) {
  const double scale = expected.abs().max().item<double>();
  return (got.to(torch::kFloat) - expected).abs().max().item<double>() / scale;
}

// float32: float32 sums, so ~1e-6; bfloat16: one rounding of the output, 2^-8 relative.
double tolerance(torch::ScalarType type) { return type == torch::kFloat ? 5e-5 : 8e-3; }

const char* name(torch::ScalarType type) { return type == torch::kFloat ? "float32" : "bfloat16"; }

}  // namespace

TEST(Models_ChannelsLastNorm, MatchesInstanceNormReluAndResidualAdd) {
  torch::manual_seed(3);
  for (auto type : {torch::kFloat, torch::kBFloat16}) {
    for (const std::vector<int64_t>& size :
         {std::vector<int64_t>{2, 5, 7, 6}, {1, 128, 23, 40}, {1, 3, 1, 1}}) {
      const int64_t n = size[0], c = size[1], h = size[2], w = size[3];
      SCOPED_TRACE(std::string(name(type)) + " " + std::to_string(c) + "x" + std::to_string(h) +
                   "x" + std::to_string(w));
      // A large common offset: the statistics must not lose the variance to cancellation.
      auto x = torch::randn({n, c, h, w}) * 3 + 500;
      auto scale = torch::rand({c}) + 0.5, shift = torch::randn({c});
      auto residual = torch::randn({n, c, h, w}) * 2;
      const auto xr = channelsLast(x, type), rr = channelsLast(residual, type);
      for (bool relu : {false, true}) {
        for (bool add : {false, true}) {
          SCOPED_TRACE(std::string(relu ? "relu" : "") + (add ? " add" : ""));
          NormEpilogue e;
          e.relu = relu;
          if (add) e.residual = rr;
          auto got = instanceNormChannelsLast(xr, scale, shift, kEps, e);
          EXPECT_EQ(got.scalar_type(), type);
          EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
          auto expected = reference(xr, scale, shift, relu, add ? rr : torch::Tensor());
          ASSERT_EQ(got.sizes(), expected.sizes());
          if (h * w == 1) {  // one value per channel: normalized to 0, y = shift
            EXPECT_LT((got.to(torch::kFloat) - expected).abs().max().item<double>(), 0.05);
          } else {
            EXPECT_LT(relativeError(got, expected), tolerance(type));
          }
        }
      }
    }
  }
}

// The up-convolution's four phases, phase-major, normalized together and shuffled on write.
TEST(Models_ChannelsLastNorm, ShuffleEqualsPixelShuffleThenInstanceNorm) {
  torch::manual_seed(5);
  for (auto type : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(name(type));
    const int64_t n = 2, c = 6, h = 5, w = 7;
    auto phaseMajor = torch::randn({n, 4 * c, h, w}) * 4 + 2;
    // Channel (2a+b)*C + ch -> torch's order ch*4 + 2a + b.
    auto torchOrder = phaseMajor.view({n, 4, c, h, w}).transpose(1, 2).reshape({n, 4 * c, h, w});
    auto scale = torch::rand({c}) + 0.5, shift = torch::randn({c});
    NormEpilogue e;
    e.relu = true;
    e.shuffle = 2;
    auto got = instanceNormChannelsLast(channelsLast(phaseMajor, type), scale, shift, kEps, e);
    auto expected = reference(torch::pixel_shuffle(torchOrder.to(type).to(torch::kFloat), 2), scale,
                              shift, true, {});
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
    EXPECT_LT(relativeError(got, expected), tolerance(type));
  }
}

// Zero row and column for the next SAME stride-2 conv: equal to constant_pad_nd after.
TEST(Models_ChannelsLastNorm, PadBottomRightEqualsConstantPad) {
  torch::manual_seed(9);
  auto x = torch::randn({2, 16, 6, 8});
  auto scale = torch::rand({16}) + 0.5, shift = torch::randn({16});
  NormEpilogue e;
  e.relu = true;
  e.padBottomRight = 1;
  auto got = instanceNormChannelsLast(channelsLast(x, torch::kFloat), scale, shift, kEps, e);
  auto expected = torch::constant_pad_nd(reference(x, scale, shift, true, {}), {0, 1, 0, 1}, 0.0);
  ASSERT_EQ(got.sizes(), expected.sizes());
  EXPECT_LT(relativeError(got, expected), tolerance(torch::kFloat));
  EXPECT_EQ(got.index({torch::indexing::Slice(), torch::indexing::Slice(), 6}).abs().max().item<float>(), 0.f);
  EXPECT_EQ(got.index({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(), 8})
                .abs().max().item<float>(), 0.f);
}

// The network's last step: shuffle, norm, 150 tanh + 127.5 clipped, float32 NCHW out.
TEST(Models_ChannelsLastNorm, TanhOutputIsFloatNchwOfTheReference) {
  torch::manual_seed(13);
  for (auto type : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(name(type));
    auto phaseMajor = torch::randn({1, 12, 6, 10}) * 5;
    auto torchOrder = phaseMajor.view({1, 4, 3, 6, 10}).transpose(1, 2).reshape({1, 12, 6, 10});
    auto scale = torch::rand({3}) * 3, shift = torch::randn({3});
    NormEpilogue e;
    e.shuffle = 2;
    e.tanhOutput = true;
    auto got = instanceNormChannelsLast(channelsLast(phaseMajor, type), scale, shift, kEps, e);
    auto expected =
        (reference(torch::pixel_shuffle(torchOrder.to(type).to(torch::kFloat), 2), scale, shift,
                   false, {}).tanh() * 150 + 127.5).clamp(0, 255);
    EXPECT_EQ(got.scalar_type(), torch::kFloat);
    EXPECT_TRUE(got.is_contiguous());
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-3);
  }
}

// A cropped view (the up-convolution's extra row and column) reads as its copy would.
TEST(Models_ChannelsLastNorm, CroppedViewEqualsItsCopy) {
  torch::manual_seed(17);
  auto big = channelsLast(torch::randn({1, 8, 9, 11}), torch::kBFloat16);
  auto view = big.narrow(2, 0, 8).narrow(3, 0, 10);
  ASSERT_FALSE(view.is_contiguous(at::MemoryFormat::ChannelsLast));
  auto scale = torch::rand({8}) + 0.5, shift = torch::randn({8});
  auto a = instanceNormChannelsLast(view, scale, shift, kEps);
  auto b = instanceNormChannelsLast(view.contiguous(at::MemoryFormat::ChannelsLast), scale, shift, kEps);
  EXPECT_TRUE(torch::equal(a, b));
}

// Fixed statistics blocks: one thread and two give the same bits.
TEST(Models_ChannelsLastNorm, OneAndTwoThreadsAgreeExactly) {
  torch::manual_seed(19);
  auto x = channelsLast(torch::randn({1, 64, 45, 80}) * 10, torch::kBFloat16);
  auto scale = torch::rand({64}) + 0.5, shift = torch::randn({64});
  NormEpilogue e;
  e.relu = true;
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  auto one = instanceNormChannelsLast(x, scale, shift, kEps, e);
  at::set_num_threads(2);
  auto two = instanceNormChannelsLast(x, scale, shift, kEps, e);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(one, two));
}

TEST(Models_ChannelsLastNorm, SpaceToDepthIsPixelUnshuffleInPhaseMajorOrder) {
  torch::manual_seed(23);
  auto x = torch::randn({2, 3, 6, 8});
  auto got = spaceToDepthChannelsLast(channelsLast(x, torch::kFloat));
  EXPECT_TRUE(got.is_contiguous(at::MemoryFormat::ChannelsLast));
  auto expected = torch::pixel_unshuffle(x, 2).view({2, 3, 4, 3, 4}).transpose(1, 2).reshape({2, 12, 3, 4});
  EXPECT_TRUE(torch::equal(got.contiguous(), expected));
}

TEST(Models_ChannelsLastNorm, PhaseMajorChannelsReordersOutputsAndInputs) {
  auto w = torch::arange(8 * 4 * 2 * 2, torch::kFloat).view({8, 4, 2, 2});
  auto out = phaseMajorChannels(w, 0);  // 8 = 2 channels x 4 phases
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 2; ++c) EXPECT_TRUE(torch::equal(out[p * 2 + c], w[c * 4 + p]));
  auto in = phaseMajorChannels(w, 1);  // 4 = 1 channel x 4 phases
  EXPECT_TRUE(torch::equal(in, w));
  EXPECT_THROW(phaseMajorChannels(torch::zeros({6, 4, 1, 1}), 0), c10::Error);
}
