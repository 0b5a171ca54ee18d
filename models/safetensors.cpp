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
// A small JSON reader: enough for safetensors headers (objects, arrays, strings,
// integers; floats/bools/null parsed and kept as text so they can be rejected by name).
struct JsonValue {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  std::string text;  // String: decoded value; Number: literal text; Bool: "true"/"false"
  std::vector<JsonValue> items;                            // Array
  std::vector<std::pair<std::string, JsonValue>> members;  // Object, in file order
};

const char* typeName(JsonValue::Type t) {
  switch (t) {
    case JsonValue::Type::Null: return "null";
    case JsonValue::Type::Bool: return "a boolean";
    case JsonValue::Type::Number: return "a number";
    case JsonValue::Type::String: return "a string";
    case JsonValue::Type::Array: return "an array";
    case JsonValue::Type::Object: return "an object";
  }
  return "?";
}

class JsonParser {
 public:
  JsonParser(const std::string& path, const std::string& text) : path_(path), s_(text) {}

  JsonValue parseDocument() {
    skipSpace();
    JsonValue v = parseValue(0);
    skipSpace();
    if (pos_ != s_.size()) error("unexpected '" + std::string(1, s_[pos_]) + "' after the JSON object");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 64;

  [[noreturn]] void error(const std::string& what) const {
    fail(path_, "bad JSON header at byte " + std::to_string(pos_) + ": " + what);
  }
  void skipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }
  char peek() const {
    if (pos_ >= s_.size()) {
      fail(path_, "bad JSON header at byte " + std::to_string(pos_) + ": unexpected end");
    }
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "', found '" + s_[pos_] + "'");
    ++pos_;
  }

  JsonValue parseValue(int depth) {
    if (depth > kMaxDepth) error("nested too deeply");
    const char c = peek();
    if (c == '{') return parseObject(depth);
    if (c == '[') return parseArray(depth);
    if (c == '"') {
      JsonValue v;
      v.type = JsonValue::Type::String;
      v.text = parseString();
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parseNumber();
    for (const char* word : {"true", "false", "null"}) {
      const std::size_t n = std::strlen(word);
      if (s_.compare(pos_, n, word) == 0) {
        pos_ += n;
        JsonValue v;
        v.type = word[0] == 'n' ? JsonValue::Type::Null : JsonValue::Type::Bool;
        v.text = word;
        return v;
      }
    }
    error(std::string("unexpected character '") + c + "'");
  }

  JsonValue parseObject(int depth) {
    JsonValue v;
    v.type = JsonValue::Type::Object;
    std::unordered_set<std::string> keys;
    expect('{');
    skipSpace();
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      skipSpace();
      if (peek() != '"') error("expected a string key");
      std::string key = parseString();
      if (!keys.insert(key).second) error("duplicate key '" + key + "'");
      skipSpace();
      expect(':');
      skipSpace();
      v.members.emplace_back(std::move(key), parseValue(depth + 1));
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  JsonValue parseArray(int depth) {
    JsonValue v;
    v.type = JsonValue::Type::Array;
    expect('[');
    skipSpace();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      skipSpace();
      v.items.push_back(parseValue(depth + 1));
      skipSpace();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  JsonValue parseNumber() {
    const std::size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const std::size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (digits() == 0) error("malformed number");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) error("malformed number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) error("malformed number");
    }
    JsonValue v;
    v.type = JsonValue::Type::Number;
    v.text = s_.substr(start, pos_ - start);
    return v;
  }

  unsigned hex4() {
    if (pos_ + 4 > s_.size()) error("truncated \\u escape");
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      u <<= 4;
      if (h >= '0' && h <= '9') u |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') u |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') u |= unsigned(h - 'A' + 10);
      else error("bad \\u escape");
    }
    return u;
  }

  static void appendUtf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string parseString() {
    expect('"');
    std::string out;
    for (;;) {
      const char c = peek();
      ++pos_;
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.compare(pos_, 2, "\\u") != 0) error("unpaired surrogate");
            pos_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            error("unpaired surrogate");
          }
          appendUtf8(out, cp);
          break;
        }
        default: error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  const std::string& path_;
  const std::string& s_;
  std::size_t pos_ = 0;
};

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
bool toUint64(const JsonValue& v, std::uint64_t& out) {
  if (v.type != JsonValue::Type::Number) return false;
  const std::string& t = v.text;
  if (t.empty() || t[0] == '-' || t.find_first_of(".eE") != std::string::npos) return false;
  std::uint64_t r = 0;
  for (char c : t) {
    const std::uint64_t d = std::uint64_t(c - '0');
    if (r > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
    r = r * 10 + d;
  }
  out = r;
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

  const JsonValue root = JsonParser(path, text).parseDocument();
  if (root.type != JsonValue::Type::Object) fail(path, "bad JSON header: not an object");

  Header h;
  h.dataStart = 8 + headerLen;
  h.dataSize = fileSize - h.dataStart;
  for (const auto& [name, value] : root.members) {
    if (name == kMetadataKey) {
      if (value.type == JsonValue::Type::Null) continue;
      if (value.type != JsonValue::Type::Object)
        fail(path, std::string("__metadata__ is ") + typeName(value.type) + ", expected an object");
      for (const auto& [k, v] : value.members) {
        if (v.type != JsonValue::Type::String)
          fail(path, "__metadata__ '" + k + "' is " + typeName(v.type) + ", expected a string");
        h.metadata[k] = v.text;
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (value.type != JsonValue::Type::Object)
      fail(path, where + " is " + typeName(value.type) + ", expected an object");
    const JsonValue* dtype = nullptr;
    const JsonValue* shape = nullptr;
    const JsonValue* offsets = nullptr;
    for (const auto& [k, v] : value.members) {
      if (k == "dtype") dtype = &v;
      else if (k == "shape") shape = &v;
      else if (k == "data_offsets") offsets = &v;
    }
    if (!dtype) fail(path, where + " has no dtype");
    if (!shape) fail(path, where + " has no shape");
    if (!offsets) fail(path, where + " has no data_offsets");
    Entry e;
    e.name = name;
    if (dtype->type != JsonValue::Type::String) fail(path, where + ": dtype is not a string");
    e.dtype = dtypeByName(dtype->text);
    if (!e.dtype)
      fail(path, where + " has unknown dtype '" + dtype->text + "' (supported: " + knownDtypes() + ")");
    if (shape->type != JsonValue::Type::Array) fail(path, where + ": shape is not an array");
    // The element count is bounded by the data section, so a huge shape is caught
    // without overflow: stop multiplying once it exceeds what the file could hold.
    std::uint64_t count = 1;
    bool tooBig = false;
    for (const auto& d : shape->items) {
      std::uint64_t dim = 0;
      if (!toUint64(d, dim) || dim > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        fail(path, where + ": shape dimension '" + d.text + "' is not a non-negative integer");
      e.shape.push_back(static_cast<std::int64_t>(dim));
      if (dim == 0) {
        count = 0;
      } else if (!tooBig && count != 0) {
        if (count > h.dataSize / dim) tooBig = true;
        else count *= dim;
      }
    }
    if (count == 0) tooBig = false;
    if (offsets->type != JsonValue::Type::Array || offsets->items.size() != 2 ||
        !toUint64(offsets->items[0], e.begin) || !toUint64(offsets->items[1], e.end))
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

std::string jsonEscape(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
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
  std::string header = "{";
  bool first = true;
  if (!file.metadata.empty()) {
    header += "\"__metadata__\":{";
    for (const auto& [k, v] : file.metadata) {
      if (!first) header += ",";
      first = false;
      header += jsonEscape(k) + ":" + jsonEscape(v);
    }
    header += "}";
    first = false;
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
    std::vector<std::int64_t> shape(t.sizes().begin(), t.sizes().end());
    if (!first) header += ",";
    first = false;
    header += jsonEscape(name) + ":{\"dtype\":\"" + d->name + "\",\"shape\":" + shapeText(shape) +
              ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
    data.push_back(std::move(t));
  }
  header += "}";
  // Pad with spaces so the data section starts 8-byte aligned (as the reference does).
  header.append((8 - header.size() % 8) % 8, ' ');

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
  std::uint64_t len = header.size();
  for (int i = 0; i < 8; ++i) lenBytes[i] = static_cast<unsigned char>((len >> (8 * i)) & 0xFF);
  ok = ok && std::fwrite(lenBytes, 1, 8, f) == 8;
  ok = ok && std::fwrite(header.data(), 1, header.size(), f) == header.size();
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
