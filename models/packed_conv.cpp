#include "models/packed_conv.hpp"

#include <map>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <vector>

#ifdef FLOWSTYLE_HAVE_DNNL
#include <dnnl.hpp>
#endif

namespace flowstyle::models::detail {

#ifdef FLOWSTYLE_HAVE_DNNL
namespace {

dnnl::engine& cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

}  // namespace

struct PackedConv::Impl {
  torch::Tensor weight;  // [O,C,kh,kw] contiguous, compute type (the reorders' source)
  dnnl::memory::data_type type;
  torch::ScalarType torchType;
  struct Entry {
    dnnl::convolution_forward primitive;
    dnnl::memory weights;  // packed
    dnnl::memory::desc src, dst;
    std::int64_t outH, outW;
    dnnl::memory::desc scratch;  // the kernel's scratchpad, given per call (user mode)
  };
  // (N, C, H, W, stride, top, left, bottom, right) -> primitive
  using Key = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                         std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
  std::map<Key, Entry> entries;
  std::vector<dnnl::memory> packed;  // one per distinct weight layout, shared by entries

  Entry& entry(const torch::Tensor& x, const ConvGeometry& g) {
    const Key key{x.size(0), x.size(1), x.size(2), x.size(3), g.stride, g.top, g.left, g.bottom, g.right};
    auto it = entries.find(key);
    if (it != entries.end()) return it->second;
    using dnnl::memory;
    const std::int64_t kh = weight.size(2), kw = weight.size(3);
    const std::int64_t outH = (x.size(2) + g.top + g.bottom - kh) / g.stride + 1;
    const std::int64_t outW = (x.size(3) + g.left + g.right - kw) / g.stride + 1;
    TORCH_CHECK(outH > 0 && outW > 0, "PackedConv: input ", x.sizes(), " too small for the kernel");
    const memory::dims src{x.size(0), x.size(1), x.size(2), x.size(3)};
    const memory::dims dst{x.size(0), weight.size(0), outH, outW};
    const memory::dims wei{weight.size(0), weight.size(1), kh, kw};
    memory::desc srcMd(src, type, memory::format_tag::nhwc);
    memory::desc dstMd(dst, type, memory::format_tag::nhwc);
    memory::desc weiAny(wei, type, memory::format_tag::any);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                      dnnl::algorithm::convolution_direct, srcMd, weiAny, dstMd,
                                      {g.stride, g.stride}, {g.top, g.left}, {g.bottom, g.right});
    // A scratchpad of our own per call: oneDNN's default (library) one is global state, not
    // made for a primitive that runs on other threads than the one that made it, beside other
    // oneDNN work (a oneDNN built without DNNL_ENABLE_CONCURRENT_EXEC, as Debian's). Hybrid
    // runs this network in a TBB node beside the optimizer: on an AVX2 CPU (whose kernels use
    // a scratchpad) it crashed in libdnnl in 6 of 6 runs of the hybrid resume test; 0 of 6 now.
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::convolution_forward::primitive_desc pd(d, attr, cpuEngine());
    // The weight in the kernel's layout: reordered once per distinct layout.
    memory packedWeights;
    for (const auto& m : packed) {
      if (m.get_desc() == pd.weights_desc()) packedWeights = m;
    }
    if (!packedWeights) {
      memory user({wei, type, memory::format_tag::oihw}, cpuEngine(), weight.data_ptr());
      packedWeights = memory(pd.weights_desc(), cpuEngine());
      dnnl::stream stream(cpuEngine());
      dnnl::reorder(user, packedWeights).execute(stream, user, packedWeights);
      stream.wait();
      packed.push_back(packedWeights);
    }
    Entry e{dnnl::convolution_forward(pd), packedWeights, srcMd, dstMd, outH, outW,
            pd.scratchpad_desc()};
    return entries.emplace(key, std::move(e)).first->second;
  }
};

bool PackedConv::available() { return true; }

PackedConv::PackedConv(const torch::Tensor& weight, torch::ScalarType type)
    : impl_(std::make_unique<Impl>()) {
  TORCH_CHECK(weight.dim() == 4 && weight.device().is_cpu(), "PackedConv: expected a CPU [O,C,kh,kw] weight");
  TORCH_CHECK(type == torch::kFloat || type == torch::kBFloat16, "PackedConv: float32 or bfloat16");
  impl_->weight = weight.to(type).contiguous();
  impl_->torchType = type;
  impl_->type = type == torch::kFloat ? dnnl::memory::data_type::f32 : dnnl::memory::data_type::bf16;
}

torch::Tensor PackedConv::operator()(const torch::Tensor& xIn, const ConvGeometry& g) {
  TORCH_CHECK(xIn.dim() == 4 && xIn.device().is_cpu() && xIn.scalar_type() == impl_->torchType &&
                  xIn.size(1) == impl_->weight.size(1),
              "PackedConv: expected a CPU [N,", impl_->weight.size(1), ",H,W] tensor of ",
              impl_->torchType, ", got ", xIn.sizes(), " ", xIn.scalar_type());
  const torch::Tensor x = xIn.contiguous(at::MemoryFormat::ChannelsLast);
  Impl::Entry* found = nullptr;
  try {
    found = &impl_->entry(x, g);
  } catch (const dnnl::error& e) {
    throw NoPackedKernel(std::string("oneDNN has no ") + (impl_->torchType == torch::kBFloat16 ? "bfloat16" : "float32") +
                         " convolution kernel here (" + e.what() + ")");
  }
  Impl::Entry& e = *found;
  auto out = torch::empty({x.size(0), impl_->weight.size(0), e.outH, e.outW},
                          x.options().memory_format(at::MemoryFormat::ChannelsLast));
  dnnl::memory src(e.src, cpuEngine(), x.data_ptr());
  dnnl::memory dst(e.dst, cpuEngine(), out.data_ptr());
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, dst}};
  torch::Tensor scratch;
  if (e.scratch.get_size() > 0) {
    scratch = torch::empty({static_cast<std::int64_t>(e.scratch.get_size())}, torch::kUInt8);
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(e.scratch, cpuEngine(), scratch.data_ptr()));
  }
  dnnl::stream stream(cpuEngine());
  e.primitive.execute(stream, args);
  stream.wait();
  return out;
}

#else  // no oneDNN headers: LibTorch's own convolution is used instead

struct PackedConv::Impl {};

bool PackedConv::available() { return false; }

PackedConv::PackedConv(const torch::Tensor&, torch::ScalarType) {
  throw std::logic_error("PackedConv: this build has no oneDNN (FLOWSTYLE_HAVE_DNNL)");
}

torch::Tensor PackedConv::operator()(const torch::Tensor&, const ConvGeometry&) {
  throw std::logic_error("PackedConv: this build has no oneDNN (FLOWSTYLE_HAVE_DNNL)");
}

#endif

PackedConv::~PackedConv() = default;
PackedConv::PackedConv(PackedConv&&) noexcept = default;
PackedConv& PackedConv::operator=(PackedConv&&) noexcept = default;

}  // namespace flowstyle::models::detail
