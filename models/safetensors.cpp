#include "models/safetensors.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host (the file format is little-endian)"
#endif

namespace flowstyle::models {
namespace {

namespace fs = std::filesystem;

// The reference implementation refuses headers above 100 MB.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// ---------------------------------------------------------------------------
using Json = nlohmann::ordered_json;  // members in file order

const char* typeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    default: return "a number";
  }
}

// The header as JSON (nlohmann), with what the format needs on top: nesting at most
// kMaxDepth deep and no key twice in an object. `text` is already bounded (kMaxHeaderBytes).
Json parseJson(const std::string& path, const std::string& text) {
  constexpr int kMaxDepth = 64;
  std::vector<std::unordered_set<std::string>> keys;  // per open object
  const Json::parser_callback_t check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxDepth) fail(path, "bad JSON header: nested deeper than " + std::to_string(kMaxDepth));
        if (event == Json::parse_event_t::object_start) keys.emplace_back();
        break;
      case Json::parse_event_t::object_end: keys.pop_back(); break;
      case Json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!keys.back().insert(key).second) fail(path, "bad JSON header: duplicate key '" + key + "'");
        break;
      }
      default: break;
    }
    return true;
  };
  try {
    return Json::parse(text, check);
  } catch (const Json::parse_error& e) {
    fail(path, "bad JSON header at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const Json::exception& e) {  // e.g. out_of_range: a number too large for a double
    fail(path, std::string("bad JSON header: ") + e.what());
  }
}

// ---------------------------------------------------------------------------
struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  std::size_t bytes;
};

constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
    {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtypeByName(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* dtypeByType(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return &d;
  return nullptr;
}

std::string knownDtypes() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

struct Entry {
  std::string name;
  const DtypeInfo* dtype = nullptr;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;
};

struct Header {
  std::map<std::string, std::string> metadata;
  std::vector<Entry> entries;  // in file (header) order
  std::uint64_t dataStart = 0;  // 8 + header length
  std::uint64_t dataSize = 0;
};

// A non-negative JSON integer that fits in uint64, else nullopt-like false.
bool toUint64(const Json& v, std::uint64_t& out) {
  if (!v.is_number_unsigned()) return false;  // larger ones parse as floating point
  out = v.get<std::uint64_t>();
  return true;
}

std::uint64_t fileSizeOf(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) fail(path, "no such file");
  if (fs::is_directory(st)) fail(path, "is a folder, expected a .safetensors file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot read the file size (" + ec.message() + ")");
  return size;
}

void readExact(std::ifstream& in, const std::string& path, char* dst, std::uint64_t n,
               const std::string& what) {
  in.read(dst, static_cast<std::streamsize>(n));
  if (!in || static_cast<std::uint64_t>(in.gcount()) != n)
    fail(path, "read error in " + what + " (file truncated or unreadable?)");
}

Header parseHeader(const std::string& path, std::ifstream& in) {
  const std::uint64_t fileSize = fileSizeOf(path);
  in.open(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  if (fileSize < 8)
    fail(path, "file truncated: " + std::to_string(fileSize) +
                   " bytes, a safetensors file starts with an 8-byte header length");
  unsigned char lenBytes[8];
  readExact(in, path, reinterpret_cast<char*>(lenBytes), 8, "the header length");
  std::uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | lenBytes[i];
  if (headerLen > fileSize - 8)
    fail(path, "header length " + std::to_string(headerLen) + " bytes runs past the end of the file (" +
                   std::to_string(fileSize) + " bytes) — file truncated or not a safetensors file?");
  if (headerLen > kMaxHeaderBytes)
    fail(path, "header length " + std::to_string(headerLen) + " bytes is absurd (limit " +
                   std::to_string(kMaxHeaderBytes) + ") — not a safetensors file?");
  if (headerLen < 2) fail(path, "header too short (" + std::to_string(headerLen) + " bytes): bad JSON");
  std::string text(static_cast<std::size_t>(headerLen), '\0');
  readExact(in, path, text.data(), headerLen, "the header");
  if (text[0] != '{') fail(path, "bad JSON header: does not start with '{' — not a safetensors file?");

  const Json root = parseJson(path, text);
  if (!root.is_object()) fail(path, "bad JSON header: not an object");

  Header h;
  h.dataStart = 8 + headerLen;
  h.dataSize = fileSize - h.dataStart;
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey) {
      if (value.is_null()) continue;
      if (!value.is_object())
        fail(path, std::string("__metadata__ is ") + typeName(value) + ", expected an object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) fail(path, "__metadata__ '" + k + "' is " + typeName(v) + ", expected a string");
        h.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!value.is_object()) fail(path, where + " is " + typeName(value) + ", expected an object");
    const Json& entry = value;  // a named reference: C++17 lambdas cannot capture a structured binding
    const auto member = [&entry](const char* key) -> const Json* {
      const auto it = entry.find(key);
      return it == entry.end() ? nullptr : &*it;
    };
    const Json* dtype = member("dtype");
    const Json* shape = member("shape");
    const Json* offsets = member("data_offsets");
    if (!dtype) fail(path, where + " has no dtype");
    if (!shape) fail(path, where + " has no shape");
    if (!offsets) fail(path, where + " has no data_offsets");
    Entry e;
    e.name = name;
    if (!dtype->is_string()) fail(path, where + ": dtype is not a string");
    const std::string& dtypeName = dtype->get_ref<const std::string&>();
    e.dtype = dtypeByName(dtypeName);
    if (!e.dtype)
      fail(path, where + " has unknown dtype '" + dtypeName + "' (supported: " + knownDtypes() + ")");
    if (!shape->is_array()) fail(path, where + ": shape is not an array");
    // The element count is bounded by the data section, so a huge shape is caught
    // without overflow: stop multiplying once it exceeds what the file could hold.
    std::uint64_t count = 1;
    bool tooBig = false;
    for (const Json& d : *shape) {
      std::uint64_t dim = 0;
      if (!toUint64(d, dim) || dim > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        fail(path, where + ": shape dimension " + d.dump() + " is not a non-negative integer");
      e.shape.push_back(static_cast<std::int64_t>(dim));
      if (dim == 0) {
        count = 0;
      } else if (!tooBig && count != 0) {
        if (count > h.dataSize / dim) tooBig = true;
        else count *= dim;
      }
    }
    if (count == 0) tooBig = false;
    if (!offsets->is_array() || offsets->size() != 2 || !toUint64((*offsets)[0], e.begin) ||
        !toUint64((*offsets)[1], e.end))
      fail(path, where + ": data_offsets must be [begin, end] with non-negative integers");
    if (e.end < e.begin)
      fail(path, where + " data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") end before begin");
    if (e.end > h.dataSize)
      fail(path, where + " data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") exceed data section (" + std::to_string(h.dataSize) +
                     " bytes) — file truncated?");
    const std::uint64_t span = e.end - e.begin;
    if (tooBig || count > span / e.dtype->bytes || count * e.dtype->bytes != span)
      fail(path, where + " size mismatch: shape " + shapeText(e.shape) + " of " + e.dtype->name +
                     (tooBig ? " is larger than the file"
                             : " needs " + std::to_string(count * e.dtype->bytes) + " bytes") +
                     ", data_offsets span " + std::to_string(span) + " bytes");
    h.entries.push_back(std::move(e));
  }

  std::vector<const Entry*> sorted;
  for (const auto& e : h.entries)
    if (e.end > e.begin) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const Entry& a = *sorted[i - 1];
    const Entry& b = *sorted[i];
    if (b.begin < a.end)
      fail(path, "tensors '" + a.name + "' [" + std::to_string(a.begin) + ", " + std::to_string(a.end) +
                     ") and '" + b.name + "' [" + std::to_string(b.begin) + ", " + std::to_string(b.end) +
                     ") overlap");
  }
  return h;
}

}  // namespace

TensorFile readSafetensors(const std::string& path) {
  std::ifstream in;
  const Header h = parseHeader(path, in);
  TensorFile file;
  file.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    // Owning tensor; its size was checked against the file above, so never more than
    // the file's size is allocated in all.
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    const std::uint64_t n = e.end - e.begin;
    if (n > 0) {
      in.seekg(static_cast<std::streamoff>(h.dataStart + e.begin));
      readExact(in, path, static_cast<char*>(t.data_ptr()), n, "tensor '" + e.name + "'");
    }
    file.tensors.emplace(e.name, std::move(t));
  }
  return file;
}

std::map<std::string, std::string> readSafetensorsMetadata(const std::string& path) {
  std::ifstream in;
  return parseHeader(path, in).metadata;
}

std::map<std::string, std::vector<std::int64_t>> readSafetensorsShapes(const std::string& path) {
  std::ifstream in;
  const Header h = parseHeader(path, in);
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (const Entry& e : h.entries) shapes.emplace(e.name, e.shape);
  return shapes;
}

void writeSafetensors(const std::string& path, const TensorFile& file) {
  std::vector<torch::Tensor> data;
  // Members in this order (ordered_json): "__metadata__" first, then the tensors by name.
  Json header = Json::object();
  if (!file.metadata.empty()) {
    Json& metadata = header[kMetadataKey] = Json::object();
    for (const auto& [k, v] : file.metadata) metadata[k] = v;
  }
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    if (name == kMetadataKey) fail(path, "a tensor cannot be named __metadata__");
    if (!tensor.defined()) fail(path, "tensor '" + name + "' is undefined");
    const DtypeInfo* d = dtypeByType(tensor.scalar_type());
    if (!d)
      fail(path, "tensor '" + name + "' has dtype " + std::string(c10::toString(tensor.scalar_type())) +
                     ", which safetensors writing does not support (supported: " + knownDtypes() + ")");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const std::uint64_t n = static_cast<std::uint64_t>(t.numel()) * d->bytes;
    header[name] = {{"dtype", d->name},
                    {"shape", std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end())},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    data.push_back(std::move(t));
  }
  std::string text;
  try {
    text = header.dump();  // compact, UTF-8 as is
  } catch (const Json::type_error& e) {  // 316: a name or metadata value that is not UTF-8
    fail(path, std::string("cannot write the header: a tensor name or metadata value is not UTF-8 (") + e.what() +
                   ")");
  }
  // Pad with spaces so the data section starts 8-byte aligned (as the reference does).
  text.append((8 - text.size() % 8) % 8, ' ');

  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  static std::atomic<unsigned> counter{0};
  const fs::path tmp =
      dir / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++));
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail(path, "cannot create " + tmp.string() + " (" + std::strerror(errno) + ")");
  bool ok = true;
  unsigned char lenBytes[8];
  std::uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) lenBytes[i] = static_cast<unsigned char>((len >> (8 * i)) & 0xFF);
  ok = ok && std::fwrite(lenBytes, 1, 8, f) == 8;
  ok = ok && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const torch::Tensor& t : data) {
    const std::size_t n = static_cast<std::size_t>(t.numel()) * t.element_size();
    if (n > 0) ok = ok && std::fwrite(t.data_ptr(), 1, n, f) == n;
  }
  ok = ok && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const int savedErrno = errno;
  ok = (std::fclose(f) == 0) && ok;
  std::error_code ec;
  if (!ok) {
    fs::remove(tmp, ec);
    fail(path, std::string("write failed (") + std::strerror(savedErrno ? savedErrno : errno) +
                   ") — disk full or read-only folder?");
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    fail(path, "cannot rename the temporary file into place (" + ec.message() + ")");
  }
}

}  // namespace flowstyle::models
