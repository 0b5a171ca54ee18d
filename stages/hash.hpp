#pragma once
// A small, stable, non-cryptographic content hash (FNV-1a, 64 bit) for identities that
// must agree across machines and runs: a source clip, a settings record. Not for security.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace flowstyle::stages {

class Fnv64 {
 public:
  Fnv64& update(const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      h_ ^= p[i];
      h_ *= 0x100000001b3ULL;
    }
    return *this;
  }
  Fnv64& update(const std::string& s) {
    update(s.data(), s.size());
    const unsigned char sep = 0;  // "ab"+"c" and "a"+"bc" differ
    return update(&sep, 1);
  }
  std::uint64_t value() const { return h_; }
  std::string hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

// Hash of a whole file's bytes; throws naming the file when it cannot be read.
inline std::string hashFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot read the file to identify it");
  Fnv64 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return h.hex();
}

}  // namespace flowstyle::stages
