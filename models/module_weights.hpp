#pragma once
// Weights of a LibTorch module by the names of its parameters: the checks the importers
// and loaders of the arbitrary-style networks share. Errors name the file and the key.
#include <string>

#include <torch/torch.h>

#include "models/safetensors.hpp"

namespace flowstyle::models {

// "[16,3,9,9]"
std::string shapeString(torch::IntArrayRef shape);

// Copies file's tensors into `module`'s parameters of the same names: every parameter
// present with its shape, no key left over. `origin` names the file in errors.
void loadParameters(torch::nn::Module& module, const TensorFile& file, const std::string& origin);

// One tensor of an imported state dict against the shape the architecture wants: float32
// and exactly `want`.
void checkWeight(const std::string& path, const std::string& key, const torch::Tensor& t, torch::IntArrayRef want);

// Every parameter of `params` whose name starts with `prefix` is in `file` (its keys
// without the prefix).
void checkNoneMissing(const std::string& path, const std::string& prefix,
                      const torch::OrderedDict<std::string, torch::Tensor>& params, const TensorFile& file);

}  // namespace flowstyle::models
