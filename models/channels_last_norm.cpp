#include "models/channels_last_norm.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

namespace flowstyle::models::detail {
namespace {

// Pixels per statistics block: float sums over a block, double across blocks. Fixed, so
// that the result does not depend on how the blocks are spread over threads.
constexpr std::int64_t kBlockPixels = 256;

// A channels-last input as plain strides; channels are contiguous (stride 1).
struct View {
  std::int64_t n, k, h, w;      // sizes
  std::int64_t sn, sh, sw;      // strides in elements
};

template <typename T>
inline float load(const T& v) {
  return static_cast<float>(v);
}

// Per image and input channel k, the sums of (x - x[first pixel, k mod C]) and its square.
// sums: [N][2][K] doubles.
template <typename T>
void statistics(const T* x, const View& v, std::int64_t c, std::vector<double>& sums) {
  const std::int64_t pixels = v.h * v.w;
  const std::int64_t blocks = (pixels + kBlockPixels - 1) / kBlockPixels;
  std::vector<float> partial(static_cast<std::size_t>(v.n * blocks * 2 * v.k));
  at::parallel_for(0, v.n * blocks, 1, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> shiftv(static_cast<std::size_t>(v.k));
    for (std::int64_t job = begin; job < end; ++job) {
      const std::int64_t n = job / blocks, block = job % blocks;
      const T* image = x + n * v.sn;
      for (std::int64_t k = 0; k < v.k; ++k) shiftv[k] = load(image[k % c]);
      float* s = partial.data() + job * 2 * v.k;
      float* q = s + v.k;
      std::fill(s, s + 2 * v.k, 0.f);
      const float* shift = shiftv.data();
      const std::int64_t p0 = block * kBlockPixels, p1 = std::min(pixels, p0 + kBlockPixels);
      for (std::int64_t p = p0; p < p1; ++p) {
        const T* px = image + (p / v.w) * v.sh + (p % v.w) * v.sw;
        for (std::int64_t k = 0; k < v.k; ++k) {
          const float d = load(px[k]) - shift[k];
          s[k] += d;
          q[k] += d * d;
        }
      }
    }
  });
  sums.assign(static_cast<std::size_t>(v.n * 2 * v.k), 0.0);
  for (std::int64_t n = 0; n < v.n; ++n) {
    double* out = sums.data() + n * 2 * v.k;
    for (std::int64_t b = 0; b < blocks; ++b) {
      const float* in = partial.data() + (n * blocks + b) * 2 * v.k;
      for (std::int64_t k = 0; k < 2 * v.k; ++k) out[k] += in[k];
    }
  }
}

template <typename T>
inline T store(float y) {
  return static_cast<T>(y);
}

// Per image and channel (the phases pooled): the pixel count, mean and biased variance,
// in double. One read of x.
template <typename T>
void moments(const torch::Tensor& xIn, std::int64_t phases, std::vector<double>& mean,
             std::vector<double>& var, double& count) {
  const View v{xIn.size(0), xIn.size(1), xIn.size(2), xIn.size(3),
               xIn.stride(0), xIn.stride(2), xIn.stride(3)};
  const std::int64_t c = v.k / phases;
  const T* x = xIn.data_ptr<T>();
  std::vector<double> sums;
  statistics(x, v, c, sums);
  mean.assign(static_cast<std::size_t>(v.n * c), 0.0);
  var.assign(static_cast<std::size_t>(v.n * c), 0.0);
  count = static_cast<double>(v.h * v.w * phases);
  for (std::int64_t n = 0; n < v.n; ++n) {
    const T* first = x + n * v.sn;
    for (std::int64_t ch = 0; ch < c; ++ch) {
      double sum = 0, sq = 0;
      for (std::int64_t p = 0; p < phases; ++p) {
        sum += sums[n * 2 * v.k + p * c + ch];
        sq += sums[n * 2 * v.k + v.k + p * c + ch];
      }
      const double meanShifted = sum / count;
      var[n * c + ch] = std::max(0.0, sq / count - meanShifted * meanShifted);
      mean[n * c + ch] = meanShifted + load(first[ch]);
    }
  }
}

// y = x * a + b per image and channel (affine: [N][a[C], b[C]]), then the epilogue.
template <typename T>
torch::Tensor apply(const torch::Tensor& xIn, const std::vector<float>& affine, const NormEpilogue& e) {
  const std::int64_t s = e.shuffle, phases = s * s;
  const View v{xIn.size(0), xIn.size(1), xIn.size(2), xIn.size(3),
               xIn.stride(0), xIn.stride(2), xIn.stride(3)};
  const std::int64_t c = v.k / phases;
  const T* x = xIn.data_ptr<T>();
  const std::int64_t outH = v.h * s, outW = v.w * s, pad = e.padBottomRight;
  torch::Tensor out;
  if (e.inPlace) {
    TORCH_CHECK(s == 1 && pad == 0 && !e.tanhOutput && xIn.is_contiguous(at::MemoryFormat::ChannelsLast),
                "instanceNormChannelsLast: in place needs a contiguous channels-last x, no shuffle, pad or tanh");
    out = xIn;
  } else if (e.tanhOutput) {
    out = torch::empty({v.n, c, outH, outW}, xIn.options().dtype(torch::kFloat));
  } else {
    out = torch::empty({v.n, c, outH + pad, outW + pad},
                       xIn.options().memory_format(at::MemoryFormat::ChannelsLast));
  }
  const T* res = nullptr;
  if (e.residual.defined()) {
    TORCH_CHECK(s == 1 && pad == 0 && !e.tanhOutput && e.residual.sizes() == out.sizes() &&
                    e.residual.scalar_type() == xIn.scalar_type() &&
                    e.residual.is_contiguous(at::MemoryFormat::ChannelsLast),
                "instanceNormChannelsLast: the residual must match the output");
    res = e.residual.data_ptr<T>();
  }

  T* const outBase = e.tanhOutput ? nullptr : out.data_ptr<T>();
  float* const outFloat = e.tanhOutput ? out.data_ptr<float>() : nullptr;
  at::parallel_for(0, v.n * v.h, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t job = begin; job < end; ++job) {
      const std::int64_t n = job / v.h, h = job % v.h;
      const float* a = affine.data() + n * 2 * c;
      const float* b = a + c;
      for (std::int64_t w = 0; w < v.w; ++w) {
        const T* px = x + n * v.sn + h * v.sh + w * v.sw;
        for (std::int64_t p = 0; p < phases; ++p) {
          const std::int64_t oy = h * s + p / s, ox = w * s + p % s;
          const T* in = px + p * c;
          if (e.tanhOutput) {
            float* o = outFloat;
            for (std::int64_t ch = 0; ch < c; ++ch) {
              const float y = std::tanh(load(in[ch]) * a[ch] + b[ch]) * 150.f + 127.5f;
              o[((n * c + ch) * outH + oy) * outW + ox] = std::clamp(y, 0.f, 255.f);
            }
            continue;
          }
          const std::int64_t offset = ((n * (outH + pad) + oy) * (outW + pad) + ox) * c;
          T* o = outBase + offset;
          if (res) {
            const T* r = res + offset;
            for (std::int64_t ch = 0; ch < c; ++ch) {
              float y = load(in[ch]) * a[ch] + b[ch] + load(r[ch]);
              o[ch] = store<T>(e.relu ? std::max(y, 0.f) : y);
            }
          } else if (e.relu) {
            for (std::int64_t ch = 0; ch < c; ++ch) {
              o[ch] = store<T>(std::max(load(in[ch]) * a[ch] + b[ch], 0.f));
            }
          } else {
            for (std::int64_t ch = 0; ch < c; ++ch) o[ch] = store<T>(load(in[ch]) * a[ch] + b[ch]);
          }
        }
      }
      if (pad > 0 && !e.tanhOutput) {  // the right-hand zero columns of these output rows
        for (std::int64_t oy = h * s; oy < (h + 1) * s; ++oy) {
          T* o = outBase + ((n * (outH + pad) + oy) * (outW + pad) + outW) * c;
          std::fill(o, o + pad * c, store<T>(0.f));
        }
      }
    }
  });
  if (pad > 0 && !e.tanhOutput) {  // the bottom zero rows
    for (std::int64_t n = 0; n < v.n; ++n) {
      T* o = outBase + (n * (outH + pad) + outH) * (outW + pad) * c;
      std::fill(o, o + pad * (outW + pad) * c, store<T>(0.f));
    }
  }
  return out;
}

template <typename T>
torch::Tensor run(const torch::Tensor& xIn, const torch::Tensor& scaleIn,
                  const torch::Tensor& shiftIn, double eps, const NormEpilogue& e) {
  std::vector<double> mean, var;
  double count = 0;
  moments<T>(xIn, e.shuffle * e.shuffle, mean, var, count);
  const std::int64_t n = xIn.size(0), c = static_cast<std::int64_t>(mean.size()) / n;
  auto scale = scaleIn.to(torch::kFloat).contiguous();
  auto shift = shiftIn.to(torch::kFloat).contiguous();
  const float* g = scale.data_ptr<float>();
  const float* beta = shift.data_ptr<float>();
  std::vector<float> affine(static_cast<std::size_t>(n * 2 * c));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t ch = 0; ch < c; ++ch) {
      const double a = g[ch] / std::sqrt(var[i * c + ch] + eps);
      affine[i * 2 * c + ch] = static_cast<float>(a);
      affine[i * 2 * c + c + ch] = static_cast<float>(beta[ch] - mean[i * c + ch] * a);
    }
  }
  return apply<T>(xIn, affine, e);
}

void checkEpilogue(const torch::Tensor& x, std::int64_t channels, const NormEpilogue& epilogue) {
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu(), "instanceNormChannelsLast: expected a CPU [N,K,H,W]");
  TORCH_CHECK(epilogue.shuffle == 1 || epilogue.shuffle == 2, "instanceNormChannelsLast: shuffle 1 or 2");
  TORCH_CHECK(epilogue.padBottomRight >= 0, "instanceNormChannelsLast: negative pad");
  const std::int64_t phases = epilogue.shuffle * epilogue.shuffle;
  TORCH_CHECK(x.size(1) % phases == 0 && channels == x.size(1) / phases, "instanceNormChannelsLast: ",
              x.size(1), " channels, ", channels, " scales, shuffle ", epilogue.shuffle);
  TORCH_CHECK(x.size(2) > 0 && x.size(3) > 0, "instanceNormChannelsLast: empty image");
}

// Channels must be contiguous; the spatial strides may be anything (a cropped view).
torch::Tensor channelsInner(const torch::Tensor& x) {
  return x.stride(1) == 1 ? x : x.contiguous(at::MemoryFormat::ChannelsLast);
}

}  // namespace

void ChannelMoments::merge(const ChannelMoments& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  TORCH_CHECK(mean.size() == other.mean.size(), "ChannelMoments::merge: channel counts differ");
  const double total = count + other.count;
  for (std::size_t c = 0; c < mean.size(); ++c) {
    const double delta = other.mean[c] - mean[c];
    mean[c] += delta * (other.count / total);
    m2[c] += other.m2[c] + delta * delta * (count * other.count / total);
  }
  count = total;
}

ChannelMoments channelMomentsChannelsLast(const torch::Tensor& x, int shuffle) {
  TORCH_CHECK(x.dim() == 4 && x.size(0) == 1 && x.device().is_cpu() && (shuffle == 1 || shuffle == 2) &&
                  x.size(1) % (shuffle * shuffle) == 0 && x.size(2) > 0 && x.size(3) > 0,
              "channelMomentsChannelsLast: expected a CPU [1,K,H,W] with K a multiple of ", shuffle * shuffle);
  const torch::Tensor in = channelsInner(x);
  ChannelMoments m;
  std::vector<double> var;
  if (in.scalar_type() == torch::kFloat) {
    moments<float>(in, shuffle * shuffle, m.mean, var, m.count);
  } else if (in.scalar_type() == torch::kBFloat16) {
    moments<c10::BFloat16>(in, shuffle * shuffle, m.mean, var, m.count);
  } else {
    TORCH_CHECK(false, "channelMomentsChannelsLast: float32 or bfloat16, not ", in.scalar_type());
  }
  m.m2.resize(var.size());
  for (std::size_t c = 0; c < var.size(); ++c) m.m2[c] = var[c] * m.count;
  return m;
}

std::vector<float> instanceNormAffine(const ChannelMoments& m, const torch::Tensor& scaleIn,
                                      const torch::Tensor& shiftIn, double eps) {
  const auto c = static_cast<std::int64_t>(m.mean.size());
  TORCH_CHECK(m.count > 0 && scaleIn.numel() == c && shiftIn.numel() == c && m.m2.size() == m.mean.size(),
              "instanceNormAffine: ", c, " channels of moments, ", scaleIn.numel(), " scales");
  auto scale = scaleIn.to(torch::kCPU, torch::kFloat).contiguous();
  auto shift = shiftIn.to(torch::kCPU, torch::kFloat).contiguous();
  const float* g = scale.data_ptr<float>();
  const float* beta = shift.data_ptr<float>();
  std::vector<float> affine(static_cast<std::size_t>(2 * c));
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double a = g[ch] / std::sqrt(std::max(0.0, m.m2[ch] / m.count) + eps);
    affine[ch] = static_cast<float>(a);
    affine[c + ch] = static_cast<float>(beta[ch] - m.mean[ch] * a);
  }
  return affine;
}

torch::Tensor affineChannelsLast(const torch::Tensor& x, const std::vector<float>& affine,
                                 const NormEpilogue& epilogue) {
  checkEpilogue(x, static_cast<std::int64_t>(affine.size()) / 2, epilogue);
  TORCH_CHECK(x.size(0) == 1, "affineChannelsLast: one image");
  const torch::Tensor in = channelsInner(x);
  if (in.scalar_type() == torch::kFloat) return apply<float>(in, affine, epilogue);
  if (in.scalar_type() == torch::kBFloat16) return apply<c10::BFloat16>(in, affine, epilogue);
  TORCH_CHECK(false, "affineChannelsLast: float32 or bfloat16, not ", in.scalar_type());
}

torch::Tensor instanceNormChannelsLast(const torch::Tensor& x, const torch::Tensor& scale,
                                       const torch::Tensor& shift, double eps,
                                       const NormEpilogue& epilogue) {
  TORCH_CHECK(scale.numel() == shift.numel(), "instanceNormChannelsLast: ", scale.numel(), " scales, ",
              shift.numel(), " shifts");
  checkEpilogue(x, scale.numel(), epilogue);
  const torch::Tensor in = channelsInner(x);
  if (in.scalar_type() == torch::kFloat) return run<float>(in, scale, shift, eps, epilogue);
  if (in.scalar_type() == torch::kBFloat16) {
    return run<c10::BFloat16>(in, scale, shift, eps, epilogue);
  }
  TORCH_CHECK(false, "instanceNormChannelsLast: float32 or bfloat16, not ", in.scalar_type());
}

torch::Tensor phaseMajorChannels(const torch::Tensor& weight, std::int64_t dim) {
  TORCH_CHECK(weight.dim() == 4 && (dim == 0 || dim == 1) && weight.size(dim) % 4 == 0,
              "phaseMajorChannels: expected a 4-d weight with 4*C channels in dim ", dim);
  auto sizes = weight.sizes().vec();
  std::vector<std::int64_t> split(sizes);
  split[dim] = sizes[dim] / 4;
  split.insert(split.begin() + dim + 1, 4);  // channel c*4 + p -> (c, p)
  return weight.reshape(split).transpose(dim, dim + 1).reshape(sizes).contiguous();
}

torch::Tensor spaceToDepthChannelsLast(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(2) % 2 == 0 && x.size(3) % 2 == 0,
              "spaceToDepthChannelsLast: expected [N,C,H,W] with even H, W");
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2) / 2, w = x.size(3) / 2;
  auto nhwc = x.permute({0, 2, 3, 1});  // a plain view when x is channels-last
  return nhwc.reshape({n, h, 2, w, 2, c})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({n, h, w, 4 * c})
      .permute({0, 3, 1, 2});
}

}  // namespace flowstyle::models::detail
