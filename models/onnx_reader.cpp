#include "models/onnx_reader.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace flowstyle::models {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw std::runtime_error(name + ": " + what);
}

bool knownDtype(int t) {
  return t == static_cast<int>(OnnxDtype::Float) || t == static_cast<int>(OnnxDtype::Uint8) ||
         t == static_cast<int>(OnnxDtype::Int8) || t == static_cast<int>(OnnxDtype::Int32) ||
         t == static_cast<int>(OnnxDtype::Int64);
}

std::size_t elementSize(OnnxDtype t) {
  switch (t) {
    case OnnxDtype::Float: return 4;
    case OnnxDtype::Uint8: return 1;
    case OnnxDtype::Int8: return 1;
    case OnnxDtype::Int32: return 4;
    case OnnxDtype::Int64: return 8;
  }
  return 0;
}

const char* dtypeName(int t) {
  switch (t) {
    case 1: return "float32";
    case 2: return "uint8";
    case 3: return "int8";
    case 4: return "uint16";
    case 5: return "int16";
    case 6: return "int32";
    case 7: return "int64";
    case 8: return "string";
    case 9: return "bool";
    case 10: return "float16";
    case 11: return "float64";
    case 12: return "uint32";
    case 13: return "uint64";
    case 16: return "bfloat16";
    default: return "unknown";
  }
}

template <class T>
void appendLe(std::vector<std::uint8_t>& out, T v) {
  std::uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  out.insert(out.end(), b, b + sizeof(T));
}

// what: "initializer 'X'" or "attribute 'value' of node 'N'".
OnnxTensor convertTensor(const onnx::TensorProto& p, const std::string& file, const std::string& what) {
  OnnxTensor t;
  t.name = p.name();
  if (p.data_location() == onnx::TensorProto::EXTERNAL || p.external_data_size() > 0)
    fail(file, what + " keeps its data in an external file, which is not supported");
  if (p.has_segment()) fail(file, what + " is segmented, which is not supported");
  if (!knownDtype(p.data_type()))
    fail(file, what + " has dtype " + dtypeName(p.data_type()) + " (" + std::to_string(p.data_type()) +
                   "); expected float32, uint8, int8, int32 or int64");
  t.dtype = static_cast<OnnxDtype>(p.data_type());
  std::int64_t count = 1;
  for (const std::int64_t d : p.dims()) {
    if (d < 0) fail(file, what + " has a negative dimension in shape " + onnxShapeText({p.dims().begin(), p.dims().end()}));
    if (d != 0 && count > std::numeric_limits<std::int64_t>::max() / 16 / d)
      fail(file, what + " has an absurd shape " + onnxShapeText({p.dims().begin(), p.dims().end()}));
    count *= d;
    t.dims.push_back(d);
  }
  const std::size_t esize = elementSize(t.dtype);
  const std::uint64_t expected = static_cast<std::uint64_t>(count) * esize;
  const auto mismatch = [&](std::uint64_t got, const char* unit) {
    const bool inBytes = std::strcmp(unit, "bytes") == 0;
    fail(file, what + " has " + std::to_string(got) + " " + unit + ", expected " +
                   std::to_string(inBytes ? expected : static_cast<std::uint64_t>(count)) + " for shape " +
                   onnxShapeText(t.dims));
  };
  if (p.has_raw_data()) {
    const std::string& raw = p.raw_data();
    if (raw.size() != expected) mismatch(raw.size(), "bytes");
    t.bytes.assign(raw.begin(), raw.end());
    return t;
  }
  // The value count is checked against the shape before anything is reserved: the shape alone
  // is outside input and may claim terabytes.
  const int values = t.dtype == OnnxDtype::Float   ? p.float_data_size()
                     : t.dtype == OnnxDtype::Int64 ? p.int64_data_size()
                                                   : p.int32_data_size();
  if (static_cast<std::uint64_t>(values) != static_cast<std::uint64_t>(count))
    mismatch(static_cast<std::uint64_t>(values), "values");
  t.bytes.reserve(expected);
  switch (t.dtype) {
    case OnnxDtype::Float:
      for (const float v : p.float_data()) appendLe(t.bytes, v);
      break;
    case OnnxDtype::Uint8:
    case OnnxDtype::Int8:
    case OnnxDtype::Int32:
      for (const std::int32_t v : p.int32_data()) {
        if (t.dtype == OnnxDtype::Int32) {
          appendLe(t.bytes, v);
        } else {
          const bool ok = t.dtype == OnnxDtype::Int8 ? (v >= -128 && v <= 127) : (v >= 0 && v <= 255);
          if (!ok) fail(file, what + " holds " + std::to_string(v) + ", outside its dtype " + dtypeName(p.data_type()));
          t.bytes.push_back(static_cast<std::uint8_t>(v));
        }
      }
      break;
    case OnnxDtype::Int64:
      for (const std::int64_t v : p.int64_data()) appendLe(t.bytes, v);
      break;
  }
  return t;
}

OnnxValueInfo convertValueInfo(const onnx::ValueInfoProto& p) {
  OnnxValueInfo v;
  v.name = p.name();
  if (p.type().has_tensor_type()) {
    const auto& tt = p.type().tensor_type();
    v.elemType = tt.elem_type();
    for (const auto& d : tt.shape().dim()) v.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return v;
}

OnnxNode convertNode(const onnx::NodeProto& p, const std::string& file) {
  OnnxNode n;
  n.name = p.name();
  n.opType = p.op_type();
  n.domain = p.domain();
  n.inputs.assign(p.input().begin(), p.input().end());
  n.outputs.assign(p.output().begin(), p.output().end());
  const std::string who = "node '" + (n.name.empty() ? n.opType : n.name) + "'";
  for (const onnx::AttributeProto& a : p.attribute()) {
    OnnxAttribute out;
    switch (a.type()) {
      case onnx::AttributeProto::FLOAT: out.kind = OnnxAttribute::Kind::Float; out.f = a.f(); break;
      case onnx::AttributeProto::INT: out.kind = OnnxAttribute::Kind::Int; out.i = a.i(); break;
      case onnx::AttributeProto::STRING: out.kind = OnnxAttribute::Kind::String; out.s = a.s(); break;
      case onnx::AttributeProto::TENSOR:
        out.kind = OnnxAttribute::Kind::Tensor;
        out.tensors.push_back(convertTensor(a.t(), file, "attribute '" + a.name() + "' of " + who));
        break;
      case onnx::AttributeProto::FLOATS:
        out.kind = OnnxAttribute::Kind::Floats;
        out.floats.assign(a.floats().begin(), a.floats().end());
        break;
      case onnx::AttributeProto::INTS:
        out.kind = OnnxAttribute::Kind::Ints;
        out.ints.assign(a.ints().begin(), a.ints().end());
        break;
      case onnx::AttributeProto::STRINGS:
        out.kind = OnnxAttribute::Kind::Strings;
        out.strings.assign(a.strings().begin(), a.strings().end());
        break;
      case onnx::AttributeProto::GRAPH:
      case onnx::AttributeProto::GRAPHS:
        fail(file, "attribute '" + a.name() + "' of " + who + " is a subgraph, which is not supported");
      default:
        out.kind = OnnxAttribute::Kind::Other;
        break;
    }
    if (!n.attributes.emplace(a.name(), std::move(out)).second)
      fail(file, who + " has attribute '" + a.name() + "' twice");
  }
  return n;
}

}  // namespace

std::int64_t OnnxTensor::numel() const {
  std::int64_t n = 1;
  for (const std::int64_t d : dims) n *= d;
  return n;
}

std::vector<float> OnnxTensor::toFloat() const {
  const std::int64_t n = numel();
  std::vector<float> out(static_cast<std::size_t>(n));
  const std::uint8_t* p = bytes.data();
  for (std::int64_t k = 0; k < n; ++k) {
    switch (dtype) {
      case OnnxDtype::Float: std::memcpy(&out[k], p + 4 * k, 4); break;
      case OnnxDtype::Uint8: out[k] = static_cast<float>(p[k]); break;
      case OnnxDtype::Int8: out[k] = static_cast<float>(static_cast<std::int8_t>(p[k])); break;
      case OnnxDtype::Int32: {
        std::int32_t v;
        std::memcpy(&v, p + 4 * k, 4);
        out[k] = static_cast<float>(v);
        break;
      }
      case OnnxDtype::Int64: {
        std::int64_t v;
        std::memcpy(&v, p + 8 * k, 8);
        out[k] = static_cast<float>(v);
        break;
      }
    }
  }
  return out;
}

std::vector<std::int64_t> OnnxTensor::toInt64() const {
  if (dtype == OnnxDtype::Float) {
    std::vector<std::int64_t> out;
    for (const float f : toFloat()) {
      if (!(f >= -9.2e18f && f <= 9.2e18f))  // NaN, Inf or past int64: no integer to give
        throw std::runtime_error("tensor '" + name + "' holds " + std::to_string(f) + ", not an integer");
      out.push_back(static_cast<std::int64_t>(f));
    }
    return out;
  }
  const std::int64_t n = numel();
  std::vector<std::int64_t> out(static_cast<std::size_t>(n));
  const std::uint8_t* p = bytes.data();
  for (std::int64_t k = 0; k < n; ++k) {
    switch (dtype) {
      case OnnxDtype::Uint8: out[k] = p[k]; break;
      case OnnxDtype::Int8: out[k] = static_cast<std::int8_t>(p[k]); break;
      case OnnxDtype::Int32: {
        std::int32_t v;
        std::memcpy(&v, p + 4 * k, 4);
        out[k] = v;
        break;
      }
      default: std::memcpy(&out[k], p + 8 * k, 8); break;
    }
  }
  return out;
}

std::string onnxShapeText(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

OnnxModel parseOnnx(const std::string& bytes, const std::string& name) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    fail(name, "too large for an ONNX model (" + std::to_string(bytes.size()) + " bytes)");
  onnx::ModelProto proto;
  {
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(static_cast<int>(bytes.size()));
    in.SetRecursionLimit(64);
    if (!proto.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
      fail(name, "not an ONNX model (the protobuf ModelProto does not parse)");
  }
  if (!proto.has_graph()) fail(name, "ONNX model without a graph");
  OnnxModel m;
  m.path = name;
  m.irVersion = proto.ir_version();
  for (const auto& o : proto.opset_import()) m.opsets.emplace_back(o.domain(), o.version());
  const onnx::GraphProto& g = proto.graph();
  for (const onnx::TensorProto& t : g.initializer()) {
    OnnxTensor tensor = convertTensor(t, name, "initializer '" + t.name() + "'");
    if (tensor.name.empty()) fail(name, "an initializer has no name");
    if (m.initializers.count(tensor.name)) fail(name, "initializer '" + tensor.name + "' appears twice");
    m.initializers.emplace(tensor.name, std::move(tensor));
  }
  if (g.sparse_initializer_size() > 0) fail(name, "sparse initializers are not supported");
  for (const auto& v : g.input())
    if (!m.initializers.count(v.name())) m.inputs.push_back(convertValueInfo(v));
  for (const auto& v : g.output()) m.outputs.push_back(convertValueInfo(v));
  m.nodes.reserve(static_cast<std::size_t>(g.node_size()));
  for (const onnx::NodeProto& n : g.node()) m.nodes.push_back(convertNode(n, name));
  return m;
}

OnnxModel readOnnx(const std::string& path, std::uintmax_t maxBytes) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail(path, "no such file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read the file size (" + ec.message() + ")");
  if (size > maxBytes)
    fail(path, "file is " + std::to_string(size) + " bytes, more than the " + std::to_string(maxBytes) +
                   " an ONNX model may have here");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the file");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  if (size > 0 && !in.read(bytes.data(), static_cast<std::streamsize>(size)))
    fail(path, "cannot read the file");
  return parseOnnx(bytes, path);
}

std::map<std::string, const OnnxNode*> onnxProducers(const OnnxModel& model) {
  std::map<std::string, const OnnxNode*> out;
  for (const OnnxNode& n : model.nodes)
    for (const std::string& o : n.outputs)
      if (!o.empty()) out[o] = &n;
  return out;
}

std::map<std::string, std::vector<const OnnxNode*>> onnxConsumers(const OnnxModel& model) {
  std::map<std::string, std::vector<const OnnxNode*>> out;
  for (const OnnxNode& n : model.nodes)
    for (const std::string& i : n.inputs)
      if (!i.empty()) out[i].push_back(&n);
  return out;
}

}  // namespace flowstyle::models
