#include "models/torch_reader.hpp"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace flowstyle::models {
namespace {

// Limits. A state_dict of a few hundred tensors needs a few thousand objects; these are
// far above any real file and far below what could exhaust memory or the C++ stack.
constexpr std::size_t kMaxDepth = 64;           // container nesting
constexpr std::size_t kMaxStack = 100000;       // pickle stack entries
constexpr std::size_t kMaxMemo = 1000000;       // memo entries
constexpr std::size_t kMaxObjects = 4000000;    // values created by one pickle
constexpr std::size_t kMaxString = 1 << 20;     // one string's bytes
constexpr std::size_t kMaxDims = 16;            // tensor rank
constexpr std::uint64_t kMaxFileBytes = 1ull << 33;  // 8 GiB

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw std::runtime_error(name + ": " + what);
}

// ---- values -------------------------------------------------------------------------

enum class StorageType { Float, Double, Half, BFloat16, Long, Int, Short, Char, Byte, Bool };

struct StorageTypeInfo {
  const char* name;
  StorageType type;
  torch::ScalarType dtype;
  std::size_t bytes;
};

constexpr StorageTypeInfo kStorageTypes[] = {
    {"FloatStorage", StorageType::Float, torch::kFloat32, 4},
    {"DoubleStorage", StorageType::Double, torch::kFloat64, 8},
    {"HalfStorage", StorageType::Half, torch::kFloat16, 2},
    {"BFloat16Storage", StorageType::BFloat16, torch::kBFloat16, 2},
    {"LongStorage", StorageType::Long, torch::kInt64, 8},
    {"IntStorage", StorageType::Int, torch::kInt32, 4},
    {"ShortStorage", StorageType::Short, torch::kInt16, 2},
    {"CharStorage", StorageType::Char, torch::kInt8, 1},
    {"ByteStorage", StorageType::Byte, torch::kUInt8, 1},
    {"BoolStorage", StorageType::Bool, torch::kBool, 1},
};

enum class Global { OrderedDict, RebuildTensorV2, RebuildParameter, Storage };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct StorageRef {
  std::string key;
  const StorageTypeInfo* type = nullptr;
  std::int64_t numel = 0;
};

struct TensorRef {
  StorageRef storage;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes, strides;
};

struct Value {
  enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<ValuePtr> items;                        // Tuple, List
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;    // Dict (insertion order)
  Global global = Global::OrderedDict;
  const StorageTypeInfo* storageType = nullptr;       // Global::Storage
  StorageRef storage;
  TensorRef tensor;
  std::size_t height = 0;  // nesting below this value
  bool frozen = false;     // inside another container: no longer mutable (no cycles)
};

const char* kindName(Value::Kind k) {
  switch (k) {
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::Str: return "str";
    case Value::Kind::Tuple: return "tuple";
    case Value::Kind::List: return "list";
    case Value::Kind::Dict: return "dict";
    case Value::Kind::Global: return "global";
    case Value::Kind::Storage: return "storage";
    case Value::Kind::Tensor: return "tensor";
  }
  return "?";
}

// The names of every standard pickle opcode, for the error message on the refused ones.
const char* opcodeName(std::uint8_t op) {
  switch (op) {
    case '(': return "MARK"; case '.': return "STOP"; case '0': return "POP";
    case '1': return "POP_MARK"; case '2': return "DUP"; case 'F': return "FLOAT";
    case 'I': return "INT"; case 'J': return "BININT"; case 'K': return "BININT1";
    case 'L': return "LONG"; case 'M': return "BININT2"; case 'N': return "NONE";
    case 'P': return "PERSID"; case 'Q': return "BINPERSID"; case 'R': return "REDUCE";
    case 'S': return "STRING"; case 'T': return "BINSTRING"; case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE"; case 'X': return "BINUNICODE"; case 'a': return "APPEND";
    case 'b': return "BUILD"; case 'c': return "GLOBAL"; case 'd': return "DICT";
    case '}': return "EMPTY_DICT"; case 'e': return "APPENDS"; case 'g': return "GET";
    case 'h': return "BINGET"; case 'i': return "INST"; case 'j': return "LONG_BINGET";
    case 'l': return "LIST"; case ']': return "EMPTY_LIST"; case 'o': return "OBJ";
    case 'p': return "PUT"; case 'q': return "BINPUT"; case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM"; case 't': return "TUPLE"; case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS"; case 'G': return "BINFLOAT"; case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ"; case 0x82: return "EXT1"; case 0x83: return "EXT2";
    case 0x84: return "EXT4"; case 0x85: return "TUPLE1"; case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3"; case 0x88: return "NEWTRUE"; case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1"; case 0x8b: return "LONG4"; case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8"; case 0x8e: return "BINBYTES8"; case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS"; case 0x91: return "FROZENSET"; case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL"; case 0x94: return "MEMOIZE"; case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER"; case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    default: return "unknown";
  }
}

// ---- the interpreter ----------------------------------------------------------------

// Persistent ids become storages; the caller checks each against the file's data.
class Unpickler {
 public:
  // fileOffset: where data starts in the file; within: the zip entry, if any (for messages).
  Unpickler(const std::string& name, const std::uint8_t* data, std::size_t size,
            std::size_t fileOffset, std::string within = "")
      : name_(name), within_(std::move(within)), data_(data), size_(size), base_(fileOffset) {}

  // Runs to STOP; returns the value and the number of bytes consumed.
  ValuePtr run() {
    while (true) {
      if (pos_ >= size_) fail(name_, "pickle ends without STOP at offset " + off(pos_));
      const std::size_t at = pos_;
      const std::uint8_t op = data_[pos_++];
      switch (op) {
        case 0x80: {  // PROTO
          const std::uint8_t p = u8();
          if (p < 2 || p > 5) fail(name_, "unsupported pickle protocol " + std::to_string(p));
          break;
        }
        case 0x95: (void)bytes(8); break;  // FRAME: a hint only
        case '}': push(make(Value::Kind::Dict)); break;
        case ']': push(make(Value::Kind::List)); break;
        case ')': push(make(Value::Kind::Tuple)); break;
        case '(': pushMark(); break;
        case 'q': memoPut(u8()); break;
        case 'r': memoPut(u32()); break;
        case 0x94: memoPut(memo_.size()); break;  // MEMOIZE
        case 'h': memoGet(u8(), at); break;
        case 'j': memoGet(u32(), at); break;
        case 'J': pushInt(static_cast<std::int32_t>(u32())); break;
        case 'K': pushInt(u8()); break;
        case 'M': pushInt(u16()); break;
        case 0x8a: pushLong1(at); break;
        case 'X': pushStr(u32()); break;
        case 0x8c: pushStr(u8()); break;       // SHORT_BINUNICODE
        case 'T': pushStr(u32()); break;       // BINSTRING (latin-1 bytes, kept as they are)
        case 'U': pushStr(u8()); break;        // SHORT_BINSTRING
        case 'N': push(make(Value::Kind::None)); break;
        case 0x88: case 0x89: {
          ValuePtr v = make(Value::Kind::Bool);
          v->b = op == 0x88;
          push(v);
          break;
        }
        case 'G': {
          const std::uint8_t* p = bytes(8);
          std::uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];  // big-endian
          ValuePtr v = make(Value::Kind::Float);
          std::memcpy(&v->f, &bits, sizeof bits);
          push(v);
          break;
        }
        case 't': push(tupleOf(popToMark(at))); break;
        case 0x85: case 0x86: case 0x87: {
          const std::size_t n = op - 0x84u;
          std::vector<ValuePtr> items(n);
          for (std::size_t k = n; k-- > 0;) items[k] = pop(at);
          push(tupleOf(std::move(items)));
          break;
        }
        case 's': {
          ValuePtr v = pop(at), k = pop(at);
          setItem(top(at), k, v, at);
          break;
        }
        case 'u': {
          std::vector<ValuePtr> kv = popToMark(at);
          if (kv.size() % 2) fail(name_, "SETITEMS with an odd item count at offset " + off(at));
          ValuePtr d = top(at);
          for (std::size_t k = 0; k < kv.size(); k += 2) setItem(d, kv[k], kv[k + 1], at);
          break;
        }
        case 'a': {
          ValuePtr v = pop(at);
          append(top(at), v, at);
          break;
        }
        case 'e': {
          std::vector<ValuePtr> vs = popToMark(at);
          ValuePtr l = top(at);
          for (auto& v : vs) append(l, v, at);
          break;
        }
        case 'c': {
          const std::string module = line(at), qual = line(at);
          push(global(module, qual));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          ValuePtr qual = pop(at), module = pop(at);
          if (qual->kind != Value::Kind::Str || module->kind != Value::Kind::Str)
            fail(name_, "STACK_GLOBAL without strings at offset " + off(at));
          push(global(module->s, qual->s));
          break;
        }
        case 'R': case 0x81: {  // REDUCE, NEWOBJ: only for the whitelisted globals
          ValuePtr args = pop(at), fn = pop(at);
          if (args->kind != Value::Kind::Tuple)
            fail(name_, std::string(opcodeName(op)) + " without an argument tuple at offset " + off(at));
          push(call(fn, args->items, at));
          break;
        }
        case 'b': {  // BUILD: only a dict's attributes (OrderedDict._metadata), dropped
          ValuePtr state = pop(at);
          ValuePtr obj = top(at);
          if (obj->kind != Value::Kind::Dict ||
              (state->kind != Value::Kind::Dict && state->kind != Value::Kind::None))
            fail(name_, std::string("BUILD on a ") + kindName(obj->kind) + " at offset " + off(at));
          break;
        }
        case 'Q': {  // BINPERSID
          ValuePtr pid = pop(at);
          push(persistent(pid, at));
          break;
        }
        case '.': {
          if (stack_.size() != 1 || !marks_.empty())
            fail(name_, "pickle stack not balanced at STOP (offset " + off(at) + ")");
          return stack_.back();
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(name_, std::string("unsupported pickle opcode ") + hex + " ('" + opcodeName(op) +
                          "') at offset " + off(at));
        }
      }
    }
  }

  std::size_t consumed() const { return pos_; }
  // Every storage a persistent id named, by key.
  const std::map<std::string, StorageRef>& storages() const { return storages_; }

 private:
  std::string off(std::size_t p) const {
    return std::to_string(base_ + p) + (within_.empty() ? "" : " of " + within_);
  }

  const std::uint8_t* bytes(std::size_t n) {
    if (n > size_ - pos_) fail(name_, "truncated pickle at offset " + off(pos_));
    const std::uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  std::uint8_t u8() { return *bytes(1); }
  std::uint16_t u16() {
    const std::uint8_t* p = bytes(2);
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
  }
  std::uint32_t u32() {
    const std::uint8_t* p = bytes(4);
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
  }
  std::string line(std::size_t at) {
    const std::size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') {
      if (pos_ - start > 256) fail(name_, "GLOBAL name too long at offset " + off(at));
      ++pos_;
    }
    if (pos_ >= size_) fail(name_, "truncated pickle at offset " + off(at));
    std::string s(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    return s;
  }

  ValuePtr make(Value::Kind k) {
    if (++objects_ > kMaxObjects) fail(name_, "pickle has too many objects");
    auto v = std::make_shared<Value>();
    v->kind = k;
    return v;
  }
  void push(ValuePtr v) {
    if (stack_.size() >= kMaxStack) fail(name_, "pickle stack too deep");
    stack_.push_back(std::move(v));
  }
  void pushMark() {
    if (marks_.size() >= kMaxStack) fail(name_, "too many pickle marks");
    marks_.push_back(stack_.size());
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  ValuePtr pop(std::size_t at) {
    if (stack_.size() <= floor()) fail(name_, "pickle stack underflow at offset " + off(at));
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  ValuePtr& top(std::size_t at) {
    if (stack_.size() <= floor()) fail(name_, "pickle stack underflow at offset " + off(at));
    return stack_.back();
  }
  std::vector<ValuePtr> popToMark(std::size_t at) {
    if (marks_.empty()) fail(name_, "pickle MARK missing at offset " + off(at));
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void pushInt(std::int64_t x) {
    ValuePtr v = make(Value::Kind::Int);
    v->i = x;
    push(v);
  }
  void pushLong1(std::size_t at) {
    const std::uint8_t n = u8();
    if (n > 8) fail(name_, "integer wider than 64 bits at offset " + off(at));
    const std::uint8_t* p = bytes(n);
    std::uint64_t x = 0;
    for (std::size_t k = n; k-- > 0;) x = (x << 8) | p[k];
    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) x |= ~std::uint64_t{0} << (8 * n);  // sign
    pushInt(static_cast<std::int64_t>(x));
  }
  void pushStr(std::uint32_t n) {
    if (n > kMaxString) fail(name_, "pickle string of " + std::to_string(n) + " bytes at offset " + off(pos_));
    const std::uint8_t* p = bytes(n);
    ValuePtr v = make(Value::Kind::Str);
    v->s.assign(reinterpret_cast<const char*>(p), n);
    push(v);
  }
  void memoPut(std::size_t idx) {
    if (stack_.empty()) fail(name_, "memo store on an empty stack at offset " + off(pos_));
    if (memo_.size() >= kMaxMemo && memo_.find(idx) == memo_.end()) fail(name_, "pickle memo too large");
    memo_[idx] = stack_.back();
  }
  void memoGet(std::size_t idx, std::size_t at) {
    const auto it = memo_.find(idx);
    if (it == memo_.end()) fail(name_, "pickle memo key " + std::to_string(idx) + " missing at offset " + off(at));
    push(it->second);
  }

  // A value becomes a child: it is frozen (so no cycle can form later) and its height counts.
  void adopt(Value& parent, const ValuePtr& child, std::size_t at) {
    if (child.get() == &parent) fail(name_, "pickle container holds itself at offset " + off(at));
    child->frozen = true;
    parent.height = std::max(parent.height, child->height + 1);
    if (parent.height > kMaxDepth) fail(name_, "pickle nesting deeper than " + std::to_string(kMaxDepth));
  }
  ValuePtr tupleOf(std::vector<ValuePtr> items) {
    ValuePtr t = make(Value::Kind::Tuple);
    for (auto& v : items) adopt(*t, v, pos_);
    t->items = std::move(items);
    return t;
  }
  void setItem(ValuePtr& d, const ValuePtr& k, const ValuePtr& v, std::size_t at) {
    if (d->kind != Value::Kind::Dict || d->frozen)
      fail(name_, std::string("SETITEM on a ") + kindName(d->kind) + " at offset " + off(at));
    if (k->kind != Value::Kind::Str && k->kind != Value::Kind::Int)
      fail(name_, std::string("dict key of type ") + kindName(k->kind) + " at offset " + off(at));
    adopt(*d, v, at);
    for (auto& [key, val] : d->dict)
      if (key->kind == k->kind && key->s == k->s && key->i == k->i) {
        val = v;
        return;
      }
    d->dict.emplace_back(k, v);
  }
  void append(ValuePtr& l, const ValuePtr& v, std::size_t at) {
    if (l->kind != Value::Kind::List || l->frozen)
      fail(name_, std::string("APPEND on a ") + kindName(l->kind) + " at offset " + off(at));
    adopt(*l, v, at);
    l->items.push_back(v);
  }

  ValuePtr global(const std::string& module, const std::string& qual) {
    ValuePtr g = make(Value::Kind::Global);
    if (module == "collections" && qual == "OrderedDict") {
      g->global = Global::OrderedDict;
    } else if (module == "torch._utils" && qual == "_rebuild_tensor_v2") {
      g->global = Global::RebuildTensorV2;
    } else if (module == "torch._utils" && qual == "_rebuild_parameter") {
      g->global = Global::RebuildParameter;
    } else {
      const StorageTypeInfo* found = nullptr;
      if (module == "torch")
        for (const auto& t : kStorageTypes)
          if (qual == t.name) found = &t;
      if (!found) fail(name_, "refuses global '" + module + "." + qual + "'");
      g->global = Global::Storage;
      g->storageType = found;
    }
    return g;
  }

  std::int64_t intArg(const ValuePtr& v, const char* what, std::size_t at) {
    if (v->kind != Value::Kind::Int) fail(name_, std::string(what) + " is not an integer at offset " + off(at));
    return v->i;
  }
  std::vector<std::int64_t> intTuple(const ValuePtr& v, const char* what, std::size_t at) {
    if (v->kind != Value::Kind::Tuple || v->items.size() > kMaxDims)
      fail(name_, std::string(what) + " is not a tuple of at most 16 integers at offset " + off(at));
    std::vector<std::int64_t> out;
    for (const auto& x : v->items) out.push_back(intArg(x, what, at));
    return out;
  }

  ValuePtr call(const ValuePtr& fn, const std::vector<ValuePtr>& args, std::size_t at) {
    if (fn->kind != Value::Kind::Global)
      fail(name_, std::string("calls a ") + kindName(fn->kind) + " at offset " + off(at));
    switch (fn->global) {
      case Global::OrderedDict:
        if (!args.empty()) fail(name_, "OrderedDict with arguments at offset " + off(at));
        return make(Value::Kind::Dict);
      case Global::RebuildTensorV2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.size() < 6 || args.size() > 7 || args[0]->kind != Value::Kind::Storage)
          fail(name_, "_rebuild_tensor_v2 with unexpected arguments at offset " + off(at));
        ValuePtr t = make(Value::Kind::Tensor);
        t->tensor.storage = args[0]->storage;
        t->tensor.offset = intArg(args[1], "storage offset", at);
        t->tensor.sizes = intTuple(args[2], "tensor size", at);
        t->tensor.strides = intTuple(args[3], "tensor stride", at);
        if (t->tensor.sizes.size() != t->tensor.strides.size())
          fail(name_, "tensor size and stride differ in rank at offset " + off(at));
        return t;
      }
      case Global::RebuildParameter:  // (data, requires_grad, backward_hooks)
        if (args.size() != 3 || args[0]->kind != Value::Kind::Tensor)
          fail(name_, "_rebuild_parameter with unexpected arguments at offset " + off(at));
        return args[0];
      case Global::Storage: break;
    }
    fail(name_, std::string("calls torch.") + fn->storageType->name + " at offset " + off(at));
  }

  // ('storage', torch.XStorage, key, location, numel[, view_metadata=None])
  ValuePtr persistent(const ValuePtr& pid, std::size_t at) {
    const auto& a = pid->items;
    if (pid->kind != Value::Kind::Tuple || a.size() < 5 || a.size() > 6 ||
        a[0]->kind != Value::Kind::Str || a[0]->s != "storage" || a[1]->kind != Value::Kind::Global ||
        a[1]->global != Global::Storage || a[2]->kind != Value::Kind::Str ||
        a[3]->kind != Value::Kind::Str || a[4]->kind != Value::Kind::Int ||
        (a.size() == 6 && a[5]->kind != Value::Kind::None))
      fail(name_, "persistent id is not a plain storage at offset " + off(at));
    if (a[4]->i < 0) fail(name_, "storage with a negative size at offset " + off(at));
    ValuePtr s = make(Value::Kind::Storage);
    s->storage.type = a[1]->storageType;
    s->storage.key = a[2]->s;
    s->storage.numel = a[4]->i;
    const auto it = storages_.find(s->storage.key);
    if (it == storages_.end()) storages_.emplace(s->storage.key, s->storage);
    else if (it->second.numel != s->storage.numel || it->second.type != s->storage.type)
      fail(name_, "storage '" + s->storage.key + "' declared with two sizes or types at offset " + off(at));
    return s;
  }

  std::string name_;
  std::string within_;
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t base_;
  std::size_t pos_ = 0;
  std::size_t objects_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::map<std::size_t, ValuePtr> memo_;
  std::map<std::string, StorageRef> storages_;
};

// ---- from the object to tensors -----------------------------------------------------

bool isTensorDict(const Value& v) {
  if (v.kind != Value::Kind::Dict || v.dict.empty()) return false;
  return std::all_of(v.dict.begin(), v.dict.end(), [](const auto& kv) {
    return kv.first->kind == Value::Kind::Str && kv.second->kind == Value::Kind::Tensor;
  });
}

const Value& findStateDict(const std::string& name, const Value& root) {
  if (isTensorDict(root)) return root;
  if (root.kind != Value::Kind::Dict) fail(name, std::string("holds a ") + kindName(root.kind) + ", not a state_dict");
  const Value* found = nullptr;
  std::size_t count = 0;
  for (const char* preferred : {"state_dict", "model"})
    for (const auto& [k, v] : root.dict)
      if (!found && k->kind == Value::Kind::Str && k->s == preferred && isTensorDict(*v)) found = v.get();
  if (found) return *found;
  for (const auto& [k, v] : root.dict)
    if (isTensorDict(*v)) {
      found = v.get();
      ++count;
    }
  if (count == 1) return *found;
  fail(name, count == 0 ? "holds no dict of tensors (not a state_dict)"
                        : "holds several dicts of tensors and none named 'state_dict' or 'model'");
}

struct StorageData {
  const StorageTypeInfo* type = nullptr;
  std::int64_t numel = 0;
  const std::uint8_t* bytes = nullptr;
};

TensorFile buildTensors(const std::string& name, const Value& dict,
                        const std::map<std::string, StorageData>& storages, std::uint64_t fileSize) {
  TensorFile out;
  std::uint64_t totalElements = 0;
  for (const auto& [k, v] : dict.dict) {
    const std::string& key = k->s;
    const TensorRef& t = v->tensor;
    const auto it = storages.find(t.storage.key);
    if (it == storages.end()) fail(name, "'" + key + "': storage '" + t.storage.key + "' is missing");
    const StorageData& st = it->second;
    if (st.type != t.storage.type)
      fail(name, "'" + key + "': storage '" + t.storage.key + "' is used with two types");
    // (size, stride, offset) against the storage: the last element reached must lie in it.
    std::int64_t numel = 1, last = t.offset;
    bool empty = false;
    if (t.offset < 0 || t.offset > st.numel) fail(name, "'" + key + "': storage offset out of range");
    for (std::size_t d = 0; d < t.sizes.size(); ++d) {
      const std::int64_t n = t.sizes[d], s = t.strides[d];
      if (n < 0 || s < 0) fail(name, "'" + key + "': negative size or stride");
      if (n == 0) empty = true;
      std::int64_t reach = 0;
      if (__builtin_mul_overflow(numel, n, &numel) ||
          (n > 0 && (__builtin_mul_overflow(n - 1, s, &reach) || __builtin_add_overflow(last, reach, &last))))
        fail(name, "'" + key + "': (size, stride) overflow");
    }
    if (!empty && last >= st.numel)
      fail(name, "'" + key + "': (size, stride, offset) reaches past its storage of " + std::to_string(st.numel));
    if (numel > st.numel) fail(name, "'" + key + "': more elements than its storage (overlapping strides)");
    totalElements += static_cast<std::uint64_t>(numel);
    if (totalElements > 2 * fileSize + 1024) fail(name, "tensors share storages beyond any real state_dict");
    torch::Tensor tensor;
    if (numel == 0) {
      tensor = torch::empty(t.sizes, torch::TensorOptions().dtype(st.type->dtype));
    } else {
      // A view of the file's bytes, copied at once (clone owns its memory). The bytes are
      // not necessarily aligned: copy them to an aligned buffer first.
      const std::size_t span = static_cast<std::size_t>(last - t.offset + 1) * st.type->bytes;
      torch::Tensor raw = torch::empty({static_cast<std::int64_t>(span)}, torch::kUInt8);
      std::memcpy(raw.data_ptr<std::uint8_t>(), st.bytes + static_cast<std::size_t>(t.offset) * st.type->bytes, span);
      tensor = torch::from_blob(raw.data_ptr(), t.sizes, t.strides,
                                torch::TensorOptions().dtype(st.type->dtype))
                   .contiguous()
                   .clone();
    }
    if (tensor.is_floating_point()) tensor = tensor.to(torch::kFloat32).contiguous();
    if (out.tensors.count(key)) fail(name, "'" + key + "' appears twice");
    out.tensors.emplace(key, std::move(tensor));
  }
  return out;
}

// ---- legacy ------------------------------------------------------------------------

constexpr std::uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                         0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

TensorFile readLegacy(const std::string& name, const std::vector<std::uint8_t>& bytes) {
  std::size_t pos = sizeof kLegacyMagic;
  auto next = [&]() {
    Unpickler u(name, bytes.data() + pos, bytes.size() - pos, pos);
    ValuePtr v = u.run();
    pos += u.consumed();
    return v;
  };
  const ValuePtr protocol = next();
  if (protocol->kind != Value::Kind::Int || protocol->i != 1001)
    fail(name, "unsupported legacy protocol version");
  const ValuePtr sysInfo = next();
  if (sysInfo->kind != Value::Kind::Dict) fail(name, "legacy sys-info is not a dict");
  for (const auto& [k, v] : sysInfo->dict)
    if (k->kind == Value::Kind::Str && k->s == "little_endian" && !(v->kind == Value::Kind::Bool && v->b))
      fail(name, "saved big-endian; only little-endian files are read");
  Unpickler objects(name, bytes.data() + pos, bytes.size() - pos, pos);
  const ValuePtr root = objects.run();
  pos += objects.consumed();
  const Value& dict = findStateDict(name, *root);
  const std::map<std::string, StorageRef>& refs = objects.storages();
  const ValuePtr keys = next();
  if (keys->kind != Value::Kind::List) fail(name, "legacy storage key list is not a list");
  // Every storage the pickle named, in the order of the key list, each with its size.
  std::map<std::string, StorageData> storages;
  for (const ValuePtr& k : keys->items) {
    if (k->kind != Value::Kind::Str) fail(name, "legacy storage key is not a string");
    if (pos + 8 > bytes.size()) fail(name, "truncated: storage '" + k->s + "' missing");
    std::uint64_t count = 0;
    for (int b = 7; b >= 0; --b) count = (count << 8) | bytes[pos + static_cast<std::size_t>(b)];
    pos += 8;
    const auto it = refs.find(k->s);
    if (it == refs.end()) fail(name, "storage '" + k->s + "' is listed but no tensor uses it");
    const StorageRef& ref = it->second;
    if (count != static_cast<std::uint64_t>(ref.numel))
      fail(name, "storage '" + k->s + "' holds " + std::to_string(count) + " elements, its tensors declare " +
                     std::to_string(ref.numel));
    const std::uint64_t n = count * ref.type->bytes;
    if (count > bytes.size() || n > bytes.size() - pos)
      fail(name, "truncated: storage '" + k->s + "' needs " + std::to_string(n) + " bytes at offset " +
                     std::to_string(pos));
    if (storages.count(k->s)) fail(name, "storage '" + k->s + "' listed twice");
    storages[k->s] = StorageData{ref.type, ref.numel, bytes.data() + pos};
    pos += static_cast<std::size_t>(n);
  }
  if (pos != bytes.size())
    fail(name, std::to_string(bytes.size() - pos) + " bytes after the last storage");
  return buildTensors(name, dict, storages, bytes.size());
}

// ---- zip ---------------------------------------------------------------------------

struct ZipCloser {
  void operator()(zip_t* z) const noexcept { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const noexcept { zip_fclose(f); }
};

std::vector<std::uint8_t> zipEntry(const std::string& name, zip_t* z, zip_int64_t index,
                                   const std::string& entry) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) != 0)
    fail(name, "cannot stat zip entry '" + entry + "'");
  if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD))
    fail(name, "zip entry '" + entry + "' without size");
  if (st.comp_method != ZIP_CM_STORE) fail(name, "zip entry '" + entry + "' is compressed (torch.save stores them)");
  if (st.size > kMaxFileBytes) fail(name, "zip entry '" + entry + "' too large");
  std::unique_ptr<zip_file_t, ZipFileCloser> f(zip_fopen_index(z, static_cast<zip_uint64_t>(index), 0));
  if (!f) fail(name, "cannot open zip entry '" + entry + "'");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(st.size));
  zip_uint64_t done = 0;
  while (done < st.size) {
    const zip_int64_t n = zip_fread(f.get(), out.data() + done, st.size - done);
    if (n <= 0) fail(name, "zip entry '" + entry + "' is truncated or corrupt");
    done += static_cast<zip_uint64_t>(n);
  }
  return out;
}

TensorFile readZip(const std::string& name, const std::vector<std::uint8_t>& bytes) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  if (!src) fail(name, "cannot read as zip");
  std::unique_ptr<zip_t, ZipCloser> z(zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!z) {
    zip_source_free(src);
    const std::string why = zip_error_strerror(&err);
    zip_error_fini(&err);
    fail(name, "not a readable zip archive (" + why + ")");
  }
  zip_error_fini(&err);
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  if (n < 0 || n > 1000000) fail(name, "zip with an absurd entry count");
  // <prefix>/data.pkl names the archive's folder; storages are <prefix>/data/<key>.
  std::string prefix;
  zip_int64_t pkl = -1;
  std::map<std::string, zip_int64_t> entries;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* e = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (!e) fail(name, "zip entry without a name");
    const std::string entry(e);
    entries[entry] = i;
    const std::string tail = "data.pkl";
    if (entry.size() >= tail.size() && entry.compare(entry.size() - tail.size(), tail.size(), tail) == 0) {
      const std::string p = entry.substr(0, entry.size() - tail.size());
      if (p.find('/') != p.size() - 1 && !p.empty()) continue;  // only <folder>/data.pkl
      if (pkl >= 0) fail(name, "zip holds two data.pkl");
      pkl = i;
      prefix = p;
    }
  }
  if (pkl < 0) fail(name, "zip without data.pkl (not a torch.save archive)");
  const auto bo = entries.find(prefix + "byteorder");
  if (bo != entries.end()) {
    const std::vector<std::uint8_t> order = zipEntry(name, z.get(), bo->second, prefix + "byteorder");
    if (std::string(order.begin(), order.end()) != "little") fail(name, "saved big-endian; only little-endian files are read");
  }
  const std::vector<std::uint8_t> pickle = zipEntry(name, z.get(), pkl, prefix + "data.pkl");
  Unpickler u(name, pickle.data(), pickle.size(), 0, prefix + "data.pkl");
  const ValuePtr root = u.run();
  if (u.consumed() != pickle.size()) fail(name, "bytes after the pickle's STOP in data.pkl");
  const Value& dict = findStateDict(name, *root);
  // Only the storages the state_dict's tensors use are read.
  std::map<std::string, StorageRef> refs;
  for (const auto& kv : dict.dict) refs.emplace(kv.second->tensor.storage.key, kv.second->tensor.storage);
  std::map<std::string, std::vector<std::uint8_t>> blobs;
  std::map<std::string, StorageData> storages;
  for (const auto& [key, ref] : refs) {
    const std::string entry = prefix + "data/" + key;
    const auto it = entries.find(entry);
    if (it == entries.end()) fail(name, "storage '" + key + "' missing (no " + entry + ")");
    std::vector<std::uint8_t> blob = zipEntry(name, z.get(), it->second, entry);
    if (static_cast<std::uint64_t>(ref.numel) > blob.size() ||
        blob.size() != static_cast<std::uint64_t>(ref.numel) * ref.type->bytes)
      fail(name, "storage '" + key + "' has " + std::to_string(blob.size()) + " bytes, its tensors declare " +
                     std::to_string(ref.numel) + " elements of " + std::to_string(ref.type->bytes));
    auto& kept = blobs[key] = std::move(blob);
    storages[key] = StorageData{ref.type, ref.numel, kept.data()};
  }
  return buildTensors(name, dict, storages, bytes.size());
}

}  // namespace

TensorFile readTorchStateDictBytes(const std::vector<std::uint8_t>& bytes, const std::string& name) {
  if (bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4)
    return readZip(name, bytes);
  if (bytes.size() >= sizeof kLegacyMagic && std::equal(std::begin(kLegacyMagic), std::end(kLegacyMagic), bytes.begin()))
    return readLegacy(name, bytes);
  fail(name, "not a PyTorch file (neither a zip archive nor the legacy magic number)");
}

TensorFile readTorchStateDict(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, "cannot open");
  const std::streamoff size = in.tellg();
  if (size < 0) fail(path, "cannot read");
  if (static_cast<std::uint64_t>(size) > kMaxFileBytes) fail(path, "larger than 8 GiB");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) fail(path, "cannot read");
  return readTorchStateDictBytes(bytes, path);
}

}  // namespace flowstyle::models
