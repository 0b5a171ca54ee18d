#pragma once
// safetensors: 8-byte little-endian header length, JSON header
// {name: {dtype, shape, data_offsets:[begin,end)}, "__metadata__": {str: str}}, raw data.
#include <map>
#include <string>

#include <torch/torch.h>

namespace flowstyle::models {

struct TensorFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, torch::Tensor> tensors;  // contiguous CPU tensors, own their memory
};

// Reads F32, F16, BF16 (kept in their dtype; call .to(torch::kFloat) as needed) and
// the integer dtypes. Throws std::runtime_error "PATH: fault" for: missing/unreadable
// file, truncated, header length past the end or absurd, bad JSON, unknown dtype,
// offsets out of range / overlapping / not matching shape*dtype size.
TensorFile readSafetensors(const std::string& path);
// Header only (cheap): the metadata map and each tensor's shape, for listings.
std::map<std::string, std::string> readSafetensorsMetadata(const std::string& path);
std::map<std::string, std::vector<std::int64_t>> readSafetensorsShapes(const std::string& path);
// Writes atomically (temporary name in the same folder, then rename). Tensors are
// written in key order, contiguous, little-endian.
void writeSafetensors(const std::string& path, const TensorFile& file);

}  // namespace flowstyle::models
