// Devices and GPU hygiene that can be checked on the CPU: the --device errors, the optimizer
// reading its loss on the host only every N iterations and touching the host nowhere else in
// its loop, and the coarse-to-fine step staying on the device.
#include <gtest/gtest.h>

#include "tests/test_support.hpp"

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>

#include <ATen/record_function.h>
#include <torch/version.h>

#include "models/device.hpp"
#include "models/fast_network.hpp"
#include "models/loss_network.hpp"
#include "models/safetensors.hpp"
#include "models/style_transfer.hpp"

using namespace flowstyle::models;
using flowstyle::test::errorOf;

namespace {

const std::string kVgg =
    std::string(FLOWSTYLE_SHARED_DIR) + "/models/vgg19-caffe-conv1_1-conv5_1.safetensors";

std::shared_ptr<LossNetwork> vgg() {
  static std::shared_ptr<LossNetwork> net = loadLossNetwork(kVgg);
  return net;
}

// A 40x32 gradient with a bright square, and a striped "style".
cv::Mat content() {
  cv::Mat m(32, 40, CV_8UC3);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<unsigned char>(6 * x),
                                        static_cast<unsigned char>(7 * y), 90);
  cv::rectangle(m, cv::Rect(12, 8, 12, 12), cv::Scalar(250, 240, 30), cv::FILLED);
  return m;
}

cv::Mat style() {
  cv::Mat m(48, 48, CV_8UC3);
  for (int y = 0; y < m.rows; ++y)
    for (int x = 0; x < m.cols; ++x)
      m.at<cv::Vec3b>(y, x) = ((x + y) / 4) % 2 ? cv::Vec3b(20, 60, 200) : cv::Vec3b(230, 200, 40);
  return m;
}

OptimizeConfig shallow(int lossEvery, OptimizerKind kind) {
  OptimizeConfig c;
  c.contentLayer = "relu2_1";
  c.styleLayers = {"relu1_1", "relu2_1"};
  c.device = "cpu";
  c.tolerance = 0;
  c.optimizer = kind;
  c.lossEvery = lossEvery;
  return c;
}

struct OptRun {
  std::vector<int> reported;  // iterations at which progress was called
  OptimizeResult result;
};

OptRun optimize(const OptimizeConfig& c, int iterations) {
  StyleOptimizer opt(vgg(), c, {style()});
  OptRun r;
  r.result = opt.run(content(), {}, {}, iterations,
                     [&](const OptimizeProgress& p) { r.reported.push_back(p.iteration); });
  return r;
}

// Counts, while it lives, the operators (on this thread) that on a GPU stall the host or cross
// between host and device: item() (aten::_local_scalar_dense), equal, is_nonzero, and every
// type or device conversion (aten::_to_copy: a download, an upload, or, on the CPU, the
// conversion of a tensor built from host values, which on CUDA is a blocking upload) except
// a 0-dim tensor's type change that names no device: the CPU kernels' conversions of scalars
// (the 255.0 of `x * 255.0`, LibTorch 1.13's scalar_to_tensor in clamp and the optimizers),
// which CUDA kernels take as arguments or convert on the device. Any host-device copy names
// its device; a read by item() is counted as _local_scalar_dense.
class HostTouches {
 public:
  HostTouches() {
    names().clear();
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(&onStart).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
  }
  ~HostTouches() { at::removeCallback(handle_); }
  HostTouches(const HostTouches&) = delete;
  HostTouches& operator=(const HostTouches&) = delete;
  int count() const { return static_cast<int>(names().size()); }
  std::string list() const {
    std::string s;
    for (const auto& n : names()) s += n + " ";
    return s;
  }

 private:
  static std::vector<std::string>& names() {
    static std::vector<std::string> v;
    return v;
  }
  static std::unique_ptr<at::ObserverContext> onStart(const at::RecordFunction& fn) {
    const std::string name = fn.name();
    if (name == "aten::_to_copy") {
      const auto inputs = fn.inputs();
      // _to_copy(self, dtype, layout, device, pin_memory, non_blocking, memory_format)
      if (inputs.size() > 3 && inputs[0].isTensor() && inputs[0].toTensor().dim() == 0 && inputs[3].isNone())
        return nullptr;
      names().push_back(name);
    } else if (name == "aten::_local_scalar_dense" || name == "aten::equal" || name == "aten::is_nonzero") {
      names().push_back(name);
    }
    return nullptr;
  }
  at::CallbackHandle handle_;
};

struct ThreadsOnce {
  ThreadsOnce() { configureTorchThreads(1); }
};
const ThreadsOnce kThreads;

}  // namespace

TEST(Models_Device, CudaWithoutGpuIsOneLineErrorNamingWhatWasFound) {
  EXPECT_EQ(resolveDevice("cpu"), torch::Device(torch::kCPU));
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(resolveDevice("auto"), torch::Device(torch::kCPU));  // auto falls back to the CPU
  for (const char* spec : {"cuda", "cuda:0", "CUDA:1"}) {
    const std::string err = errorOf([&] { resolveDevice(spec); });
    EXPECT_EQ(err.rfind(std::string("--device ") + spec + ": CUDA is not available (LibTorch ", 0),
              0u)
        << err;
    // Either this LibTorch has no CUDA at all, or it has and found no device.
    const bool noCudaBuild = err.find("built without CUDA") != std::string::npos;
    const bool noDevice = err.find(" with CUDA ") != std::string::npos &&
                          err.find("0 CUDA devices found") != std::string::npos;
    EXPECT_TRUE(noCudaBuild != noDevice) << err;
    EXPECT_NE(err.find("use cpu or auto"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
#if TORCH_VERSION_MAJOR >= 2
  // The PyPI wheel is the CUDA build: the error must say CUDA is there but no GPU is.
  const std::string err = errorOf([] { resolveDevice("cuda"); });
  EXPECT_NE(err.find("with CUDA"), std::string::npos) << err;
#endif
}

TEST(Models_StyleOptimizer_LossEvery, ReadsEveryNthIterationAndTheLast) {
  for (OptimizerKind kind : {OptimizerKind::Lbfgs, OptimizerKind::Adam}) {
    const OptRun every1 = optimize(shallow(0, kind), 7);  // 0 = every iteration on the CPU
    EXPECT_EQ(every1.reported, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
    const OptRun every3 = optimize(shallow(3, kind), 7);
    EXPECT_EQ(every3.reported, (std::vector<int>{3, 6, 7}));
    EXPECT_EQ(every3.result.iterations, 7);
    // Reading less often changes nothing but the reads: the same image, bit for bit.
    cv::Mat diff;
    cv::absdiff(every1.result.imageFloat, every3.result.imageFloat, diff);
    EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);
    EXPECT_DOUBLE_EQ(every1.result.loss.total, every3.result.loss.total);
  }
}

TEST(Models_StyleOptimizer_LossEvery, ToleranceTestedAtReads) {
  // A tolerance no change can exceed stops at the second read.
  OptimizeConfig c = shallow(4, OptimizerKind::Adam);
  c.tolerance = 1e9;
  OptRun r = optimize(c, 50);
  EXPECT_EQ(r.result.iterations, 8);
  EXPECT_EQ(r.reported, (std::vector<int>{4, 8}));
  c.lossEvery = 1;
  r = optimize(c, 50);
  EXPECT_EQ(r.result.iterations, 2);
  // A tolerance of 0 never stops early, whatever N.
  c.tolerance = 0;
  c.lossEvery = 5;
  r = optimize(c, 12);
  EXPECT_EQ(r.result.iterations, 12);
}

TEST(Models_StyleOptimizer_LossEvery, NegativeIsAnError) {
  const std::string err = errorOf([] {
    StyleOptimizer opt(vgg(), shallow(-1, OptimizerKind::Lbfgs), {style()});
  });
  EXPECT_NE(err.find("lossEvery must be >= 0"), std::string::npos) << err;
}

TEST(Models_GpuHygiene, LossNetworkForwardTouchesNoHostData) {
  // Regression: the preprocessing built its mean (and std) from host values on every call,
  // a blocking upload (a host synchronization) in each forward pass of the optimizer on CUDA.
  auto net = vgg();
  ASSERT_EQ(net->preprocessing(), "caffe_bgr");
  const auto x = torch::rand({1, 3, 24, 32});
  torch::Tensor pre;
  {
    HostTouches touches;
    const auto feats = net->extract(x, {"relu1_1", "relu2_1", "relu3_1"});
    pre = net->preprocess(x);
    EXPECT_EQ(touches.count(), 0) << touches.list();
  }
  // The same values as the former per-call constants, bit for bit: BGR, x255, minus the mean.
  const auto mean = torch::tensor({103.939, 116.779, 123.68}, torch::kDouble).to(torch::kFloat).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::equal(pre, x.flip({1}).mul(255.0).sub(mean)));
}

TEST(Models_GpuHygiene, OptimizerTouchesTheHostOnlyAtReads) {
  // Twice the iterations with the same number of loss reads: the same host traffic. Adam's
  // loop (L-BFGS's line search reads scalars by design: LibTorch's LBFGS calls item()).
  auto touchesOf = [](int iterations, int every) {
    OptimizeConfig c = shallow(every, OptimizerKind::Adam);
    StyleOptimizer opt(vgg(), c, {style()});
    opt.run(content(), {}, {}, 1);  // style targets and their host conversions, once
    HostTouches touches;
    opt.run(content(), {}, {}, iterations);
    return std::make_pair(touches.count(), touches.list());
  };
  const auto tenOneRead = touchesOf(10, 10);     // reads at 10
  const auto twentyOneRead = touchesOf(20, 20);  // reads at 20
  const auto twentyTwoReads = touchesOf(20, 10); // reads at 10, 20
  EXPECT_EQ(twentyOneRead.first, tenOneRead.first) << twentyOneRead.second << "\nvs\n" << tenOneRead.second;
  EXPECT_GT(twentyTwoReads.first, twentyOneRead.first) << "the counter must see a read";
}

TEST(Models_GpuHygiene, UpsampleBetweenScalesOnTheDeviceEqualsOpenCvLinear) {
  // run() enlarges a coarse result on the device (F::interpolate) where it used to download it,
  // cv::resize it (INTER_LINEAR) and upload it again: the two must agree.
  cv::RNG rng(5);
  for (const auto& [from, to] : std::vector<std::pair<cv::Size, cv::Size>>{
           {{20, 15}, {40, 30}}, {{13, 9}, {25, 17}}, {{1, 1}, {1, 1}}, {{7, 1}, {13, 1}},
           {{3, 2}, {5, 4}}, {{64, 48}, {128, 96}}}) {
    for (int type : {CV_32FC3, CV_32FC1}) {
      cv::Mat m(from, type);
      rng.fill(m, cv::RNG::UNIFORM, 0.0, 1.0);
      cv::Mat expected;
      cv::resize(m, expected, to, 0, 0, cv::INTER_LINEAR);
      const cv::Mat got = flowstyle::models::detail::upsampleBetweenScales(m, to);
      ASSERT_EQ(got.size(), to);
      ASSERT_EQ(got.type(), type);
      EXPECT_LT(cv::norm(got, expected, cv::NORM_INF), 1e-5) << from << " -> " << to;
    }
  }
  EXPECT_NE(errorOf([] { flowstyle::models::detail::upsampleBetweenScales(cv::Mat(4, 4, CV_32FC3), {2, 2}); })
                .find("smaller than"),
            std::string::npos);
}

#ifdef FLOWSTYLE_GPU_CHECK
// flowstyle-gpu-check (the LibTorch-only build) end to end on the CPU: what tools/gpu-check.sh
// runs on a machine without a GPU.
TEST(Tools_GpuCheck, RunsOnTheCpuAndSaysWhatItCouldNotRun) {
  using flowstyle::test::run;
  const auto scratch = flowstyle::test::scratchDir();
  const std::string wave = (scratch / "wave.safetensors").string();
  writeSafetensors(wave, importMl5Checkpoint(flowstyle::test::sharedPath("models/ml5/wave")));
  const std::string exe = FLOWSTYLE_GPU_CHECK;

  auto r = run({exe, "--device", "cpu", "--quick", "--threads", "1", "--model", wave, "--vgg", kVgg},
               scratch);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  auto has = [&](const std::string& pattern) {
    return std::regex_search(r.out, std::regex(pattern));
  };
  EXPECT_TRUE(has("LibTorch " TORCH_VERSION ", device cpu")) << r.out;
  EXPECT_TRUE(has(R"(fast 64x48 +float32 NCHW +[0-9.]+ frames/s .* RMS 0\.000 max 0 of 255)")) << r.out;
  EXPECT_TRUE(has(R"(fast 64x48 +bfloat16 NCHW +[0-9.]+ frames/s .* RMS [0-9]+\.[0-9]+ max )")) << r.out;
  EXPECT_TRUE(has(R"(vgg19 64x48 +L-BFGS +[0-9.]+ s/iteration reading the loss every iteration, +[0-9.]+ every 10th)"))
      << r.out;
  EXPECT_TRUE(has(R"(vgg19 64x48 +Adam )")) << r.out;
  EXPECT_TRUE(has("not run: everything on a GPU: --device cuda: CUDA is not available")) << r.out;
  EXPECT_TRUE(has("not run: fast network float16")) << r.out;
  EXPECT_TRUE(has("not run: pinned vs pageable frame upload")) << r.out;
  EXPECT_TRUE(has("\ngpu-check: ok\n")) << r.out;

  // Without weights: random VGG19 weights, and the fast network named as not run.
  r = run({exe, "--device", "cpu", "--quick", "--threads", "1", "--vgg-sizes", "32x32"}, scratch);
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_TRUE(has("random weights of VGG19's shapes")) << r.out;
  EXPECT_TRUE(has("vgg19 32x32 +L-BFGS")) << r.out;
  EXPECT_TRUE(has("not run: fast network: no --model")) << r.out;

  r = run({exe, "--bogus"}, scratch);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("unknown option --bogus"), std::string::npos) << r.err;
  r = run({exe, "--fast-sizes", "30x30"}, scratch);
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("size 30x30: sides must be multiples of 4"), std::string::npos) << r.err;
  if (!torch::cuda::is_available()) {
    r = run({exe, "--device", "cuda"}, scratch);
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_EQ(r.err.rfind("flowstyle-gpu-check: --device cuda: CUDA is not available (LibTorch ", 0), 0u)
        << r.err;
  }
}
#endif
