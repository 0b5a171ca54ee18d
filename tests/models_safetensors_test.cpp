#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "models/safetensors.hpp"

namespace fs = std::filesystem;
using flowstyle::models::readSafetensors;
using flowstyle::models::readSafetensorsMetadata;
using flowstyle::models::readSafetensorsShapes;
using flowstyle::models::TensorFile;
using flowstyle::models::writeSafetensors;

namespace {

const std::string kShared = FLOWSTYLE_SHARED_DIR;

fs::path scratchDir(const std::string& name) {
  const fs::path dir = fs::path(FLOWSTYLE_TEST_TMP) / ("safetensors_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Writes an 8-byte length + header + data, with `declaredLen` as the length field.
std::string writeRaw(const fs::path& dir, const std::string& name, const std::string& header,
                     const std::string& data, std::uint64_t declaredLen) {
  const std::string path = (dir / name).string();
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((declaredLen >> (8 * i)) & 0xFF));
  out << header << data;
  return path;
}

std::string writeRaw(const fs::path& dir, const std::string& name, const std::string& header,
                     const std::string& data) {
  return writeRaw(dir, name, header, data, header.size());
}

// Expects readSafetensors(path) to throw with the file name and `word` in the message.
void expectFault(const std::string& path, const std::string& word) {
  try {
    readSafetensors(path);
    FAIL() << path << ": expected an error containing '" << word << "'";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(word), std::string::npos) << "missing '" << word << "' in: " << msg;
  }
}

}  // namespace

TEST(Models_Safetensors, RoundTripF32F16Bf16AndMetadata) {
  const fs::path dir = scratchDir("roundtrip");
  TensorFile f;
  f.metadata["flowstyle.arch"] = "vgg19";
  f.metadata["note"] = "quote \" backslash \\ newline \n unicode \xC3\xA9";
  f.tensors["a.weight"] = torch::arange(24, torch::kFloat32).reshape({2, 3, 4}) * 0.5f - 3.0f;
  f.tensors["b.half"] = torch::tensor({1.5f, -2.25f, 65504.0f}).to(torch::kFloat16);
  f.tensors["c.bf16"] = torch::tensor({0.5f, 3.0f}).to(torch::kBFloat16);
  f.tensors["d.i64"] = torch::tensor({std::int64_t(-7), std::int64_t(1) << 40});
  f.tensors["e.empty"] = torch::zeros({0, 5});
  // A non-contiguous input must be written as its logical values.
  f.tensors["f.transposed"] = torch::arange(6, torch::kFloat32).reshape({2, 3}).t();
  const std::string path = (dir / "rt.safetensors").string();
  writeSafetensors(path, f);

  // Header is padded so the data section starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  std::uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  EXPECT_EQ(len % 8, 0u);

  const TensorFile g = readSafetensors(path);
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (const auto& [name, t] : f.tensors) {
    const torch::Tensor& r = g.tensors.at(name);
    EXPECT_EQ(r.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(r.sizes(), t.sizes()) << name;
    EXPECT_TRUE(r.is_contiguous()) << name;
    EXPECT_TRUE(torch::equal(r, t)) << name;
  }
  EXPECT_FLOAT_EQ(g.tensors.at("b.half")[2].item<float>(), 65504.0f);
  EXPECT_FLOAT_EQ(g.tensors.at("f.transposed")[0][1].item<float>(), 3.0f);
  // No temporary files left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);

  const auto shapes = readSafetensorsShapes(path);
  EXPECT_EQ(shapes.at("a.weight"), (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(readSafetensorsMetadata(path).at("flowstyle.arch"), "vgg19");
}

TEST(Models_Safetensors, ReadsRealVgg19) {
  const std::string path = kShared + "/models/vgg19-caffe-conv1_1-conv5_1.safetensors";
  const TensorFile f = readSafetensors(path);
  EXPECT_EQ(f.metadata.at("flowstyle.preprocess"), "caffe_bgr");
  EXPECT_EQ(f.metadata.at("flowstyle.arch"), "vgg19");
  int weights = 0;
  for (const auto& [name, t] : f.tensors) {
    if (name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0) ++weights;
    EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
  }
  EXPECT_EQ(weights, 13);
  EXPECT_EQ(f.tensors.size(), 26u);
  EXPECT_EQ(f.tensors.at("features.19.weight").sizes(), (std::vector<std::int64_t>{512, 256, 3, 3}));
  EXPECT_EQ(f.tensors.at("features.28.bias").sizes(), (std::vector<std::int64_t>{512}));
  // Real trained weights: not all zero, sensible magnitude.
  const float absMean = f.tensors.at("features.0.weight").abs().mean().item<float>();
  EXPECT_GT(absMean, 1e-3f);
  EXPECT_LT(absMean, 10.0f);
  // The header-only readers agree.
  EXPECT_EQ(readSafetensorsShapes(path).size(), 26u);
  EXPECT_EQ(readSafetensorsMetadata(path), f.metadata);
}

TEST(Models_Safetensors, RejectsMalformedFiles) {
  const fs::path dir = scratchDir("malformed");
  const std::string data16(16, '\0');
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  // Sanity: the well-formed version reads.
  EXPECT_EQ(readSafetensors(writeRaw(dir, "ok.safetensors", ok, data16)).tensors.at("a").numel(), 4);

  {
    const std::string p = (dir / "empty.safetensors").string();
    std::ofstream(p, std::ios::binary).close();
    expectFault(p, "truncated");
  }
  expectFault(writeRaw(dir, "truncated.safetensors", ok, data16.substr(0, 10)), "exceed data section");
  expectFault(writeRaw(dir, "pastend.safetensors", ok, data16, ok.size() + 100), "past the end");
  expectFault(writeRaw(dir, "huge.safetensors", ok, data16, std::uint64_t(1) << 60), "header length");
  expectFault(writeRaw(dir, "badjson.safetensors", R"({"a":{"dtype":"F32",)", data16), "JSON");
  expectFault(writeRaw(dir, "notobject.safetensors", R"([1,2])", data16), "JSON");
  // Found by fuzz_safetensors: a number beyond a double's range (the JSON library's out_of_range).
  expectFault(writeRaw(dir, "bignumber.safetensors", R"({"a":{"data_dtype":4e4444}})", data16), "bad JSON header");
  expectFault(writeRaw(dir, "overlap.safetensors",
                       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       data16),
              "overlap");
  expectFault(writeRaw(dir, "range.safetensors",
                       R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", data16),
              "exceed data section");
  expectFault(writeRaw(dir, "dtype.safetensors",
                       R"({"a":{"dtype":"F7","shape":[4],"data_offsets":[0,16]}})", data16),
              "unknown dtype 'F7'");
  expectFault(writeRaw(dir, "mismatch.safetensors",
                       R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data16),
              "size mismatch");
  expectFault(writeRaw(dir, "hugeshape.safetensors",
                       R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})",
                       data16),
              "size mismatch");
  expectFault(writeRaw(dir, "negative.safetensors",
                       R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data16),
              "non-negative");
  expectFault(writeRaw(dir, "nooffsets.safetensors", R"({"a":{"dtype":"F32","shape":[4]}})", data16),
              "data_offsets");
  expectFault(writeRaw(dir, "metadata.safetensors", R"({"__metadata__":{"k":3}})", data16),
              "__metadata__");
  expectFault(writeRaw(dir, "duplicate.safetensors",
                       R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                       data16),
              "duplicate key 'a'");
  {
    // A header length within the file but above the 100 MB limit (sparse file, no disk use).
    const std::uint64_t len = 150'000'000;
    const std::string p = writeRaw(dir, "bigheader.safetensors", "{", "", len);
    fs::resize_file(p, len + 8);
    expectFault(p, "absurd");
    fs::remove(p);
  }
  expectFault((dir / "missing.safetensors").string(), "no such file");
  // The header-only readers validate too.
  EXPECT_THROW(readSafetensorsShapes(writeRaw(dir, "range2.safetensors",
                                              R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                              data16)),
               std::runtime_error);
}
