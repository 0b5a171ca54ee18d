#include "models/fast_network.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#ifndef FLOWSTYLE_TORCH_ONLY  // see fast_network.hpp
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#endif
#include <torch/torch.h>

#include "models/channels_last_norm.hpp"
#include "models/device.hpp"
#include "models/packed_conv.hpp"
#include "models/tile_window.hpp"
#include "models/tiling.hpp"

namespace flowstyle::models {
namespace {

namespace fs = std::filesystem;
using Shape = std::vector<std::int64_t>;

constexpr double kInstanceNormEps = 1e-3;
constexpr const char* kArch = "johnson_ml5";
// 9x9 convs with at most this many outputs run as space-to-depth convs (faster for conv4,
// 32->3; slower for conv1, 3->32).
constexpr int kSpaceToDepthMaxOut = 8;

// One convolution (no bias) and the instance norm after it.
struct LayerSpec {
  std::string conv;  // key prefix of the weight: "<conv>.weight"
  std::string norm;  // key prefix of the norm: "<norm>.shift", "<norm>.scale"
  int variable;      // ml5 index of the kernel; shift = +1, scale = +2
  int kernel;
  int in;
  int out;
  bool transposed;

  Shape torchShape() const {
    // Conv2d: [out,in,k,k]; ConvTranspose2d: [in,out,k,k].
    return transposed ? Shape{in, out, kernel, kernel} : Shape{out, in, kernel, kernel};
  }
  Shape ml5Shape() const {
    // TF conv: [k,k,in,out]; TF conv2d_transpose: [k,k,out,in].
    return transposed ? Shape{kernel, kernel, out, in} : Shape{kernel, kernel, in, out};
  }
};

const std::vector<LayerSpec>& layerSpecs() {
  static const std::vector<LayerSpec> specs = [] {
    std::vector<LayerSpec> s = {
        {"conv1", "in1", 0, 9, 3, 32, false},
        {"conv2", "in2", 3, 3, 32, 64, false},
        {"conv3", "in3", 6, 3, 64, 128, false},
    };
    for (int b = 1; b <= 5; ++b) {
      const std::string p = "res" + std::to_string(b);
      const int base = 9 + 6 * (b - 1);
      s.push_back({p + ".conv1", p + ".in1", base, 3, 128, 128, false});
      s.push_back({p + ".conv2", p + ".in2", base + 3, 3, 128, 128, false});
    }
    s.push_back({"deconv1", "in4", 39, 3, 128, 64, true});
    s.push_back({"deconv2", "in5", 42, 3, 64, 32, true});
    s.push_back({"conv4", "in6", 45, 9, 32, 3, false});
    return s;
  }();
  return specs;
}

std::string ml5VariableName(int index) {
  return index == 0 ? std::string("Variable") : "Variable_" + std::to_string(index);
}

std::string shapeString(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? "," : "") << shape[i];
  os << ']';
  return os.str();
}

bool hostIsLittleEndian() {
  const std::uint32_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Reads one raw little-endian float32 variable file of the expected shape.
torch::Tensor readMl5Variable(const fs::path& file, const std::string& variable,
                              const Shape& shape) {
  std::int64_t count = 1;
  for (auto d : shape) count *= d;
  const auto expectedBytes = static_cast<std::uintmax_t>(count) * 4;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    throw std::runtime_error(file.string() + ": file of '" + variable +
                             "' is missing (the ml5 checkpoint is incomplete; download it again)");
  }
  const auto bytes = fs::file_size(file, ec);
  if (ec || bytes != expectedBytes) {
    throw std::runtime_error(file.string() + ": '" + variable + "' has " +
                             std::to_string(ec ? 0 : bytes) + " bytes, expected " +
                             std::to_string(expectedBytes) + " (float32 " + shapeString(shape) +
                             "); the file is truncated or not this variable");
  }
  torch::Tensor t = torch::empty(shape, torch::kFloat);
  std::ifstream in(file, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(t.data_ptr<float>()),
               static_cast<std::streamsize>(expectedBytes))) {
    throw std::runtime_error(file.string() + ": cannot read '" + variable + "'");
  }
  if (!hostIsLittleEndian()) {
    auto* p = reinterpret_cast<unsigned char*>(t.data_ptr<float>());
    for (std::int64_t i = 0; i < count; ++i) std::reverse(p + 4 * i, p + 4 * i + 4);
  }
  if (!torch::isfinite(t).all().item<bool>()) {
    throw std::runtime_error(file.string() + ": '" + variable + "' holds NaN or infinite values");
  }
  return t;
}

// TF "SAME" zero padding for one spatial dimension: {before, after}.
std::pair<std::int64_t, std::int64_t> samePadding(std::int64_t in, std::int64_t kernel,
                                                  std::int64_t stride) {
  const std::int64_t out = (in + stride - 1) / stride;
  const std::int64_t total = std::max<std::int64_t>((out - 1) * stride + kernel - in, 0);
  return {total / 2, total - total / 2};
}

torch::Tensor convSame(const torch::Tensor& x, const torch::Tensor& w, std::int64_t stride) {
  const std::int64_t k = w.size(2);
  const auto [top, bottom] = samePadding(x.size(2), k, stride);
  const auto [left, right] = samePadding(x.size(3), k, stride);
  if (top == bottom && left == right) {
    return torch::conv2d(x, w, {}, torch::IntArrayRef{stride, stride},
                         torch::IntArrayRef{top, left});
  }
  // Asymmetric (stride 2 on an even size): pad explicitly, then a valid convolution.
  return torch::conv2d(torch::constant_pad_nd(x, {left, right, top, bottom}, 0.0), w, {},
                       torch::IntArrayRef{stride, stride}, torch::IntArrayRef{0, 0});
}

#ifndef FLOWSTYLE_TORCH_ONLY
cv::Mat toMat8(const torch::Tensor& chw) {  // [3,H,W] float CPU in [0,255]
  auto hwc = chw.round().clamp(0, 255).to(torch::kByte).permute({1, 2, 0}).contiguous();
  cv::Mat out(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3);
  std::memcpy(out.data, hwc.data_ptr<std::uint8_t>(), static_cast<std::size_t>(hwc.numel()));
  return out;
}

cv::Mat toMat32(const torch::Tensor& chw) {  // [3,H,W] float CPU
  auto hwc = chw.to(torch::kFloat).permute({1, 2, 0}).contiguous();
  cv::Mat out(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_32FC3);
  std::memcpy(out.data, hwc.data_ptr<float>(), static_cast<std::size_t>(hwc.numel()) * 4);
  return out;
}

// CV_8UC3 frames of one size -> owned float [N,3,H,W] in [0,255] (CPU; in pinned memory
// when `pinned`, so that a CUDA upload is one asynchronous DMA without a staging copy).
torch::Tensor toTensor(const std::vector<cv::Mat>& frames, const char* what, bool pinned = false) {
  const cv::Size size = frames.front().size();
  auto batch = torch::empty({static_cast<std::int64_t>(frames.size()), 3, size.height,
                             size.width}, torch::TensorOptions(torch::kFloat).pinned_memory(pinned));
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat& f = frames[i];
    if (f.type() != CV_8UC3) {
      throw std::runtime_error(std::string(what) + ": frame " + std::to_string(i) +
                               " is not CV_8UC3 RGB");
    }
    if (f.size() != size) {
      throw std::runtime_error(std::string(what) + ": frame " + std::to_string(i) + " is " +
                               std::to_string(f.cols) + "x" + std::to_string(f.rows) +
                               ", frame 0 is " + std::to_string(size.width) + "x" +
                               std::to_string(size.height) + " (a batch must be one size)");
    }
    auto view = torch::from_blob(const_cast<std::uint8_t*>(f.ptr<std::uint8_t>()),
                                 {f.rows, f.cols, 3},
                                 {static_cast<std::int64_t>(f.step1()), 3, 1}, torch::kByte);
    batch[static_cast<std::int64_t>(i)].copy_(view.permute({2, 0, 1}));
  }
  return batch;
}
#endif  // FLOWSTYLE_TORCH_ONLY

}  // namespace

namespace detail {

torch::Tensor transposedConvAsConvWeight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3,
              "transposedConvAsConvWeight: expected [in,out,3,3]");
  // Output row 2m+a of conv_transpose2d(stride 2, padding 0) gets input row i through
  // kernel row kh = 2m+a-2i. With the input padded by one zero row on top, a 2x2 conv
  // tap u at output m reads input row m+u-1. Phase a=0: u=0 -> row m-1 (kh=2),
  // u=1 -> row m (kh=0); phase a=1: u=0 -> nothing, u=1 -> row m (kh=1). Same for columns.
  // tap[a][u] = kernel index or -1.
  const int tap[2][2] = {{2, 0}, {-1, 1}};
  const std::int64_t in = weight.size(0), out = weight.size(1);
  auto wt = weight.permute({1, 0, 2, 3});  // [out,in,3,3]
  auto wc = torch::zeros({out, 2, 2, in, 2, 2}, weight.options());
  using torch::indexing::Slice;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int u = 0; u < 2; ++u)
        for (int v = 0; v < 2; ++v) {
          if (tap[a][u] < 0 || tap[b][v] < 0) continue;
          wc.index_put_({Slice(), a, b, Slice(), u, v},
                        wt.index({Slice(), Slice(), tap[a][u], tap[b][v]}));
        }
  // Channel o*4 + a*2 + b is what pixel_shuffle(2) puts at (2m+a, 2n+b) of channel o.
  return wc.reshape({out * 4, in, 2, 2}).contiguous();
}

torch::Tensor transposedConvByShuffle(const torch::Tensor& x, const torch::Tensor& convWeight) {
  auto padded = torch::constant_pad_nd(x, {1, 0, 1, 0}, 0.0);  // left 1, top 1
  return torch::pixel_shuffle(torch::conv2d(padded, convWeight), 2);
}

torch::Tensor spaceToDepthConvWeight(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 4 && weight.size(2) == weight.size(3) && weight.size(2) % 2 == 1,
              "spaceToDepthConvWeight: expected [O,C,k,k] with odd k");
  const std::int64_t o = weight.size(0), c = weight.size(1), k = weight.size(2);
  const std::int64_t pad = (k - 1) / 2, coarsePad = (pad + 1) / 2, coarse = 2 * coarsePad + 1;
  // Output (2m+a) reads fine row 2m+a+kh-pad; unshuffled input channel (c,e) at coarse row
  // m+u-coarsePad holds fine row 2(m+u-coarsePad)+e. Equal when kh = 2(u-coarsePad)+e-a+pad.
  auto w2 = torch::zeros({o, 2, 2, c, 2, 2, coarse, coarse}, weight.options());
  using torch::indexing::Slice;
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int e = 0; e < 2; ++e)
        for (int f = 0; f < 2; ++f)
          for (std::int64_t u = 0; u < coarse; ++u)
            for (std::int64_t v = 0; v < coarse; ++v) {
              const std::int64_t kh = 2 * (u - coarsePad) + e - a + pad;
              const std::int64_t kw = 2 * (v - coarsePad) + f - b + pad;
              if (kh < 0 || kh >= k || kw < 0 || kw >= k) continue;
              w2.index_put_({Slice(), a, b, Slice(), e, f, u, v},
                            weight.index({Slice(), Slice(), kh, kw}));
            }
  // pixel_unshuffle puts fine (2p+e, 2q+f) of channel c at channel c*4+e*2+f;
  // pixel_shuffle takes channel o*4+a*2+b to (2m+a, 2n+b) of channel o.
  return w2.reshape({o * 4, c * 4, coarse, coarse}).contiguous();
}

torch::Tensor convBySpaceToDepth(const torch::Tensor& x, const torch::Tensor& s2dWeight) {
  TORCH_CHECK(x.size(2) % 2 == 0 && x.size(3) % 2 == 0, "convBySpaceToDepth: odd input size");
  const std::int64_t p = (s2dWeight.size(2) - 1) / 2;
  return torch::pixel_shuffle(
      torch::conv2d(torch::pixel_unshuffle(x, 2), s2dWeight, {}, torch::IntArrayRef{1, 1},
                    torch::IntArrayRef{p, p}),
      2);
}

}  // namespace detail

#ifndef FLOWSTYLE_TORCH_ONLY
TensorFile importMl5Checkpoint(const std::string& folder) {
  using Json = nlohmann::json;
  // A real manifest is under 5 KB: anything far larger is not one (and is not parsed).
  constexpr std::uintmax_t kMaxManifestBytes = 1'000'000;
  const fs::path dir(folder);
  const fs::path manifestPath = dir / "manifest.json";
  Json manifest;
  {
    std::ifstream in(manifestPath, std::ios::binary);
    if (!in) {
      throw std::runtime_error(manifestPath.string() +
                               ": cannot open (an ml5 style checkpoint folder holds "
                               "manifest.json and Variable, Variable_1, ... Variable_47)");
    }
    std::error_code ec;
    const std::uintmax_t bytes = fs::file_size(manifestPath, ec);
    if (ec || bytes > kMaxManifestBytes) {
      throw std::runtime_error(manifestPath.string() + ": " +
                               (ec ? "cannot read its size (" + ec.message() + ")"
                                   : std::to_string(bytes) + " bytes, more than a manifest's limit of " +
                                         std::to_string(kMaxManifestBytes)) +
                               " (not an ml5 style checkpoint?)");
    }
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    constexpr int kMaxDepth = 8;  // a manifest is an object of objects of arrays (depth 3)
    const Json::parser_callback_t bounded = [&](int depth, Json::parse_event_t event, Json&) {
      if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
          depth >= kMaxDepth) {
        throw std::runtime_error(manifestPath.string() + ": bad JSON: nested deeper than " +
                                 std::to_string(kMaxDepth) + " (not an ml5 manifest)");
      }
      return true;
    };
    try {
      manifest = Json::parse(text, bounded);
    } catch (const Json::parse_error& e) {
      throw std::runtime_error(manifestPath.string() + ": bad JSON at byte " + std::to_string(e.byte) + ": " +
                               e.what());
    } catch (const Json::exception& e) {  // out_of_range: a number too large for a double
      throw std::runtime_error(manifestPath.string() + ": bad JSON: " + e.what());
    }
  }

  auto readEntry = [&](int index, const Shape& expected) {
    const std::string var = ml5VariableName(index);
    const auto entry = manifest.find(var);
    if (entry == manifest.end()) {
      throw std::runtime_error(manifestPath.string() + ": '" + var +
                               "' is missing (expected shape " + shapeString(expected) + ")");
    }
    const auto filenameNode = entry->is_object() ? entry->find("filename") : entry->end();
    const auto shapeNode = entry->is_object() ? entry->find("shape") : entry->end();
    if (filenameNode == entry->end() || !filenameNode->is_string() ||
        filenameNode->get_ref<const std::string&>().empty() || shapeNode == entry->end()) {
      throw std::runtime_error(manifestPath.string() + ": '" + var +
                               "' lacks \"filename\" or \"shape\"");
    }
    const std::string& filename = filenameNode->get_ref<const std::string&>();
    Shape shape;
    // Dimensions are JSON integers (ml5 writes them so); a non-negative one beyond int64 is
    // no dimension either.
    const auto dimension = [](const Json& d) {
      return d.is_number_integer() &&
             (!d.is_number_unsigned() ||
              d.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    };
    if (!shapeNode->is_array()) {
      throw std::runtime_error(manifestPath.string() + ": '" + var + "' has a non-integer shape");
    }
    for (const Json& d : *shapeNode) {
      if (!dimension(d)) throw std::runtime_error(manifestPath.string() + ": '" + var + "' has a non-integer shape");
      shape.push_back(d.get<std::int64_t>());
    }
    if (shape != expected) {
      throw std::runtime_error(manifestPath.string() + ": '" + var + "' has shape " +
                               shapeString(shape) + ", expected " + shapeString(expected) +
                               " (not a johnson_ml5 style network)");
    }
    if (fs::path(filename).filename().string() != filename) {
      throw std::runtime_error(manifestPath.string() + ": '" + var + "' names file '" +
                               filename + "' outside the folder");
    }
    return readMl5Variable(dir / filename, var, shape);
  };

  TensorFile file;
  for (const auto& layer : layerSpecs()) {
    const Shape channels{layer.out};
    // ml5 [kh,kw,in,out] / [kh,kw,out,in] -> [out,in,kh,kw] / [in,out,kh,kw].
    file.tensors[layer.conv + ".weight"] =
        readEntry(layer.variable, layer.ml5Shape()).permute({3, 2, 0, 1}).contiguous();
    file.tensors[layer.norm + ".shift"] = readEntry(layer.variable + 1, channels);
    file.tensors[layer.norm + ".scale"] = readEntry(layer.variable + 2, channels);
  }

  fs::path abs = fs::absolute(dir).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  file.metadata["flowstyle.arch"] = kArch;
  file.metadata["flowstyle.name"] = abs.filename().string();
  file.metadata["flowstyle.preprocess"] = "rgb_0_255";
  file.metadata["source"] = "ml5 style-transfer checkpoint " + abs.string() +
                            " (ml5js/ml5-data-and-models models/style-transfer)";
  return file;
}
#else
TensorFile importMl5Checkpoint(const std::string& folder) {
  throw std::runtime_error(folder + ": this LibTorch-only build reads safetensors files, not ml5 "
                                    "folders (import it with the full build first)");
}
#endif  // FLOWSTYLE_TORCH_ONLY

namespace {

using Weights = std::map<std::string, torch::Tensor>;

torch::ScalarType scalarType(Precision p) {
  switch (p) {
    case Precision::BFloat16: return torch::kBFloat16;
    case Precision::Float16: return torch::kHalf;
    default: return torch::kFloat;
  }
}

// The SAME padding of a kernel x kernel convolution with `stride` on t as a ConvGeometry.
detail::ConvGeometry sameGeometry(const torch::Tensor& t, std::int64_t kernel, std::int64_t stride) {
  const auto [top, bottom] = samePadding(t.size(2), kernel, stride);
  const auto [left, right] = samePadding(t.size(3), kernel, stride);
  return detail::ConvGeometry{stride, top, left, bottom, right};
}

// The input grid of a stride-2 up-convolution whose output covers `fine` (rounded outwards).
Box coarseGrid(const Box& fine) {
  return {{floorHalf(fine.y.lo), floorHalf(fine.y.hi + 1)}, {floorHalf(fine.x.lo), floorHalf(fine.x.hi + 1)}};
}

// t holds the values of `have`; returns them over `need`, with zeros where `need` leaves
// `frame` (what the whole-frame convolution's zero padding reads there).
torch::Tensor window(const torch::Tensor& t, const Box& have, const Box& need, const Box& frame) {
  const Box in = clipBox(need, frame);
  TORCH_CHECK(in.y.lo >= have.y.lo && in.y.hi <= have.y.hi && in.x.lo >= have.x.lo && in.x.hi <= have.x.hi &&
                  in.y.size() > 0 && in.x.size() > 0,
              "tiled fast network: a tile reads outside what was computed");
  auto v = t.narrow(2, in.y.lo - have.y.lo, in.y.size()).narrow(3, in.x.lo - have.x.lo, in.x.size());
  const std::int64_t top = in.y.lo - need.y.lo, bottom = need.y.hi - in.y.hi;
  const std::int64_t left = in.x.lo - need.x.lo, right = need.x.hi - in.x.hi;
  if (top || bottom || left || right) v = torch::constant_pad_nd(v, {left, right, top, bottom}, 0.0);
  return v;
}

}  // namespace

Precision parsePrecision(const std::string& name) {
  if (name == "auto") return Precision::Auto;
  if (name == "float32" || name == "fp32") return Precision::Float32;
  if (name == "bfloat16" || name == "bf16") return Precision::BFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return Precision::Float16;
  throw std::invalid_argument("--precision " + name +
                              ": unknown; use auto, float32, bfloat16 or float16");
}

std::string toString(Precision p) {
  switch (p) {
    case Precision::Auto: return "auto";
    case Precision::Float32: return "float32";
    case Precision::BFloat16: return "bfloat16";
    case Precision::Float16: return "float16";
  }
  return "?";
}

Precision reducedPrecisionFor(const torch::Device& device) {
  if (device.is_cuda()) return Precision::Float16;
  return cpuHasNativeBFloat16() ? Precision::BFloat16 : Precision::Float32;
}

std::string PrecisionChoice::describe() const {
  std::string s = toString(used);
  if (requested != Precision::Auto) return s;
  if (used == Precision::Auto) return "auto (not yet decided)";
  if (rmsDiff < 0) return s + " (auto: no faster format on this device)";
  char diff[160];
  std::snprintf(diff, sizeof diff, "RMS difference %.2f (max %.0f) of 255 on the first batch", rmsDiff,
                maxDiff);
  return s + " (auto: " + (used == Precision::Float32 ? "reduced format rejected, " : "") +
         "vs float32 " + diff + ")";
}

struct FastStyleNetwork::Impl {
  std::string name;
  torch::Device device{torch::kCPU};
  FastNetworkOptions options;
  bool channelsLast = false;  // options.layout resolved for the device
  mutable bool usePackedConv = false;  // channels-last CPU convolutions through PackedConv
  // PackedConv per "<weight key>/<type>", made on first use (forward is not const-safe
  // across threads anyway: the network is thread-compatible).
  mutable std::map<std::string, detail::PackedConv> packed;
  mutable std::string fallback;  // why a fast path is off (empty: none is)
  mutable std::string tiling;    // how the last call was tiled; empty: whole
  Weights w;        // float32 on device; deconvs also as "<name>.shuffle", 9x9 as "<name>.s2d"
  Weights reduced;  // the convolution weights of w in the reduced format; empty if none
  PrecisionChoice choice;

  torch::Tensor norm(const torch::Tensor& x, const std::string& prefix, bool relu) const {
    const auto& scale = w.at(prefix + ".scale");  // float32 in every precision
    const auto& shift = w.at(prefix + ".shift");
    torch::Tensor y;
    if (!channelsLast) {
      // Statistics in float32 also for bfloat16/float16 inputs (the output keeps x's type).
      y = torch::instance_norm(x, scale, shift, {}, {}, true, 0.0, kInstanceNormEps, false);
    } else {
      // Channels-last on CUDA (the CPU runs forwardChannelsLast): instance_norm would make
      // its input contiguous (NCHW). float32 statistics: a float16 variance of 0..255-scale
      // activations overflows.
      auto [var, mean] = torch::var_mean(x.to(torch::kFloat), {2, 3}, /*unbiased=*/false,
                                         /*keepdim=*/true);
      auto a = scale.view({1, -1, 1, 1}) * torch::rsqrt(var + kInstanceNormEps);
      auto b = shift.view({1, -1, 1, 1}) - mean * a;
      y = torch::addcmul(b.to(x.scalar_type()), x, a.to(x.scalar_type()));
    }
    return relu ? y.relu_() : y;
  }

  // Channels-last: the fused kernel (norm weights float32 in every precision).
  torch::Tensor normCl(const torch::Tensor& x, const std::string& prefix,
                       const detail::NormEpilogue& e) const {
    return detail::instanceNormChannelsLast(x, w.at(prefix + ".scale"), w.at(prefix + ".shift"),
                                            kInstanceNormEps, e);
  }

  torch::Tensor conv(const Weights& k, const torch::Tensor& x, const LayerSpec& l,
                     std::int64_t stride) const {
    auto s2d = k.find(l.conv + ".s2d");
    if (s2d != k.end() && stride == 1 && x.size(2) % 2 == 0 && x.size(3) % 2 == 0) {
      return detail::convBySpaceToDepth(x, s2d->second);
    }
    return convSame(x, k.at(l.conv + ".weight"), stride);
  }

  torch::Tensor deconv(const Weights& k, const torch::Tensor& x, const LayerSpec& l) const {
    if (options.nativeTransposedConv) {
      auto y = torch::conv_transpose2d(x, k.at(l.conv + ".weight"), {}, 2, 0);
      using torch::indexing::Slice;
      return y.index({Slice(), Slice(), Slice(0, 2 * x.size(2)), Slice(0, 2 * x.size(3))});
    }
    return detail::transposedConvByShuffle(x, k.at(l.conv + ".shuffle"));
  }

  // The network in one layout from input to output: channels-last activations in k's type,
  // every instance norm with the ReLU, residual add, pixel shuffle of the up-convolutions
  // and the zero padding of the next stride-2 convolution fused into its one write. The
  // only layout changes are the input (float32 NCHW -> k's type channels-last) and the
  // output (written as float32 NCHW by the last norm); oneDNN runs the convolutions on
  // the channels-last tensors as they are.
  torch::Tensor forwardChannelsLast(const Weights& k, torch::Tensor x) const {
    const auto& L = layerSpecs();
    x = x.to(k.at("conv1.weight").scalar_type()).contiguous(at::MemoryFormat::ChannelsLast);
    auto even = [](const torch::Tensor& t) { return t.size(2) % 2 == 0 && t.size(3) % 2 == 0; };
    // A SAME stride-2 3x3 conv on an even size pads 0 before and 1 after: the norm before
    // it writes that zero row and column, and the conv runs unpadded.
    auto normBeforeStride2 = [&](const torch::Tensor& t, const LayerSpec& l) {
      detail::NormEpilogue e;
      e.relu = true;
      e.padBottomRight = even(t) ? 1 : 0;
      return normCl(t, l.norm, e);
    };
    auto stride2 = [&](const torch::Tensor& t, const LayerSpec& l, const torch::Tensor& before) {
      const std::string key = l.conv + ".weight";
      return even(before) ? convCl(k, key, t, {2}) : convCl(k, key, t, sameGeometry(t, 3, 2));
    };
    detail::NormEpilogue relu;
    relu.relu = true;
    auto y = convCl(k, L[0].conv + ".weight", x, sameGeometry(x, L[0].kernel, 1));
    x = stride2(normBeforeStride2(y, L[0]), L[1], y);
    y = normBeforeStride2(x, L[1]);
    x = residualChannelsLast(k, normCl(stride2(y, L[2], x), L[2].norm, relu));
    // Up-convolutions: the 2x2 conv of transposedConvAsConvWeight (one zero row on top,
    // one column on the left) with its outputs in phase-major order; the norm writes the
    // four phases shuffled.
    detail::NormEpilogue up = relu;
    up.shuffle = 2;
    for (const auto& l : {L[13], L[14]}) {
      x = normCl(convCl(k, l.conv + ".shuffle", x, {1, 1, 1, 0, 0}), l.norm, up);
    }
    detail::NormEpilogue last;
    last.tanhOutput = true;
    const std::string s2d = L[15].conv + ".s2d";
    if (k.count(s2d) && even(x)) {
      last.shuffle = 2;
      const std::int64_t p = (k.at(s2d).size(2) - 1) / 2;
      return normCl(convCl(k, s2d, detail::spaceToDepthChannelsLast(x), {1, p, p, p, p}),
                    L[15].norm, last);
    }
    return normCl(convCl(k, L[15].conv + ".weight", x, sameGeometry(x, L[15].kernel, 1)), L[15].norm,
                  last);
  }

  // The five residual blocks on the channels-last path (x: conv3's normed output).
  // inPlace: each norm writes over its convolution's output (three activations at the peak
  // instead of four; the tiled path, whose peak this part is).
  torch::Tensor residualChannelsLast(const Weights& k, torch::Tensor x, bool inPlace = false) const {
    const auto& L = layerSpecs();
    detail::NormEpilogue relu;
    relu.relu = true;
    relu.inPlace = inPlace;
    for (int b = 0; b < 5; ++b) {
      const auto& c1 = L[3 + 2 * b];
      const auto& c2 = L[4 + 2 * b];
      auto y = normCl(convCl(k, c1.conv + ".weight", x, sameGeometry(x, 3, 1)), c1.norm, relu);
      detail::NormEpilogue add;
      add.residual = x;
      add.inPlace = inPlace;
      x = normCl(convCl(k, c2.conv + ".weight", y, sameGeometry(y, 3, 1)), c2.norm, add);
    }
    return x;
  }

  // The five residual blocks on the NCHW (or CUDA channels-last) path.
  torch::Tensor residualNchw(const Weights& k, torch::Tensor x) const {
    const auto& L = layerSpecs();
    for (int b = 0; b < 5; ++b) {
      const auto& c1 = L[3 + 2 * b];
      const auto& c2 = L[4 + 2 * b];
      auto y = norm(conv(k, x, c1, 1), c1.norm, true);
      y = norm(conv(k, y, c2, 1), c2.norm, false);
      x = y.add_(x);
    }
    return x;
  }

  // A convolution on the channels-last path: oneDNN with the weight packed once where this
  // build has it (PackedConv), LibTorch's conv2d otherwise (which reorders the weight on
  // every call).
  torch::Tensor convCl(const Weights& k, const std::string& key, const torch::Tensor& x,
                       const detail::ConvGeometry& g) const {
    const torch::Tensor& weight = k.at(key);
    if (usePackedConv) {
      const std::string id = key + (weight.scalar_type() == torch::kBFloat16 ? "/bf16" : "/f32");
      try {
        auto it = packed.find(id);
        if (it == packed.end()) {
          it = packed.emplace(id, detail::PackedConv(weight, weight.scalar_type())).first;
        }
        return it->second(x, g);
      } catch (const detail::NoPackedKernel& e) {
        // LibTorch's convolution from here on; said once, in fallbacks().
        usePackedConv = false;
        packed.clear();
        fallback = "packed convolutions off: " + std::string(e.what()) + "; LibTorch's convolution instead";
      }
    }
    const std::array<std::int64_t, 2> strideArray{g.stride, g.stride};
    const torch::IntArrayRef stride(strideArray);
    if (g.top == g.bottom && g.left == g.right) {
      return torch::conv2d(x, weight, {}, stride, torch::IntArrayRef{g.top, g.left});
    }
    if (g.stride == 1) {  // pad the larger side on both, then crop the extra outputs
      const std::int64_t t = std::max(g.top, g.bottom), l = std::max(g.left, g.right);
      const std::int64_t outH = x.size(2) + g.top + g.bottom - weight.size(2) + 1;
      const std::int64_t outW = x.size(3) + g.left + g.right - weight.size(3) + 1;
      return torch::conv2d(x, weight, {}, stride, torch::IntArrayRef{t, l})
          .narrow(2, t - g.top, outH)
          .narrow(3, l - g.left, outW);
    }
    return torch::conv2d(torch::constant_pad_nd(x, {g.left, g.right, g.top, g.bottom}, 0.0), weight,
                         {}, stride, torch::IntArrayRef{0, 0});
  }

  // ---- Tiles (FastNetworkOptions::tile) ----------------------------------------------
  // Each tiled layer runs per tile as an unpadded convolution on a window of the previous
  // layer's output (zeros where the window leaves the frame, as the whole-frame padding
  // reads), so a tile's values are the whole-frame run's. A norm's statistics come from a
  // pass over every tile's core (moments merged in double) before any tile reads its output.

  bool fusedCpu() const { return channelsLast && device.is_cpu(); }

  // An unpadded convolution in this network's layout.
  torch::Tensor convValid(const Weights& k, const std::string& key, const torch::Tensor& x,
                          std::int64_t stride) const {
    if (fusedCpu()) return convCl(k, key, x.contiguous(at::MemoryFormat::ChannelsLast), {stride, 0, 0, 0, 0});
    return torch::conv2d(x, k.at(key), {}, stride);
  }

  // Moments per channel of a raw convolution output over its whole extent; `shuffle` 2: the
  // four phases of an up-convolution (the fused path's phase-major layout).
  detail::ChannelMoments moments(const torch::Tensor& t, int shuffle) const {
    if (fusedCpu()) return detail::channelMomentsChannelsLast(t, shuffle);
    auto [var, mean] = torch::var_mean(t.to(torch::kFloat), {2, 3}, /*unbiased=*/false);
    detail::ChannelMoments m;
    m.count = static_cast<double>(t.size(2) * t.size(3));
    auto v = var.to(torch::kCPU, torch::kDouble).reshape({-1}).contiguous();
    auto u = mean.to(torch::kCPU, torch::kDouble).reshape({-1}).contiguous();
    m.mean.assign(u.data_ptr<double>(), u.data_ptr<double>() + u.numel());
    m.m2.assign(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    for (double& x : m.m2) x *= m.count;
    return m;
  }

  std::vector<float> affineOf(const detail::ChannelMoments& m, const std::string& norm) const {
    return detail::instanceNormAffine(m, w.at(norm + ".scale"), w.at(norm + ".shift"), kInstanceNormEps);
  }

  // y = relu(x * a + b) with a whole-frame affine; `shuffle` as in moments().
  torch::Tensor applyNorm(const torch::Tensor& x, const std::vector<float>& affine, int shuffle) const {
    if (fusedCpu()) {
      detail::NormEpilogue e;
      e.relu = true;
      e.shuffle = shuffle;
      return detail::affineChannelsLast(x, affine, e);
    }
    const auto c = static_cast<std::int64_t>(affine.size() / 2);
    auto ab = torch::from_blob(const_cast<float*>(affine.data()), {2, 1, c, 1, 1}, torch::kFloat)
                  .to(x.device(), x.scalar_type());
    return torch::addcmul(ab[1], x, ab[0]).relu_();
  }

  // An up-convolution (deconv1 or deconv2) on a window of its input: on the fused path
  // the phase-major 2x2 convolution's output on the input grid, else the shuffled output.
  torch::Tensor deconvTile(const Weights& k, const LayerSpec& l, const torch::Tensor& x) const {
    if (fusedCpu()) return convValid(k, l.conv + ".shuffle", x, 1);
    return torch::pixel_shuffle(torch::conv2d(x, k.at(l.conv + ".shuffle")), 2);
  }
  int deconvShuffle() const { return fusedCpu() ? 2 : 1; }

  // conv1 .. conv<last+1> over `core` (in layer last's output grid) of the input x (one
  // image): the raw convolution output, the earlier norms applied with `affine`.
  torch::Tensor headTile(const Weights& k, const torch::Tensor& x, int last, const Box& core,
                         const std::vector<std::vector<float>>& affine) const {
    const auto& L = layerSpecs();
    const Box frames[3] = {frameOf(x), scaled(frameOf(x), 1, 2), scaled(frameOf(x), 1, 4)};
    // The input a layer reads for `out`: conv1 9x9 SAME (4 each side); conv2, conv3 3x3
    // stride 2 on an even size (TensorFlow pads 0 before, 1 after).
    auto need = [](int l, const Box& out) {
      return l == 0 ? grow(out, 4) : Box{{2 * out.y.lo, 2 * out.y.hi + 1}, {2 * out.x.lo, 2 * out.x.hi + 1}};
    };
    Box out[3];
    out[last] = core;
    for (int l = last - 1; l >= 0; --l) out[l] = clipBox(need(l + 1, out[l + 1]), frames[l]);
    torch::Tensor t = convValid(k, L[0].conv + ".weight", window(x, frames[0], need(0, out[0]), frames[0]), 1);
    for (int l = 1; l <= last; ++l) {
      t = applyNorm(t, affine[l - 1], 1);
      t = convValid(k, L[l].conv + ".weight", window(t, out[l - 1], need(l, out[l]), frames[l - 1]), 2);
    }
    return t;
  }

  // deconv1, deconv2, conv4 up to `last` (0..2) over `core` (in that layer's output
  // pixels: half, full, full resolution) from r, the residual blocks' whole output.
  // deconv: the raw output (deconvTile); conv4: raw, on the 2x-coarser grid when `s2d`.
  torch::Tensor tailTile(const Weights& k, const torch::Tensor& r, int last, const Box& core,
                         const std::vector<std::vector<float>>& affine, bool s2d) const {
    const auto& L = layerSpecs();
    const Box in[3] = {frameOf(r), scaled(frameOf(r), 2, 1), scaled(frameOf(r), 4, 1)};
    // An up-convolution reads input rows m-1 and m for output grid row m; conv4 9x9 SAME.
    auto need = [](int l, const Box& out) {
      if (l == 2) return grow(out, 4);
      const Box g = coarseGrid(out);
      return Box{{g.y.lo - 1, g.y.hi}, {g.x.lo - 1, g.x.hi}};
    };
    Box out[3];
    out[last] = core;
    for (int l = last; l >= 1; --l) out[l - 1] = clipBox(need(l, out[l]), in[l]);
    torch::Tensor t = deconvTile(k, L[13], window(r, in[0], need(0, out[0]), in[0]));
    Box have = scaled(coarseGrid(out[0]), 2, 1);
    if (last == 0) return t;
    t = deconvTile(k, L[14], window(applyNorm(t, affine[0], deconvShuffle()), have, need(1, out[1]), in[1]));
    have = scaled(coarseGrid(out[1]), 2, 1);
    if (last == 1) return t;
    t = window(applyNorm(t, affine[1], deconvShuffle()), have, need(2, out[2]), in[2]);
    if (s2d) {
      return convValid(k, L[15].conv + ".s2d",
                       detail::spaceToDepthChannelsLast(t.contiguous(at::MemoryFormat::ChannelsLast)), 1);
    }
    return convValid(k, L[15].conv + ".weight", t, 1);
  }

  // The network in tiles on x (one image, [1,3,H,W] with H, W multiples of 4).
  torch::Tensor forwardTiled(const Weights& k, const TileGrid& grid, torch::Tensor x) const {
    const auto& L = layerSpecs();
    const bool cl = fusedCpu();
    const auto format = channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    x = x.to(k.at("conv1.weight").scalar_type()).contiguous(format);
    std::vector<Box> cores;  // full-resolution cores, row by row
    for (int r = 0; r < grid.rows; ++r) {
      for (int c = 0; c < grid.cols; ++c) {
        cores.push_back({{grid.ys[r], grid.ys[r + 1]}, {grid.xs[c], grid.xs[c + 1]}});
      }
    }
    auto wholeLike = [&](const torch::Tensor& part, std::int64_t h, std::int64_t wd) {
      return torch::empty({1, part.size(1), h, wd}, part.options().memory_format(format));
    };
    const std::int64_t H = x.size(2), W = x.size(3);

    // Head: in1 and in2 from statistics passes, then conv3's raw output, whole.
    std::vector<std::vector<float>> head;
    for (int l = 0; l < 2; ++l) {
      detail::ChannelMoments m;
      for (const Box& c : cores) m.merge(moments(headTile(k, x, l, scaled(c, 1, 1 << l), head), 1));
      head.push_back(affineOf(m, L[l].norm));
    }
    torch::Tensor raw;
    for (const Box& c : cores) {
      auto t = headTile(k, x, 2, scaled(c, 1, 4), head);
      if (!raw.defined()) raw = wholeLike(t, H / 4, W / 4);
      placeBox(raw, scaled(c, 1, 4), t);
    }
    x = torch::Tensor();
    detail::NormEpilogue relu;
    relu.relu = true;
    relu.inPlace = cl;
    torch::Tensor r = cl ? normCl(raw, L[2].norm, relu) : norm(raw, L[2].norm, true);
    raw = torch::Tensor();
    r = cl ? residualChannelsLast(k, std::move(r), true) : residualNchw(k, std::move(r));

    // Tail: in4 and in5 from statistics passes, then conv4's raw output, whole.
    std::vector<std::vector<float>> tail;
    for (int l = 0; l < 2; ++l) {
      detail::ChannelMoments m;
      for (const Box& c : cores) {
        m.merge(moments(tailTile(k, r, l, scaled(c, 1, l == 0 ? 2 : 1), tail, false), deconvShuffle()));
      }
      tail.push_back(affineOf(m, L[13 + l].norm));
    }
    const bool s2d = cl && k.count(L[15].conv + ".s2d");
    for (const Box& c : cores) {
      auto t = tailTile(k, r, 2, c, tail, s2d);
      if (!raw.defined()) raw = s2d ? wholeLike(t, H / 2, W / 2) : wholeLike(t, H, W);
      placeBox(raw, s2d ? scaled(c, 1, 2) : c, t);
    }
    r = torch::Tensor();
    if (cl) {
      detail::NormEpilogue last;
      last.tanhOutput = true;
      last.shuffle = s2d ? 2 : 1;
      return normCl(raw, L[15].norm, last);
    }
    auto y = norm(raw.to(torch::kFloat), L[15].norm, false);
    return y.tanh_().mul_(150.0).add_(127.5).clamp_(0.0, 255.0).contiguous();
  }

  // The network with convolution weights k (their type is the compute type).
  torch::Tensor forwardWith(const Weights& k, torch::Tensor x) const {
    if (options.tile > 0 && x.size(2) % 4 == 0 && x.size(3) % 4 == 0) {  // operator() pads to 4
      const TileGrid grid = fastTileGrid(static_cast<int>(x.size(3)), static_cast<int>(x.size(2)), options.tile);
      if (grid.tiled()) {
        tiling = grid.describe();
        std::vector<torch::Tensor> out;
        for (std::int64_t i = 0; i < x.size(0); ++i) out.push_back(forwardTiled(k, grid, x.narrow(0, i, 1)));
        return out.size() == 1 ? out.front() : torch::cat(out, 0);
      }
    }
    tiling.clear();
    if (channelsLast && device.is_cpu()) return forwardChannelsLast(k, x);
    const auto& L = layerSpecs();
    x = x.to(k.at("conv1.weight").scalar_type());  // 0..255 integers are exact in all three
    if (channelsLast) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    x = norm(conv(k, x, L[0], 1), L[0].norm, true);
    x = norm(conv(k, x, L[1], 2), L[1].norm, true);
    x = residualNchw(k, norm(conv(k, x, L[2], 2), L[2].norm, true));
    x = norm(deconv(k, x, L[13]), L[13].norm, true);
    x = norm(deconv(k, x, L[14]), L[14].norm, true);
    // The last layer has 3 channels: its norm and the output scaling run in float32.
    x = norm(conv(k, x, L[15], 1).to(torch::kFloat), L[15].norm, false);
    return x.tanh_().mul_(150.0).add_(127.5).clamp_(0.0, 255.0).contiguous();
  }

  // The network in the chosen format; settles Precision::Auto on the first call.
  torch::Tensor forward(const torch::Tensor& x) {
    if (choice.used != Precision::Auto) return forwardWith(reduced.empty() ? w : reduced, x);
    auto low = forwardWith(reduced, x);
    auto full = forwardWith(w, x);
    auto diff = (low - full).to(torch::kDouble);
    choice.rmsDiff = diff.square().mean().sqrt().item<double>();
    choice.maxDiff = diff.abs().max().item<double>();
    if (choice.rmsDiff <= options.tolerance) {
      choice.used = reducedPrecisionFor(device);
      return low;
    }
    choice.used = Precision::Float32;
    reduced.clear();
    return full;
  }
};

FastStyleNetwork::FastStyleNetwork(const std::string& path, const std::string& device)
    : FastStyleNetwork(path, device, FastNetworkOptions{}) {}

FastStyleNetwork::FastStyleNetwork(const std::string& path, const std::string& device,
                                   const FastNetworkOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->device = resolveDevice(device);
  impl_->channelsLast = options.layout == Layout::ChannelsLast ||
                        (options.layout == Layout::Auto && impl_->device.is_cpu());
  impl_->usePackedConv = impl_->channelsLast && impl_->device.is_cpu() && options.packedWeights &&
                         detail::PackedConv::available();
  std::error_code ec;
  TensorFile file;
  if (fs::is_directory(path, ec)) {
    file = importMl5Checkpoint(path);
  } else {
    file = readSafetensors(path);
    auto arch = file.metadata.find("flowstyle.arch");
    if (arch != file.metadata.end() && arch->second != kArch) {
      throw std::runtime_error(path + ": flowstyle.arch is '" + arch->second + "', expected '" +
                               kArch + "' (this is not a fast style network)");
    }
  }

  // Every expected key, with its shape; nothing else.
  std::map<std::string, Shape> expected;
  for (const auto& l : layerSpecs()) {
    expected[l.conv + ".weight"] = l.torchShape();
    expected[l.norm + ".shift"] = {l.out};
    expected[l.norm + ".scale"] = {l.out};
  }
  for (const auto& [key, t] : file.tensors) {
    if (!expected.count(key)) {
      throw std::runtime_error(path + ": unexpected tensor '" + key + "' (not part of " + kArch +
                               ")");
    }
  }
  for (const auto& [key, shape] : expected) {
    auto it = file.tensors.find(key);
    if (it == file.tensors.end()) {
      throw std::runtime_error(path + ": '" + key + "' is missing (" + kArch +
                               " needs shape " + shapeString(shape) + ")");
    }
    const Shape actual(it->second.sizes().begin(), it->second.sizes().end());
    if (actual != shape) {
      throw std::runtime_error(path + ": '" + key + "' has shape " + shapeString(actual) +
                               ", expected " + shapeString(shape));
    }
    if (!it->second.is_floating_point()) {
      throw std::runtime_error(path + ": '" + key + "' is not a floating-point tensor");
    }
    auto t = it->second.to(torch::kFloat);
    if (!torch::isfinite(t).all().item<bool>()) {
      throw std::runtime_error(path + ": '" + key + "' holds NaN or infinite values");
    }
    impl_->w[key] = t;
  }
  for (const auto& l : layerSpecs()) {
    if (l.transposed) {
      impl_->w[l.conv + ".shuffle"] =
          detail::transposedConvAsConvWeight(impl_->w.at(l.conv + ".weight"));
    }
    if (options.spaceToDepth && l.kernel == 9 && l.out <= kSpaceToDepthMaxOut) {
      impl_->w[l.conv + ".s2d"] = detail::spaceToDepthConvWeight(impl_->w.at(l.conv + ".weight"));
    }
    if (impl_->channelsLast && impl_->device.is_cpu()) {
      // The fused channels-last path shuffles in phase-major channel order.
      for (const char* kind : {".shuffle", ".s2d"}) {
        auto it = impl_->w.find(l.conv + kind);
        if (it == impl_->w.end()) continue;
        it->second = detail::phaseMajorChannels(it->second, 0);
        if (std::string(kind) == ".s2d") it->second = detail::phaseMajorChannels(it->second, 1);
      }
    }
  }
  const auto format =
      impl_->channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  for (auto& [key, t] : impl_->w) {
    t = t.to(impl_->device);
    if (t.dim() == 4) t = t.contiguous(format);
  }

  // The compute format: convolution weights converted once; norms stay float32.
  PrecisionChoice& choice = impl_->choice;
  choice.requested = options.precision;
  choice.used = options.precision;
  Precision reducedFormat = options.precision;
  if (options.precision == Precision::Auto) {
    reducedFormat = reducedPrecisionFor(impl_->device);
    if (reducedFormat == Precision::Float32) choice.used = Precision::Float32;  // nothing to check
  }
  if (reducedFormat == Precision::Float16 && !impl_->device.is_cuda()) {
    throw std::runtime_error("--precision float16 needs a CUDA device (LibTorch has no float16 "
                             "convolution on the CPU); use bfloat16 or float32 on the CPU");
  }
  if (reducedFormat != Precision::Float32) {
    for (const auto& [key, t] : impl_->w) {
      if (t.dim() == 4) impl_->reduced[key] = t.to(scalarType(reducedFormat)).contiguous(format);
    }
  }

  auto name = file.metadata.find("flowstyle.name");
  impl_->name = name != file.metadata.end() && !name->second.empty()
                    ? name->second
                    : fs::path(path).stem().string();
}

FastStyleNetwork::~FastStyleNetwork() = default;

std::string FastStyleNetwork::name() const { return impl_->name; }

std::string FastStyleNetwork::fallbacks() const { return impl_->fallback; }

std::string FastStyleNetwork::tiling() const { return impl_->tiling; }

const PrecisionChoice& FastStyleNetwork::precision() const { return impl_->choice; }

torch::Tensor FastStyleNetwork::forward(const torch::Tensor& rgb255) {
  TORCH_CHECK(rgb255.dim() == 4 && rgb255.size(1) == 3,
              "FastStyleNetwork::forward: expected [N,3,H,W], got ", rgb255.sizes());
  c10::InferenceMode guard;
  return impl_->forward(rgb255.to(impl_->device, torch::kFloat));
}

int borderPadFor(int requested, int w, int h) {
  const int pad = requested < 0 ? kAutoBorderPad : requested;
  return std::max(0, std::min({pad, w - 1, h - 1}));
}

#ifndef FLOWSTYLE_TORCH_ONLY
std::vector<cv::Mat> FastStyleNetwork::operator()(const std::vector<cv::Mat>& frames) {
  if (frames.empty()) return {};
  c10::InferenceMode guard;
  const bool cuda = impl_->device.is_cuda();
  auto x = toTensor(frames, "FastStyleNetwork", cuda).to(impl_->device, torch::kFloat, cuda);
  const std::int64_t h = x.size(2), w = x.size(3);
  // Reflect the picture into a margin that the crop removes again: the border stripes
  // the networks paint with zero padding then fall outside the frame.
  const std::int64_t border = borderPadFor(impl_->options.borderPad, static_cast<int>(w),
                                           static_cast<int>(h));
  if (border > 0) x = torch::reflection_pad2d(x, {border, border, border, border});
  // Pad bottom/right to a multiple of 4 by repeating the edge: works for any size down
  // to 1x1 (reflection needs the image to be larger than the pad), and continues the
  // border's colour instead of inventing structure; the crop removes it again.
  const std::int64_t ph = h + 2 * border, pw = w + 2 * border;
  const std::int64_t padH = (4 - ph % 4) % 4, padW = (4 - pw % 4) % 4;
  if (padH || padW) x = torch::replication_pad2d(x, {0, padW, 0, padH});
  using torch::indexing::Slice;
  auto y = impl_->forward(x)
               .index({Slice(), Slice(), Slice(border, border + h), Slice(border, border + w)})
               .to(torch::kCPU);
  std::vector<cv::Mat> out;
  out.reserve(frames.size());
  for (std::int64_t i = 0; i < y.size(0); ++i) out.push_back(toMat8(y[i]));
  return out;
}

cv::Mat FastStyleNetwork::raw(const cv::Mat& rgb) {
  c10::InferenceMode guard;
  auto x = toTensor({rgb}, "FastStyleNetwork::raw").to(impl_->device);
  return toMat32(impl_->forward(x)[0].to(torch::kCPU));
}

#endif  // FLOWSTYLE_TORCH_ONLY

}  // namespace flowstyle::models
