#pragma once
// Shared bits of the libFuzzer targets: a private scratch folder and writing an input to a
// file there (the parsers under test read files, as they do in the CLI).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace flowstyle::fuzz {

// One folder per process (libFuzzer's -fork/-jobs run several), removed by the OS's tmp
// cleaning; each target writes only a few small files into it.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path p = std::filesystem::temp_directory_path() /
                              ("flowstyle-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return dir;
}

inline std::string writeInput(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path p = scratch() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p.string();
}

}  // namespace flowstyle::fuzz
