// libFuzzer target: the ONNX reader (protobuf ModelProto -> initializers checked against
// their shapes, nodes, attributes) on arbitrary bytes, through the file path (size cap)
// and from memory. Any exception other than the reader's own std::runtime_error, and any
// sanitizer report, is a finding. Seeds: fuzz/corpus/onnx_reader (made by
// tests/data/make_onnx_fixtures.py).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "fuzz/fuzz_support.hpp"
#include "models/onnx_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = flowstyle::fuzz::writeInput("input.onnx", data, size);
  try {
    const flowstyle::models::OnnxModel m = flowstyle::models::readOnnx(path, 1 << 20);
    // What was read must hold what the shapes promise.
    for (const auto& [name, t] : m.initializers) {
      if (static_cast<std::int64_t>(t.toFloat().size()) != t.numel()) __builtin_trap();
      if (static_cast<std::int64_t>(t.toInt64().size()) != t.numel()) __builtin_trap();
    }
    for (const auto& n : m.nodes)
      for (const auto& [key, a] : n.attributes)
        for (const auto& t : a.tensors)
          if (static_cast<std::int64_t>(t.toFloat().size()) != t.numel()) __builtin_trap();
    (void)flowstyle::models::onnxProducers(m);
    (void)flowstyle::models::onnxConsumers(m);
    const flowstyle::models::OnnxModel again =
        flowstyle::models::parseOnnx(std::string(reinterpret_cast<const char*>(data), size), "input");
    if (again.nodes.size() != m.nodes.size() || again.initializers.size() != m.initializers.size())
      __builtin_trap();
  } catch (const std::runtime_error&) {
    // a clean, named error: what the parser is for
  }
  return 0;
}
