// libFuzzer target: the ml5 / deeplearn.js checkpoint import (manifest.json: variable
// names, file names, shapes) beside the real variable files of one style (wave), so a
// manifest that gets past the JSON reaches the shape, file-name and size checks.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <stdexcept>

#include "fuzz/fuzz_support.hpp"
#include "models/fast_network.hpp"

#ifndef FLOWSTYLE_SHARED_DIR
#define FLOWSTYLE_SHARED_DIR "../shared"
#endif

namespace {

// The folder the manifest goes into: links to wave's Variable* files.
const std::filesystem::path& checkpoint() {
  static const std::filesystem::path dir = [] {
    namespace fs = std::filesystem;
    const fs::path d = flowstyle::fuzz::scratch() / "wave";
    fs::create_directories(d);
    const fs::path source = fs::path(FLOWSTYLE_SHARED_DIR) / "models/ml5/wave";
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(source, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("Variable", 0) == 0 && !fs::exists(d / name)) fs::create_symlink(entry.path(), d / name, ec);
    }
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::filesystem::path dir = checkpoint();
  flowstyle::fuzz::writeInput("wave/manifest.json", data, size);
  try {
    const flowstyle::models::TensorFile file = flowstyle::models::importMl5Checkpoint(dir.string());
    if (file.tensors.empty()) __builtin_trap();  // success means every variable was read
  } catch (const std::runtime_error&) {
    // a clean, named error
  }
  return 0;
}
