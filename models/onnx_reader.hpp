#pragma once
// Reading ONNX files (outside input): the initializers and the graph's nodes, through
// ONNX's own protobuf schema (Debian's libonnx-dev), for importers that check the graph
// is the architecture they expect and take its weights by name. Not an interpreter: no
// node is executed here. No Torch or protobuf type appears in this header.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace flowstyle::models {

// ONNX TensorProto.DataType values this reader accepts; any other is refused.
enum class OnnxDtype : int { Float = 1, Uint8 = 2, Int8 = 3, Int32 = 6, Int64 = 7 };

struct OnnxTensor {
  std::string name;
  OnnxDtype dtype = OnnxDtype::Float;
  std::vector<std::int64_t> dims;  // [] = a scalar
  std::vector<std::uint8_t> bytes;  // little-endian, element count x element size, checked

  std::int64_t numel() const;
  // Every element converted (int8/uint8/int32/int64 exactly where float can hold them).
  std::vector<float> toFloat() const;
  // float32 values truncated; throws std::runtime_error for NaN, Inf or values past int64.
  std::vector<std::int64_t> toInt64() const;
};

struct OnnxAttribute {
  enum class Kind { Float, Int, String, Tensor, Floats, Ints, Strings, Other };
  Kind kind = Kind::Other;
  float f = 0;
  std::int64_t i = 0;
  std::string s;
  std::vector<OnnxTensor> tensors;  // Kind::Tensor: exactly one
  std::vector<float> floats;
  std::vector<std::int64_t> ints;
  std::vector<std::string> strings;
};

struct OnnxNode {
  std::string name;
  std::string opType;
  std::string domain;
  std::vector<std::string> inputs;   // "" = an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, OnnxAttribute> attributes;
};

struct OnnxValueInfo {
  std::string name;
  int elemType = 0;
  std::vector<std::int64_t> dims;  // -1 for a symbolic or unknown dimension
};

struct OnnxModel {
  std::string path;
  std::int64_t irVersion = 0;
  std::vector<std::pair<std::string, std::int64_t>> opsets;  // (domain, version)
  std::vector<OnnxValueInfo> inputs;   // graph inputs that are not initializers
  std::vector<OnnxValueInfo> outputs;
  std::vector<OnnxNode> nodes;         // in the file's (topological) order
  std::map<std::string, OnnxTensor> initializers;
};

constexpr std::uintmax_t kOnnxMaxFileBytes = std::uintmax_t{256} << 20;

// Throws std::runtime_error "PATH: fault" for: a missing/unreadable file, one larger than
// maxBytes (checked before reading), bytes that are not a ModelProto (protobuf's size and
// recursion limits apply), a model without a graph, external or segmented tensor data,
// a dtype outside OnnxDtype, a negative dimension, a data size that does not match the
// shape ("initializer 'X' has 12 bytes, expected 16 for shape [2,2]"), a duplicate
// initializer name, subgraph attributes.
OnnxModel readOnnx(const std::string& path, std::uintmax_t maxBytes = kOnnxMaxFileBytes);
// The same on bytes in memory; `name` stands for the path in messages.
OnnxModel parseOnnx(const std::string& bytes, const std::string& name);

// Which node produces each value, and which nodes read it (graph order).
std::map<std::string, const OnnxNode*> onnxProducers(const OnnxModel& model);
std::map<std::string, std::vector<const OnnxNode*>> onnxConsumers(const OnnxModel& model);

std::string onnxShapeText(const std::vector<std::int64_t>& dims);

}  // namespace flowstyle::models
