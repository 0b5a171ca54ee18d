// libFuzzer target: the safetensors reader (header length, JSON header, dtype/shape/offset
// table, data section) on arbitrary bytes. Any exception other than the reader's own
// std::runtime_error, and any sanitizer report, is a finding.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "fuzz/fuzz_support.hpp"
#include "models/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = flowstyle::fuzz::writeInput("input.safetensors", data, size);
  try {
    (void)flowstyle::models::readSafetensorsShapes(path);
    (void)flowstyle::models::readSafetensorsMetadata(path);
    const flowstyle::models::TensorFile file = flowstyle::models::readSafetensors(path);
    // What was read must be what the header promised: write it back and read it again.
    const std::string again = (flowstyle::fuzz::scratch() / "again.safetensors").string();
    flowstyle::models::writeSafetensors(again, file);
    const flowstyle::models::TensorFile back = flowstyle::models::readSafetensors(again);
    if (back.tensors.size() != file.tensors.size() || back.metadata != file.metadata) __builtin_trap();
  } catch (const std::runtime_error&) {
    // a clean, named error: what the parser is for
  }
  return 0;
}
