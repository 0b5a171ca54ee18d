#pragma once
// A bounded reader for PyTorch's `torch.save` of a state_dict, for outside input (issue 23).
// No code runs: a pickle *subset* interpreter knows exactly the opcodes and globals a
// state_dict of tensors needs (containers, strings, numbers, collections.OrderedDict,
// torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.<Type>Storage through
// persistent ids) and refuses everything else, naming the file, the opcode and its offset
// (`m.pth: unsupported pickle opcode 0x93 ('STACK_GLOBAL') at offset 12`) or the global
// (`m.pth: refuses global 'os.system'`).
//
// Formats: legacy (magic number, protocol and sys-info pickles, the object pickle, the list
// of storage keys, then each storage as an 8-byte little-endian element count + raw data)
// and zip (torch >= 1.6: <archive>/data.pkl and <archive>/data/<key>, stored uncompressed).
// Bounded: nesting depth, memo and stack sizes, string lengths, object counts, every
// storage's size against the file, every tensor's (size, stride, offset) against its storage.
#include <cstdint>
#include <string>
#include <vector>

#include "models/safetensors.hpp"

namespace flowstyle::models {

// The state_dict saved in `path`: the top-level dict when its values are tensors, else the
// one dict of tensors inside it (preferring the keys 'state_dict' then 'model'; other
// entries such as 'epoch' are ignored). Floating tensors become contiguous float32 CPU
// tensors that own their memory; integer ones keep their dtype (int64, int32, uint8, ...).
// Throws std::runtime_error "PATH: fault" on anything else.
TensorFile readTorchStateDict(const std::string& path);

// The same on bytes already in memory; `name` stands for the file in error messages.
TensorFile readTorchStateDictBytes(const std::vector<std::uint8_t>& bytes, const std::string& name);

}  // namespace flowstyle::models
