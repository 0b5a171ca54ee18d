// libFuzzer target: the PyTorch state_dict reader (legacy layout: magic, protocol, sys-info
// and object pickles, storage key list, raw storages; zip layout: data.pkl and data/<key>)
// on arbitrary bytes. Any exception other than the reader's own std::runtime_error, and any
// sanitizer report, is a finding. Seeds: tiny files of both layouts (tests/data/make_torch_fixtures.py).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "models/torch_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> bytes(data, data + size);
  try {
    const flowstyle::models::TensorFile file = flowstyle::models::readTorchStateDictBytes(bytes, "input.pth");
    // What was read owns contiguous memory of the promised size.
    for (const auto& [key, t] : file.tensors)
      if (!t.is_contiguous() || t.numel() * static_cast<std::int64_t>(t.element_size()) > static_cast<std::int64_t>(2 * size) + 1024)
        __builtin_trap();
  } catch (const std::runtime_error&) {
    // a clean, named error: what the parser is for
  }
  return 0;
}
