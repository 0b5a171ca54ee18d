// The ONNX reader (models/onnx_reader) and the networks imported from ONNX: Magenta's
// arbitrary-style network (models/magenta) against the golden output its own graph gives
// under onnxruntime (../shared/models/reference/arbitrary_reference.json).
//
// tests/data/onnx_*.onnx are made by tests/data/make_onnx_fixtures.py (pip's onnx package):
//   python3 tests/data/make_onnx_fixtures.py tests/data
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "models/arbitrary_network.hpp"
#include "models/image_tensor.hpp"
#include "models/magenta.hpp"
#include "models/model_store.hpp"
#include "models/multistyle.hpp"
#include "models/onnx_reader.hpp"
#include "models/safetensors.hpp"
#include "models/sha256.hpp"
#include "models/tiling.hpp"
#include "tests/image_support.hpp"

namespace fs = std::filesystem;
using namespace flowstyle::models;

namespace {

const std::string kShared = FLOWSTYLE_SHARED_DIR;
const std::string kData = std::string(FLOWSTYLE_SOURCE_DIR) + "/tests/data/";
const std::string kMagenta = kShared + "/models/arbitrary/magenta/";
const std::string kReference = kShared + "/models/reference/";

std::string tmpPath(const std::string& name) {
  const fs::path dir = fs::path(FLOWSTYLE_TEST_TMP) / "arbitrary_onnx";
  fs::create_directories(dir);
  return (dir / name).string();
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A float32 little-endian .npy (version 1 header, C order); returns the values.
std::vector<float> readNpyF32(const std::string& path, std::vector<std::int64_t>* shape) {
  const std::string b = readBytes(path);
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(path + ": not .npy");
  const std::size_t headerLen = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
  const std::string header = b.substr(10, headerLen);
  if (header.find("'<f4'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error(path + ": not C-order float32: " + header);
  const std::size_t open = header.find('(', header.find("'shape'"));
  const std::size_t close = header.find(')', open);
  std::int64_t count = 1;
  shape->clear();
  std::string dims = header.substr(open + 1, close - open - 1);
  for (std::size_t pos = 0; pos < dims.size();) {
    const std::size_t comma = dims.find(',', pos);
    const std::string d = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (d.find_first_of("0123456789") != std::string::npos) {
      shape->push_back(std::stoll(d));
      count *= shape->back();
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  std::vector<float> v(static_cast<std::size_t>(count));
  if (b.size() != 10 + headerLen + v.size() * 4) throw std::runtime_error(path + ": size mismatch");
  std::memcpy(v.data(), b.data() + 10 + headerLen, v.size() * 4);
  return v;
}

using flowstyle::test::imageDiff;
using flowstyle::test::ImageDiff;
using flowstyle::test::readRgb;

bool haveMagenta() {
  return fs::exists(kMagenta + "arbitrary_predict.onnx") && fs::exists(kMagenta + "arbitrary_transform.onnx");
}

// One import per test binary (it reads 3 MB and builds both halves).
const TensorFile& magentaFile() {
  static const TensorFile file =
      importMagenta(kMagenta + "arbitrary_predict.onnx", kMagenta + "arbitrary_transform.onnx");
  return file;
}

}  // namespace

// ---- The reader ------------------------------------------------------------------------

TEST(Models_OnnxReader, ReadsInitializersNodesAndAttributes) {
  const OnnxModel m = readOnnx(kData + "onnx_tiny.onnx");
  ASSERT_EQ(m.nodes.size(), 2u);
  EXPECT_EQ(m.nodes[0].opType, "Conv");
  EXPECT_EQ(m.nodes[0].inputs, (std::vector<std::string>{"x", "conv.weight", "conv.bias"}));
  EXPECT_EQ(m.nodes[0].attributes.at("kernel_shape").ints, (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(m.nodes[1].opType, "Relu");
  ASSERT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].dims, (std::vector<std::int64_t>{1, 2, -1, -1}));
  ASSERT_EQ(m.initializers.size(), 3u);
  const OnnxTensor& w = m.initializers.at("conv.weight");  // raw_data
  EXPECT_EQ(w.dims, (std::vector<std::int64_t>{2, 2, 1, 1}));
  EXPECT_EQ(w.toFloat(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(m.initializers.at("conv.bias").toFloat(), (std::vector<float>{0.5f, -0.5f}));  // float_data
  const OnnxTensor& q = m.initializers.at("q.weight");
  EXPECT_EQ(q.dtype, OnnxDtype::Int8);
  EXPECT_EQ(q.toFloat(), (std::vector<float>{1, -2, 3, -128}));
}

TEST(Models_OnnxReader, RefusesWrongByteCountNamingTheInitializer) {
  const std::string path = kData + "onnx_wrong_bytes.onnx";
  EXPECT_EQ(errorOf([&] { readOnnx(path); }),
            path + ": initializer 'conv.weight' has 12 bytes, expected 16 for shape [2,2]");
}

TEST(Models_OnnxReader, RefusesAShapeThatItsValuesDoNotFillBeforeAllocating) {
  // Found by fuzz_onnx_reader: the shape was trusted for a reservation before the count check.
  const std::string path = kData + "onnx_huge_shape.onnx";
  EXPECT_EQ(errorOf([&] { readOnnx(path); }),
            path + ": initializer 'conv.bias' has 2 values, expected 100000000000000 for shape [10000000,10000000]");
}

TEST(Models_OnnxReader, RefusesExternalDataAndOtherDtypes) {
  EXPECT_NE(errorOf([&] { readOnnx(kData + "onnx_external.onnx"); })
                .find("initializer 'conv.weight' keeps its data in an external file"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { readOnnx(kData + "onnx_float16.onnx"); })
                .find("initializer 'conv.weight' has dtype float16"),
            std::string::npos);
}

TEST(Models_OnnxReader, RefusesTruncatedGarbageOversizedAndMissingFiles) {
  const std::string good = readBytes(kData + "onnx_tiny.onnx");
  ASSERT_GT(good.size(), 100u);
  const std::string cut = tmpPath("truncated.onnx");
  writeBytes(cut, good.substr(0, good.size() - 37));
  EXPECT_NE(errorOf([&] { readOnnx(cut); }).find(cut + ": "), std::string::npos);
  const std::string junk = tmpPath("junk.onnx");
  writeBytes(junk, std::string("\xff\xff\xff\xff\xff\xff\xff\xff not protobuf", 21));
  EXPECT_EQ(errorOf([&] { readOnnx(junk); }),
            junk + ": not an ONNX model (the protobuf ModelProto does not parse)");
  // The cap is checked before a byte is read.
  EXPECT_NE(errorOf([&] { readOnnx(kData + "onnx_tiny.onnx", 100); }).find("more than the 100"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { readOnnx(tmpPath("absent.onnx")); }).find("no such file"), std::string::npos);
}

TEST(Models_OnnxReader, ReadsMagentasQuantizedGraphs) {
  if (!haveMagenta()) GTEST_SKIP() << "no " << kMagenta;
  const OnnxModel m = readOnnx(kMagenta + "arbitrary_transform.onnx");
  EXPECT_EQ(m.nodes.size(), 740u);
  EXPECT_EQ(m.initializers.size(), 415u);
  const OnnxTensor& w = m.initializers.at("transformer/expand/conv3/conv/weights");
  EXPECT_EQ(w.dtype, OnnxDtype::Int8);
  EXPECT_EQ(w.dims, (std::vector<std::int64_t>{3, 8, 9, 9}));
}

// ---- Magenta -------------------------------------------------------------------------

TEST(Models_Magenta, StyleVectorMatchesReference) {
  if (!haveMagenta() || !fs::exists(kReference + "magenta_starry_style_vector.npy"))
    GTEST_SKIP() << "no Magenta weights or reference in " << kShared;
  std::vector<std::int64_t> shape;
  const std::vector<float> ref = readNpyF32(kReference + "magenta_starry_style_vector.npy", &shape);
  ASSERT_EQ(shape, (std::vector<std::int64_t>{1, 1, 1, 100}));
  torch::set_num_threads(2);
  auto net = makeMagenta(magentaFile(), "magenta", torch::kCPU);
  const cv::Mat style = readRgb(kReference + "starry_night_center_256x256.png");
  ASSERT_FALSE(style.empty());
  const StyleCode code = net->encodeStyle(style);
  ASSERT_EQ(code.tensors.size(), 1u);
  ASSERT_EQ(code.tensors[0].numel(), 100);
  const auto v = code.tensors[0].accessor<float, 1>();
  // The vector is quantized to steps of 0.0199 (the graph's last rounding); allow one step.
  double maxDiff = 0;
  for (int i = 0; i < 100; ++i) maxDiff = std::max(maxDiff, std::abs(static_cast<double>(v[i]) - ref[i]));
  EXPECT_LE(maxDiff, 0.0201) << "max |Δ| over the 100 numbers";
}

// The issue asks for max |Δ| <= 2. That cannot hold for this graph against any
// implementation that is not bit-identical to onnxruntime's float arithmetic: every
// activation, and every per-channel mean, variance and scale of the 13 conditional
// instance norms, is rounded to 256 levels, so one rounding that lands the other way
// moves a whole channel and the next norm amplifies it. Measured with onnxruntime itself
// (1.32.0, CPU; tests/data/magenta_sensitivity.py) on this input: raising ONE input pixel by 1/255 moves the output by max 48-64,
// mean 5.0-6.9, with only 5 % of pixels within 2 (two of four random pixels: no change at
// all). This network matches onnxruntime's intermediate tensors to one step in > 99.98 % of
// values through the first residual block (checked with onnxruntime's intermediates while
// writing it), then diverges the same way. So the test holds it to that envelope: the
// image within the spread of onnxruntime's own response to a 1/255 change (the float graph
// without the roundings: max 103, mean 9.8; a wrong norm or padding: far more).
TEST(Models_Magenta, StylizesTubingenAsTheReference) {
  if (!haveMagenta() || !fs::exists(kReference + "magenta_starry_tubingen_384x384.png"))
    GTEST_SKIP() << "no Magenta weights or reference in " << kShared;
  std::vector<std::int64_t> shape;
  const std::vector<float> ref = readNpyF32(kReference + "magenta_starry_style_vector.npy", &shape);
  torch::set_num_threads(2);
  auto net = makeMagenta(magentaFile(), "magenta", torch::kCPU);
  const cv::Mat content = readRgb(kReference + "tubingen_384x384.png");
  const cv::Mat golden = readRgb(kReference + "magenta_starry_tubingen_384x384.png");
  ASSERT_FALSE(content.empty());
  ASSERT_FALSE(golden.empty());
  // The reference ran the transformer on the reference vector: do the same (the transformer
  // alone), then from this network's own vector.
  StyleCode code{"magenta", {torch::tensor(ref)}};
  const cv::Mat out = (*net)({content}, code, 1.0).at(0);
  const ImageDiff d = imageDiff(out, golden);
  RecordProperty("max_abs_diff", std::to_string(d.max));
  RecordProperty("mean_abs_diff", std::to_string(d.mean));
  std::cout << "magenta golden (reference vector): max |Δ| " << d.max << ", mean " << d.mean << "\n";
  EXPECT_LE(d.max, 70.0);
  EXPECT_LE(d.mean, 7.0);

  const StyleCode own = net->encodeStyle(readRgb(kReference + "starry_night_center_256x256.png"));
  const ImageDiff d2 = imageDiff((*net)({content}, own, 1.0).at(0), golden);
  std::cout << "magenta golden (own vector): max |Δ| " << d2.max << ", mean " << d2.mean << "\n";
  EXPECT_LE(d2.max, 110.0);
  EXPECT_LE(d2.mean, 11.0);
}

TEST(Models_Magenta, RunsAnyFrameSizeAndLoadsFromSafetensors) {
  if (!haveMagenta()) GTEST_SKIP() << "no Magenta weights in " << kMagenta;
  const std::string path = tmpPath("magenta.safetensors");
  writeSafetensors(path, magentaFile());
  auto net = loadArbitraryNetwork(path, "cpu");
  ASSERT_EQ(net->arch(), "magenta");
  torch::set_num_threads(2);
  const cv::Mat content = readRgb(kReference + "tubingen_384x384.png");
  const StyleCode code = net->encodeStyle(readRgb(kReference + "starry_night_center_256x256.png"));
  for (const cv::Size size : {cv::Size(97, 61), cv::Size(3, 2), cv::Size(1, 1)}) {
    cv::Mat frame;
    cv::resize(content, frame, size, 0, 0, cv::INTER_AREA);
    const std::vector<cv::Mat> out = (*net)({frame, frame}, code, 1.0);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].size(), size);
    EXPECT_EQ(out[0].type(), CV_8UC3);
    EXPECT_EQ(cv::norm(out[0], out[1], cv::NORM_INF), 0) << "same frame, same output";
  }
  // Strength 0 keeps the content's own look: closer to the content than full style is.
  cv::Mat frame;
  cv::resize(content, frame, cv::Size(128, 128), 0, 0, cv::INTER_AREA);
  const cv::Mat full = (*net)({frame}, code, 1.0).at(0);
  const cv::Mat none = (*net)({frame}, code, 0.0).at(0);
  EXPECT_LT(imageDiff(none, frame).mean, imageDiff(full, frame).mean);
  // Blending a code with itself is the code.
  const StyleCode twice = net->blend({code, code}, {1, 3});
  EXPECT_TRUE(torch::allclose(twice.tensors[0], code.tensors[0], 1e-6, 1e-6));
  EXPECT_THROW(net->encodeStyle(cv::Mat(1, 1, CV_8UC3, cv::Scalar(1, 2, 3))), std::invalid_argument);
}

// The fused CPU kernels and LibTorch's ops (the path other devices take) compute the same
// steps; they may differ at a rounding tie (a float mean summed in another order), which
// this graph amplifies, so the comparison allows the golden test's envelope.
TEST(Models_Magenta, FusedKernelsAgreeWithLibTorchOps) {
  if (!haveMagenta()) GTEST_SKIP() << "no Magenta weights in " << kMagenta;
  torch::set_num_threads(2);
  auto fused = makeMagenta(magentaFile(), "magenta", torch::kCPU, true);
  auto plain = makeMagenta(magentaFile(), "magenta", torch::kCPU, false);
  const cv::Mat style = readRgb(kReference + "starry_night_center_256x256.png");
  const StyleCode a = fused->encodeStyle(style), b = plain->encodeStyle(style);
  EXPECT_LE((a.tensors[0] - b.tensors[0]).abs().max().item<float>(), 0.0201f);
  const cv::Mat content = readRgb(kReference + "tubingen_96x72.png");
  const ImageDiff d = imageDiff((*fused)({content}, a, 1.0).at(0), (*plain)({content}, a, 1.0).at(0));
  std::cout << "magenta fused vs LibTorch ops: max |Δ| " << d.max << ", mean " << d.mean << "\n";  // measured: 0, 0
  EXPECT_LE(d.max, 70.0);
  EXPECT_LE(d.mean, 7.0);
}

// Tiles (setTile): the expansion's norms take whole-frame statistics merged from the tiles'
// level counts, so the picture is the whole frame's but for float rounding in the
// convolutions (each output is rounded to 256 levels: a difference is a whole level, 1/255).
TEST(Models_Magenta, TilesGiveTheWholeFramesOutput) {
  if (!haveMagenta()) GTEST_SKIP() << "no Magenta weights in " << kMagenta;
  torch::set_num_threads(2);
  auto net = makeMagenta(magentaFile(), "magenta", torch::kCPU);
  EXPECT_EQ(magentaTileHalo(*net), kMagentaTileHalo);
  const StyleCode code = net->encodeStyle(readRgb(kReference + "starry_night_center_256x256.png"));
  cv::Mat content;
  cv::resize(readRgb(kReference + "tubingen_384x384.png"), content, cv::Size(200, 152), 0, 0, cv::INTER_AREA);
  const torch::Tensor x = rgbFramesToTensor01({content}, "test");
  const torch::Tensor whole = magentaRaw(*net, x, code, 0);
  EXPECT_EQ(net->tiling(), "");
  const torch::Tensor tiled = magentaRaw(*net, x, code, 64);
  EXPECT_EQ(net->tiling(), "4x3 tiles of 64 px, halo 8");
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  const torch::Tensor diff = (tiled - whole).abs();
  const double maxDiff = diff.max().item<double>();
  const double differing = diff.gt(0).to(torch::kDouble).mean().item<double>();
  const double fromInput = (whole - x).abs().mean().item<double>();
  std::printf("magenta 200x152 in 4x3 tiles of 64: max |tiled - whole| %.3g, %.3g%% of values differ; "
              "mean |whole - input| %.3f\n",
              maxDiff, 100 * differing, fromInput);  // measured: 0, 0 %; 0.141
  EXPECT_LE(maxDiff, 1.5 / 255);  // at most one level, where rounding flips it
  EXPECT_LE(differing, 1e-3);
  EXPECT_GT(fromInput, 0.05);  // the network did paint

  // Through the 8-bit frames, at a size the network pads (200x150 -> 200x152).
  const cv::Mat odd = content(cv::Rect(0, 0, 200, 150)).clone();
  net->setTile(0);
  const cv::Mat wholeFrame = (*net)({odd}, code, 1.0).at(0);
  net->setTile(64);
  const cv::Mat tiledFrame = (*net)({odd}, code, 1.0).at(0);
  EXPECT_EQ(net->tiling(), "4x3 tiles of 64 px, halo 8");
  EXPECT_LE(imageDiff(tiledFrame, wholeFrame).max, 1.0);
  EXPECT_GT(imageDiff(wholeFrame, odd).mean, 10.0);
  // A frame within one tile runs whole.
  net->setTile(256);
  (void)(*net)({odd}, code, 1.0);
  EXPECT_EQ(net->tiling(), "");
}

TEST(Models_Magenta, RefusesGraphsThatAreNotTheArchitecture) {
  if (!haveMagenta()) GTEST_SKIP() << "no Magenta weights in " << kMagenta;
  const std::string predict = kMagenta + "arbitrary_predict.onnx";
  const std::string transform = kMagenta + "arbitrary_transform.onnx";
  EXPECT_EQ(errorOf([&] { importMagenta(transform, predict); }),
            transform + ": no graph input 'style_image' (not Magenta's arbitrary-style network)");
  // A weight of the wrong shape in an imported file: named with the file and the key.
  TensorFile file = magentaFile();
  file.tensors["transform.transformer.residual.residual3.conv1.weight"] = torch::zeros({32, 16, 3, 3}, torch::kChar);
  EXPECT_EQ(errorOf([&] { makeMagenta(file, "m.safetensors", torch::kCPU); }),
            "m.safetensors: 'transform.transformer.residual.residual3.conv1.weight' has shape [32,16,3,3], "
            "expected [32,32,3,3]");
  file.tensors.erase("predict.MobilenetV2.expanded_conv_7.add.q");
  EXPECT_NE(errorOf([&] { makeMagenta(file, "m.safetensors", torch::kCPU); })
                .find("'predict.MobilenetV2.expanded_conv_7.add.q' is missing"),
            std::string::npos);
}

// ---- Installing ----------------------------------------------------------------------

TEST(Models_OnnxInstall, InstallsMagentaFolderWithChecksumsAndLoadsItBack) {
  if (!haveMagenta()) GTEST_SKIP() << "no Magenta weights in " << kMagenta;
  const fs::path dest = tmpPath("store");
  fs::remove_all(dest);
  const std::vector<ModelEntry> got = installModels({kMagenta}, dest.string());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name, "magenta");
  EXPECT_EQ(got[0].kind, ModelKind::ArbitraryNetwork);
  EXPECT_EQ(got[0].arch, "magenta");
  EXPECT_EQ(got[0].preprocess, "rgb_0_1");
  EXPECT_EQ(got[0].path, (dest / "magenta.safetensors").string());
  const auto meta = readSafetensorsMetadata(got[0].path);
  const std::string sums = meta.at("flowstyle.source_sha256");
  EXPECT_NE(sums.find("arbitrary_predict.onnx="), std::string::npos);
  EXPECT_NE(sums.find(";arbitrary_transform.onnx="), std::string::npos);
  EXPECT_EQ(sums.size(), std::string("arbitrary_predict.onnx=;arbitrary_transform.onnx=").size() + 2 * 64);
  // Listed, resolved by name, and loaded back as the same network.
  ::setenv("FLOWSTYLE_MODELS", dest.c_str(), 1);
  bool listed = false;
  for (const ModelEntry& e : listModels()) listed |= e.name == "magenta" && e.kind == ModelKind::ArbitraryNetwork;
  EXPECT_TRUE(listed);
  EXPECT_EQ(resolveModel("magenta", ModelKind::ArbitraryNetwork), got[0].path);
  ::unsetenv("FLOWSTYLE_MODELS");
  auto net = loadArbitraryNetwork(got[0].path, "cpu");
  EXPECT_EQ(net->arch(), "magenta");
  // One half alone is refused with what to do.
  EXPECT_NE(errorOf([&] { installModels({kMagenta + "arbitrary_transform.onnx"}, dest.string()); })
                .find("install the folder holding arbitrary_predict.onnx and arbitrary_transform.onnx"),
            std::string::npos);
}

TEST(Models_OnnxInstall, Sha256MatchesKnownDigests) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// ---- multistyle26 ----------------------------------------------------------------------
// Golden PNGs (tests/data/multistyle26_*_tubingen_96x72.png) made once with onnxruntime
// 1.32.0 (pip, Python 3.11) on the published multistyle26.onnx:
//   python3 -m venv /tmp/v && /tmp/v/bin/pip install onnxruntime numpy pillow
//   /tmp/v/bin/python tests/data/make_multistyle26_golden.py ../shared tests/data
// index0: style 0; index17: style 17; blend3_20: 0.25 x style 3 + 0.75 x style 20.

namespace {
const std::string kMultistyle = kShared + "/models/arbitrary/multistyle26/multistyle26.onnx";
}

TEST(Models_Multistyle26, ReproducesOnnxruntimeOnTwoIndicesAndABlend) {
  if (!fs::exists(kMultistyle)) GTEST_SKIP() << "no " << kMultistyle;
  torch::set_num_threads(2);
  auto net = makeMultistyle26(importMultistyle26(kMultistyle), kMultistyle, torch::kCPU);
  const cv::Mat content = readRgb(kReference + "tubingen_96x72.png");
  ASSERT_FALSE(content.empty());
  std::vector<double> mix(26, 0.0);
  mix[3] = 1;
  mix[20] = 3;  // normalized: 0.25 / 0.75
  const std::vector<std::pair<std::string, StyleCode>> cases = {
      {"index0", multistyleCode(0)}, {"index17", multistyleCode(17)}, {"blend3_20", multistyleCode(mix)}};
  for (const auto& [name, code] : cases) {
    const cv::Mat golden = readRgb(kData + "multistyle26_" + name + "_tubingen_96x72.png");
    ASSERT_FALSE(golden.empty()) << name;
    const ImageDiff d = imageDiff((*net)({content}, code, 1.0).at(0), golden);
    std::cout << "multistyle26 " << name << ": max |Δ| " << d.max << ", mean " << d.mean << "\n";
    EXPECT_LE(d.max, 2.0) << name;
    EXPECT_LE(d.mean, 0.05) << name;
  }
  // Blending codes is blending the weights: 1:3 of styles 3 and 20 is the mix above.
  const StyleCode blended = net->blend({multistyleCode(3), multistyleCode(20)}, {1, 3});
  EXPECT_TRUE(torch::allclose(blended.tensors[0], multistyleCode(mix).tensors[0]));
}

TEST(Models_Multistyle26, RefusesBadIndicesWeightsAndStyleImages) {
  EXPECT_EQ(errorOf([] { multistyleCode(26); }), "style index 26 is outside 0..25");
  EXPECT_EQ(errorOf([] { multistyleCode(-1); }), "style index -1 is outside 0..25");
  EXPECT_EQ(errorOf([] { multistyleCode(std::vector<double>(26, 0.0)); }), "style weights sum to 0");
  EXPECT_EQ(errorOf([] { multistyleCode(std::vector<double>(3, 1.0)); }),
            "multistyle26 takes 26 style weights, got 3");
  if (!fs::exists(kMultistyle)) GTEST_SKIP() << "no " << kMultistyle;
  auto net = makeMultistyle26(importMultistyle26(kMultistyle), kMultistyle, torch::kCPU);
  EXPECT_THROW(net->encodeStyle(cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3))), std::invalid_argument);
  // Any frame size: padded and cropped back.
  const std::vector<cv::Mat> out = (*net)({cv::Mat(5, 7, CV_8UC3, cv::Scalar(90, 120, 30))}, multistyleCode(4), 0.5);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), cv::Size(7, 5));
  // Magenta's transformer is not this network.
  if (haveMagenta()) {
    EXPECT_NE(errorOf([&] { importMultistyle26(kMagenta + "arbitrary_transform.onnx"); })
                  .find("not the 26-style network"),
              std::string::npos);
  }
}

// Tiles (setTile): every norm, the contraction's at full and half resolution too, takes the
// whole frame's statistics merged from the tiles, so the output is the whole frame's but for
// float32 rounding (the sums in another order). 200x152 in 4x3 tiles of 64 px: unequal
// cores, tiles at every edge and corner (the frame's reflection), a mix of two styles.
TEST(Models_Multistyle26, TilesGiveTheWholeFramesOutput) {
  if (!fs::exists(kMultistyle)) GTEST_SKIP() << "no " << kMultistyle;
  torch::set_num_threads(2);
  auto net = makeMultistyle26(importMultistyle26(kMultistyle), kMultistyle, torch::kCPU);
  std::vector<double> mix(kMultistyleStyles, 0.0);
  mix[3] = 1;
  mix[20] = 3;
  const StyleCode code = multistyleCode(mix);
  cv::Mat content;
  cv::resize(readRgb(kReference + "tubingen_384x384.png"), content, cv::Size(200, 152), 0, 0, cv::INTER_AREA);
  const torch::Tensor x = rgbFramesToTensor01({content}, "test");
  const torch::Tensor whole = multistyleRaw(*net, x, code, 0);
  EXPECT_EQ(net->tiling(), "");
  const torch::Tensor tiled = multistyleRaw(*net, x, code, 64);
  EXPECT_EQ(net->tiling(), "4x3 tiles of 64 px, halo 8");
  ASSERT_EQ(tiled.sizes(), whole.sizes());
  const double maxDiff = (tiled - whole).abs().max().item<double>();
  const double fromInput = (whole - x).abs().mean().item<double>();
  std::printf("multistyle26 200x152 in 4x3 tiles of 64: max |tiled - whole| %.3g; mean |whole - input| %.3f\n",
              maxDiff, fromInput);  // measured: 1.43e-06; 0.282
  EXPECT_LE(maxDiff, 1e-5);  // 7x the measured; with the first tile's statistics for all: 0.91
  EXPECT_GT(fromInput, 0.05);  // the network did paint
  // Through the 8-bit interface too: tiles of 96 px (3x2), at most one level apart.
  net->setTile(96);
  const cv::Mat tiledRgb = (*net)({content}, code, 1.0).at(0);
  EXPECT_EQ(net->tiling(), "3x2 tiles of 96 px, halo 8");
  net->setTile(0);
  EXPECT_LE(imageDiff(tiledRgb, (*net)({content}, code, 1.0).at(0)).max, 1.0);
  EXPECT_THROW(net->setTile(-1), std::invalid_argument);
}

TEST(Models_Multistyle26, TileHaloIsWhatTheChainsRead) {
  if (!fs::exists(kMultistyle)) GTEST_SKIP() << "no " << kMultistyle;
  auto net = makeMultistyle26(importMultistyle26(kMultistyle), kMultistyle, torch::kCPU);
  EXPECT_EQ(multistyleTileHalo(*net), kMultistyleTileHalo);
  EXPECT_TRUE(arbitraryNetworkTiles("multistyle26"));
}

TEST(Models_OnnxInstall, InstallsBothFromTheArbitraryFolderAndLoadsThemBack) {
  if (!haveMagenta() || !fs::exists(kMultistyle)) GTEST_SKIP() << "no ONNX weights in " << kShared;
  const fs::path dest = tmpPath("store2");
  fs::remove_all(dest);
  // As published: Magenta's folder, and the 26-style network's folder (found while recursing).
  const std::vector<ModelEntry> got =
      installModels({kMagenta, kShared + "/models/arbitrary/multistyle26"}, dest.string());
  ASSERT_EQ(got.size(), 2u);
  std::map<std::string, ModelEntry> byName;
  for (const ModelEntry& e : got) byName[e.name] = e;
  ASSERT_TRUE(byName.count("magenta"));
  ASSERT_TRUE(byName.count("multistyle26"));
  EXPECT_EQ(byName["multistyle26"].kind, ModelKind::ArbitraryNetwork);
  EXPECT_EQ(byName["multistyle26"].arch, "multistyle26");
  const auto meta = readSafetensorsMetadata(byName["multistyle26"].path);
  EXPECT_EQ(meta.at("flowstyle.source_sha256").rfind("multistyle26.onnx=", 0), 0u);
  EXPECT_EQ(meta.at("flowstyle.source_sha256").size(), std::string("multistyle26.onnx=").size() + 64);
  auto net = loadArbitraryNetwork(byName["multistyle26"].path, "cpu");
  EXPECT_EQ(net->arch(), "multistyle26");
  const cv::Mat content = readRgb(kReference + "tubingen_96x72.png");
  const ImageDiff d = imageDiff((*net)({content}, multistyleCode(17), 1.0).at(0),
                        readRgb(kData + "multistyle26_index17_tubingen_96x72.png"));
  EXPECT_LE(d.max, 2.0);
  EXPECT_EQ(loadArbitraryNetwork(byName["magenta"].path, "cpu")->arch(), "magenta");
}
